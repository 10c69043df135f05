import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  DescribeAutoScalingInstancesCommand,
} from '@aws-sdk/client-auto-scaling';
import {
  AssignPrivateIpAddressesCommand,
  AssociateVpcCidrBlockCommand,
  CreateNetworkInterfaceCommand,
  CreateRouteTableCommand,
  CreateSubnetCommand,
  DeleteNetworkInterfaceCommand,
  DescribeAddressesCommand,
  DescribeInstancesCommand,
  DescribeNetworkInterfacesCommand,
  DescribeSpotInstanceRequestsCommand,
  DetachNetworkInterfaceCommand,
  DisassociateVpcCidrBlockCommand,
  EC2Client,
  ModifyNetworkInterfaceAttributeCommand,
} from '@aws-sdk/client-ec2';
import { DAEMON_ACCESS_KEY_ID, AwsEmulator } from '../../../../sim/emulator/server';
import { LoxilbClusterIds, seedLoxilbCluster } from '../../../../sim/loxilb/footprint';
import { failure } from '../../../helpers/failure';

// What loxilb's takeover and teardownd's HA decision need from the emulator, through the real clients.

let emulator: AwsEmulator;
let ec2: EC2Client;
let ids: LoxilbClusterIds;

beforeEach(async () => {
  emulator = await AwsEmulator.start({ ec2: { detachDelayMs: 40, cidrDisassociateDelayMs: 40 } });
  ec2 = new EC2Client({
    endpoint: emulator.url,
    region: 'us-east-1',
    credentials: { accessKeyId: DAEMON_ACCESS_KEY_ID, secretAccessKey: 'secret' },
    maxAttempts: 1,
  });
  ids = seedLoxilbCluster(emulator, { spot: true, autoScalingGroup: 'loxilb-asg' });
});

afterEach(async () => {
  ec2.destroy();
  await emulator.stop();
});

const eni = (id: string) => emulator.ec2.networkInterfaceById(id);

test("the default footprint has loxilb's real shape: one tagged ENI, on the master at device 1", () => {
  const tagged = emulator.ec2.networkInterfaces().filter((e) => e.tags.loxiType === 'loxilb-eni');
  expect(
    tagged.map((e) => [e.networkInterfaceId, e.attachment?.instanceId, e.attachment?.deviceIndex]),
  ).toEqual([[ids.enis[0].eniId, ids.masterInstanceId, 1]]);
  expect(ids.decoys!.peerEniId).toBeUndefined();
  expect(ids.peerPrivateIp).toMatch(/^10\.0\.2\./);
  expect(ids.masterPrivateIp).toMatch(/^10\.0\.1\./);
});

describe('DetachNetworkInterface Force', () => {
  test('a forced detach from a shutting-down instance is accepted and still asynchronous', async () => {
    emulator.ec2.setInstanceState(ids.masterInstanceId, 'shutting-down');
    emulator.ec2.configure({ holdDetaches: true });
    const { eniId, attachmentId } = ids.enis[0];
    await ec2.send(new DetachNetworkInterfaceCommand({ AttachmentId: attachmentId, Force: true }));
    expect(eni(eniId)).toMatchObject({ status: 'detaching', attachment: { forcedDetach: true } });
    const inUse = await failure(ec2.send(new DeleteNetworkInterfaceCommand({ NetworkInterfaceId: eniId })));
    expect(inUse.name).toBe('InvalidParameterValue');
    expect(emulator.ec2.releaseHeldDetaches()).toBe(1);
    expect(eni(eniId)).toMatchObject({ status: 'available' });
    expect(eni(eniId)!.attachment).toBeUndefined();
    await ec2.send(new DeleteNetworkInterfaceCommand({ NetworkInterfaceId: eniId }));
    expect(eni(eniId)).toBeUndefined();
  });

  test('a detach of an attachment that is gone is NotFound, forced or not', async () => {
    emulator.ec2.terminateInstance(ids.masterInstanceId);
    const e = await failure(
      ec2.send(new DetachNetworkInterfaceCommand({ AttachmentId: ids.enis[0].attachmentId, Force: true })),
    );
    expect(e.name).toBe('InvalidAttachmentID.NotFound');
  });
});

test('instance termination detaches non-primary ENIs with DeleteOnTermination false and deletes those with true', () => {
  const extra = emulator.ec2.createNetworkInterface({ subnetId: ids.masterSubnetId });
  emulator.ec2.attachNetworkInterface(extra.networkInterfaceId, ids.masterInstanceId, 2, {
    deleteOnTermination: true,
  });
  emulator.ec2.terminateInstance(ids.masterInstanceId);
  expect(eni(ids.enis[0].eniId)).toMatchObject({ status: 'available' });
  expect(eni(ids.enis[0].eniId)!.attachment).toBeUndefined();
  // The EIPs stay on the surviving (detached) loxilb ENI; the primary and the DeleteOnTermination ENI are gone.
  expect(emulator.ec2.addressById(ids.enis[0].allocationIds[0])!.association?.networkInterfaceId).toBe(
    ids.enis[0].eniId,
  );
  expect(eni(extra.networkInterfaceId)).toBeUndefined();
  expect(eni(ids.masterPrimaryEniId)).toBeUndefined();
});

test('ModifyNetworkInterfaceAttribute turns the source/dest check off, one attribute per call', async () => {
  const { eniId } = ids.enis[0];
  await ec2.send(
    new ModifyNetworkInterfaceAttributeCommand({
      NetworkInterfaceId: eniId,
      SourceDestCheck: { Value: false },
    }),
  );
  const out = await ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [eniId] }));
  expect(out.NetworkInterfaces![0].SourceDestCheck).toBe(false);
  const both = await failure(
    ec2.send(
      new ModifyNetworkInterfaceAttributeCommand({
        NetworkInterfaceId: eniId,
        SourceDestCheck: { Value: true },
        Description: { Value: 'x' },
      }),
    ),
  );
  expect(both.name).toBe('InvalidParameterCombination');
  const gone = await failure(
    ec2.send(
      new ModifyNetworkInterfaceAttributeCommand({
        NetworkInterfaceId: 'eni-0000000000000dead',
        SourceDestCheck: { Value: false },
      }),
    ),
  );
  expect(gone.name).toBe('InvalidNetworkInterfaceID.NotFound');
});

test('AssignPrivateIpAddresses with AllowReassignment moves a VIP and its EIP from another ENI', async () => {
  const old = ids.enis[0];
  const fresh = emulator.ec2.createNetworkInterface({ subnetId: ids.subnetId, description: 'loxilb-eni' });
  const vip = old.vips[0];
  const refused = await failure(
    ec2.send(
      new AssignPrivateIpAddressesCommand({
        NetworkInterfaceId: fresh.networkInterfaceId,
        PrivateIpAddresses: [vip],
      }),
    ),
  );
  expect(refused.name).toBe('InvalidIPAddress.InUse');
  await ec2.send(
    new AssignPrivateIpAddressesCommand({
      NetworkInterfaceId: fresh.networkInterfaceId,
      PrivateIpAddresses: [vip],
      AllowReassignment: true,
    }),
  );
  expect(eni(old.eniId)!.privateIps.map((p) => p.privateIpAddress)).not.toContain(vip);
  expect(eni(fresh.networkInterfaceId)!.privateIps.map((p) => p.privateIpAddress)).toContain(vip);
  const a = await ec2.send(new DescribeAddressesCommand({ AllocationIds: [old.allocationIds[0]] }));
  expect(a.Addresses![0]).toMatchObject({
    NetworkInterfaceId: fresh.networkInterfaceId,
    PrivateIpAddress: vip,
  });
  // A primary address never moves.
  const primary = eni(old.eniId)!.privateIps[0].privateIpAddress;
  const e = await failure(
    ec2.send(
      new AssignPrivateIpAddressesCommand({
        NetworkInterfaceId: fresh.networkInterfaceId,
        PrivateIpAddresses: [primary],
        AllowReassignment: true,
      }),
    ),
  );
  expect(e.name).toBe('InvalidIPAddress.InUse');
});

test('AssociateVpcCidrBlock fails while the same CIDR is still disassociating, and works once it is gone', async () => {
  const e0 = emulator.ec2;
  e0.configure({ cidrDisassociateDelayMs: 60_000 }); // gone only at settle(): no race with the next call
  e0.detachNetworkInterface(ids.enis[0].attachmentId);
  e0.settle();
  e0.deleteNetworkInterface(ids.enis[0].eniId);
  e0.deleteSubnet(ids.subnetId);
  await ec2.send(new DisassociateVpcCidrBlockCommand({ AssociationId: ids.cidrAssociationId }));
  const e = await failure(
    ec2.send(new AssociateVpcCidrBlockCommand({ VpcId: ids.vpcId, CidrBlock: ids.cloudCidr })),
  );
  expect(e.name).toBe('InvalidVpc.Range');
  emulator.ec2.settle();
  const ok = await ec2.send(new AssociateVpcCidrBlockCommand({ VpcId: ids.vpcId, CidrBlock: ids.cloudCidr }));
  expect(ok.CidrBlockAssociation).toMatchObject({
    CidrBlock: ids.cloudCidr,
    CidrBlockState: { State: 'associating' },
  });
});

test('TagSpecifications and security groups on create, as loxilb sends them', async () => {
  emulator.ec2.deleteNetworkInterface(ids.decoys!.untaggedEniId);
  const spec = (type: 'subnet' | 'route-table' | 'network-interface', value: string) => [
    { ResourceType: type, Tags: [{ Key: 'loxiType', Value: value }] },
  ];
  const other = emulator.ec2.createVpc({ cidrBlock: '172.31.0.0/16' });
  const subnet = await ec2.send(
    new CreateSubnetCommand({
      VpcId: other.vpcId,
      CidrBlock: '172.31.5.0/24',
      AvailabilityZone: 'us-east-1b',
      TagSpecifications: spec('subnet', 'loxilb-subnet'),
    }),
  );
  expect(subnet.Subnet).toMatchObject({
    AvailabilityZone: 'us-east-1b',
    Tags: [{ Key: 'loxiType', Value: 'loxilb-subnet' }],
  });
  const table = await ec2.send(
    new CreateRouteTableCommand({
      VpcId: other.vpcId,
      TagSpecifications: spec('route-table', 'loxilb-routetable'),
    }),
  );
  expect(table.RouteTable!.Tags).toEqual([{ Key: 'loxiType', Value: 'loxilb-routetable' }]);
  const created = await ec2.send(
    new CreateNetworkInterfaceCommand({
      SubnetId: subnet.Subnet!.SubnetId,
      Description: 'loxilb-eni',
      Groups: [ids.securityGroupId],
      TagSpecifications: spec('network-interface', 'loxilb-eni'),
    }),
  );
  expect(created.NetworkInterface).toMatchObject({
    Description: 'loxilb-eni',
    Groups: [{ GroupId: ids.securityGroupId }],
    TagSet: [{ Key: 'loxiType', Value: 'loxilb-eni' }],
  });
  const byGroup = await ec2.send(
    new DescribeNetworkInterfacesCommand({ Filters: [{ Name: 'group-id', Values: [ids.securityGroupId] }] }),
  );
  expect(byGroup.NetworkInterfaces!.map((e) => e.NetworkInterfaceId).sort()).toEqual(
    [ids.masterPrimaryEniId, ids.peerPrimaryEniId, created.NetworkInterface!.NetworkInterfaceId].sort(),
  );
});

test('DescribeInstances maps a BFD peer IP to its instance (private-ip-address, instance-state-name)', async () => {
  const byIp = await ec2.send(
    new DescribeInstancesCommand({ Filters: [{ Name: 'private-ip-address', Values: [ids.peerPrivateIp!] }] }),
  );
  const found = byIp.Reservations!.flatMap((r) => r.Instances!);
  expect(found.map((i) => [i.InstanceId, i.State!.Name])).toEqual([[ids.peerInstanceId, 'running']]);
  emulator.ec2.setInstanceState(ids.peerInstanceId!, 'shutting-down');
  const running = await ec2.send(
    new DescribeInstancesCommand({
      Filters: [
        { Name: 'private-ip-address', Values: [ids.peerPrivateIp!, ids.masterPrivateIp] },
        { Name: 'instance-state-name', Values: ['running', 'pending'] },
      ],
    }),
  );
  expect(running.Reservations!.flatMap((r) => r.Instances!).map((i) => i.InstanceId)).toEqual([
    ids.masterInstanceId,
  ]);
});

describe('DescribeSpotInstanceRequests', () => {
  const requests = async (filters: { Name: string; Values: string[] }[]) =>
    (await ec2.send(new DescribeSpotInstanceRequestsCommand({ Filters: filters }))).SpotInstanceRequests!;

  test('a spot interruption: active + marked-for-termination while running, closed after termination', async () => {
    const mine = await requests([{ Name: 'instance-id', Values: [ids.peerInstanceId!] }]);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({
      InstanceId: ids.peerInstanceId,
      State: 'active',
      Status: { Code: 'fulfilled' },
      Type: 'one-time',
      LaunchedAvailabilityZone: 'us-east-1b',
    });
    expect(mine[0].SpotInstanceRequestId).toMatch(/^sir-[0-9a-f]{8}$/);
    emulator.ec2.markSpotForTermination(ids.peerInstanceId!);
    const marked = await requests([
      { Name: 'status-code', Values: ['marked-for-termination'] },
      { Name: 'state', Values: ['active'] },
    ]);
    expect(marked.map((r) => r.InstanceId)).toEqual([ids.peerInstanceId]);
    expect(marked[0].Status!.UpdateTime).toBeInstanceOf(Date);
    expect(emulator.ec2.instanceById(ids.peerInstanceId!)!.state).toBe('running');
    emulator.ec2.terminateInstance(ids.peerInstanceId!);
    emulator.ec2.terminateInstance(ids.masterInstanceId);
    const closed = await requests([{ Name: 'state', Values: ['closed'] }]);
    expect(closed.map((r) => [r.InstanceId, r.Status!.Code]).sort()).toEqual(
      [
        [ids.peerInstanceId, 'instance-terminated-no-capacity'],
        [ids.masterInstanceId, 'instance-terminated-by-user'],
      ].sort(),
    );
  });

  test('an unknown request id is NotFound; an unknown filter is refused', async () => {
    const e = await failure(
      ec2.send(new DescribeSpotInstanceRequestsCommand({ SpotInstanceRequestIds: ['sir-00000000'] })),
    );
    expect(e.name).toBe('InvalidSpotInstanceRequestID.NotFound');
    const f = await failure(requests([{ Name: 'bogus', Values: ['x'] }]));
    expect(f.name).toBe('InvalidParameterValue');
  });
});

test('Auto Scaling shows every member with its lifecycle state, set by the test', async () => {
  const asg = new AutoScalingClient({
    endpoint: emulator.url,
    region: 'us-east-1',
    credentials: { accessKeyId: DAEMON_ACCESS_KEY_ID, secretAccessKey: 'secret' },
    maxAttempts: 1,
  });
  try {
    for (const state of ['Standby', 'Warmed:Running', 'Terminating:Wait', 'Pending:Wait'] as const) {
      emulator.autoscaling.setLifecycleState(ids.peerInstanceId!, state);
      const one = await asg.send(
        new DescribeAutoScalingInstancesCommand({ InstanceIds: [ids.peerInstanceId!] }),
      );
      expect(one.AutoScalingInstances!.map((i) => i.LifecycleState)).toEqual([state]);
      const group = await asg.send(
        new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: ['loxilb-asg'] }),
      );
      expect(
        group.AutoScalingGroups![0].Instances!.map((i) => [i.InstanceId, i.LifecycleState]).sort(),
      ).toEqual(
        [
          [ids.masterInstanceId, 'InService'],
          [ids.peerInstanceId, state],
        ].sort(),
      );
    }
  } finally {
    asg.destroy();
  }
});

test('the call log names the caller by access key id', async () => {
  await ec2.send(new DescribeInstancesCommand({}));
  const other = new EC2Client({
    endpoint: emulator.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIAOTHERACTOR', secretAccessKey: 'secret' },
    maxAttempts: 1,
  });
  await other.send(new DescribeSpotInstanceRequestsCommand({}));
  other.destroy();
  expect(emulator.calls.by(DAEMON_ACCESS_KEY_ID).map((c) => c.action)).toEqual(['DescribeInstances']);
  expect(emulator.calls.by('AKIAOTHERACTOR').map((c) => c.action)).toEqual(['DescribeSpotInstanceRequests']);
});
