import { AwsEmulator } from '../../sim/emulator/server';
import { runCli, TempWorkspace } from '../helpers/daemon-process';
import { decoysIntact, leftovers, LoxilbClusterIds, seedLoxilbCluster } from '../../sim/loxilb/footprint';
import { reportOf } from '../helpers/teardown-cli';

/**
 * DESIGN.md invariant 3: dependencies are checked before a delete, not discovered by failure. A
 * subnet that still holds an ENI teardownd is not deleting is reported blocked with that ENI's id, the
 * CIDR around it and the route table serving it are kept, and everything else still goes.
 */
describe('teardownd teardown: dependency checks', () => {
  let emulator: AwsEmulator;
  let ws: TempWorkspace;
  let ids: LoxilbClusterIds;

  beforeEach(async () => {
    emulator = await AwsEmulator.start({ ec2: { detachDelayMs: 80 } });
    ws = new TempWorkspace();
    ids = seedLoxilbCluster(emulator);
  });
  afterEach(async () => {
    await emulator.stop();
    ws.cleanup();
  });

  const teardown = () =>
    runCli(
      [
        '-c',
        ws.writeConfig({
          cloud: { cidrBlock: ids.cloudCidr },
          executor: { detachPollIntervalMs: 40, retryBaseDelayMs: 20 },
        }),
        'teardown',
        '--instance-id',
        ids.masterInstanceId,
        '--scope',
        'full',
      ],
      emulator.env(),
    );

  it('a subnet holding a foreign ENI is blocked and the CIDR kept, while everything else proceeds', async () => {
    // Someone else's ENI (no loxilb tag) in the loxilb subnet, attached to the peer.
    const ec2 = emulator.ec2;
    const foreign = ec2.createNetworkInterface({ subnetId: ids.subnetId, description: 'someone else' });
    ec2.attachNetworkInterface(foreign.networkInterfaceId, ids.peerInstanceId!, 2);

    const res = await teardown();
    expect(res.code).toBe(1);
    // Everything bound to this instance is gone; the shared resources stay.
    expect(leftovers(emulator, ids).map((l) => l.kind)).toEqual([
      'route-table-association',
      'route-table',
      'subnet',
      'cidr-association',
    ]);
    expect(decoysIntact(emulator, ids)).toEqual([]);
    expect(ec2.networkInterfaceById(foreign.networkInterfaceId)?.attachment?.status).toBe('attached');
    // Found up front: no delete was even tried against the blocked resources.
    const mutated = emulator.calls.mutating('ec2').map((c) => c.action);
    expect(mutated).not.toContain('DeleteSubnet');
    expect(mutated).not.toContain('DisassociateVpcCidrBlock');
    expect(mutated).not.toContain('DeleteRouteTable');

    const report = reportOf(res.stdout);
    expect(report.outcome).toBe('left-behind');
    const subnet = report.actions.find((a: { action: string }) => a.action === 'DeleteSubnet');
    expect(subnet).toMatchObject({ outcome: 'blocked', blockers: [foreign.networkInterfaceId] });
    expect(subnet.message).toContain(`${foreign.networkInterfaceId} (attached to ${ids.peerInstanceId})`);
    expect(
      report.actions.find((a: { action: string }) => a.action === 'DisassociateVpcCidrBlock'),
    ).toMatchObject({
      outcome: 'blocked',
      blockers: [ids.subnetId],
    });
    expect(report.leftBehind.map((l: { manualCommand: string }) => l.manualCommand)).toEqual([
      `aws ec2 delete-route-table --route-table-id ${ids.routeTableId}`,
      `aws ec2 delete-subnet --subnet-id ${ids.subnetId}`,
      `aws ec2 disassociate-vpc-cidr-block --association-id ${ids.cidrAssociationId}`,
    ]);
    expect(res.stdout).toMatch(/left behind: .*subnet/);
  });

  it('a loxilb route table also serving another subnet is kept; the rest of the footprint goes', async () => {
    emulator.ec2.associateRouteTable(ids.routeTableId, ids.masterSubnetId);
    const res = await teardown();
    expect(res.code).toBe(1);
    expect(leftovers(emulator, ids).map((l) => l.kind)).toEqual(['route-table-association', 'route-table']);
    expect(emulator.ec2.routeTableById(ids.routeTableId)!.associations.map((a) => a.subnetId)).toEqual([
      ids.masterSubnetId,
    ]);
    const report = reportOf(res.stdout);
    expect(report.actions.find((a: { action: string }) => a.action === 'DeleteRouteTable')).toMatchObject({
      outcome: 'blocked',
      blockers: [ids.masterSubnetId],
    });
  });
});
