import {
  DeleteSubnetCommand,
  DescribeNetworkInterfacesCommand,
  DescribeSubnetsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { AwsEmulator } from '../../../../sim/emulator/server';
import { EmulatorError } from '../../../../sim/emulator/types';
import { LoxilbClusterIds, seedLoxilbCluster } from '../../../../sim/loxilb/footprint';
import { failure } from '../../../helpers/failure';
import { emulatorEc2Client } from '../../../helpers/emulator-clients';

/** The `before` fault: a hook run just before a call is answered, acting as a second actor or deciding the answer. */
describe('emulator faults: before', () => {
  let emulator: AwsEmulator;
  let ec2: EC2Client;
  let ids: LoxilbClusterIds;

  beforeEach(async () => {
    emulator = await AwsEmulator.start();
    ec2 = emulatorEc2Client(emulator);
    ids = seedLoxilbCluster(emulator);
  });
  afterEach(async () => {
    ec2.destroy();
    await emulator.stop();
  });

  it('runs before the answer, sees the call, and what it changes is what the call sees', async () => {
    const seen: string[] = [];
    emulator.faults.add({
      service: 'ec2',
      action: 'DescribeNetworkInterfaces',
      kind: 'before',
      count: 1,
      run: (call) => {
        seen.push(`${call.action} ${String(call.params['NetworkInterfaceId.1'])}`);
        emulator.ec2.createTags([ids.enis[0].eniId], { marked: 'yes' });
      },
    });
    const out = await ec2.send(
      new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [ids.enis[0].eniId] }),
    );
    expect(seen).toEqual([`DescribeNetworkInterfaces ${ids.enis[0].eniId}`]);
    expect(out.NetworkInterfaces![0].TagSet).toContainEqual({ Key: 'marked', Value: 'yes' });
    // count: 1 — the next call runs no hook.
    await ec2.send(new DescribeNetworkInterfacesCommand({}));
    expect(seen).toHaveLength(1);
    expect(emulator.calls.all().filter((c) => c.injected)).toEqual([]);
  });

  it('an EmulatorError it throws is the answer, in the service format, and the state is not changed', async () => {
    emulator.faults.add({
      service: 'ec2',
      action: 'DeleteSubnet',
      kind: 'before',
      run: () => {
        throw new EmulatorError('DependencyViolation', 'still in use', 400);
      },
    });
    // A subnet with nothing in it: without the hook the delete would succeed.
    const empty = emulator.ec2.createSubnet({ vpcId: ids.vpcId, cidrBlock: '10.0.9.0/24' });
    const err = await failure(ec2.send(new DeleteSubnetCommand({ SubnetId: empty.subnetId })));
    expect(err).toEqual({ name: 'DependencyViolation', message: 'still in use' });
    expect(emulator.ec2.subnetById(empty.subnetId)).toBeDefined();
    expect(emulator.calls.of('ec2', 'DeleteSubnet')).toEqual([
      expect.objectContaining({ status: 400, errorCode: 'DependencyViolation', injected: 'before' }),
    ]);
    // Injected answers are left out of the mutating calls unless asked for.
    expect(emulator.calls.mutating('ec2')).toEqual([]);
    expect(emulator.calls.mutating('ec2', true)).toHaveLength(1);
  });

  it('any other error it throws is an InternalError (500) naming the hook, not a crashed server', async () => {
    emulator.faults.add({
      service: 'ec2',
      action: 'DescribeSubnets',
      kind: 'before',
      count: 1,
      run: () => {
        throw new Error('boom');
      },
    });
    const err = await failure(ec2.send(new DescribeSubnetsCommand({})));
    expect(err).toEqual({ name: 'InternalError', message: 'emulator hook: boom' });
    expect((await ec2.send(new DescribeSubnetsCommand({}))).Subnets!.length).toBeGreaterThan(0);
  });
});
