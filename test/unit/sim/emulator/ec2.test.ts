import {
  CreateTagsCommand,
  DescribeAddressesCommand,
  DescribeInstancesCommand,
  DescribeNetworkInterfacesCommand,
  DescribeRouteTablesCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { AwsEmulator } from '../../../../sim/emulator/server';
import {
  decoysIntact,
  leftovers,
  LoxilbClusterIds,
  seedLoxilbCluster,
} from '../../../../sim/loxilb/footprint';

// Round trips through the real EC2Client: every field teardownd reads must come back populated.

let emulator: AwsEmulator;
let ec2: EC2Client;

beforeEach(async () => {
  emulator = await AwsEmulator.start({ ec2: { detachDelayMs: 50 } });
  ec2 = new EC2Client({
    endpoint: emulator.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIAEMULATOR', secretAccessKey: 'secret' },
    maxAttempts: 1,
  });
});

afterEach(async () => {
  ec2.destroy();
  await emulator.stop();
});

describe('Describe round trips with the loxilb footprint', () => {
  let ids: LoxilbClusterIds;
  beforeEach(() => {
    ids = seedLoxilbCluster(emulator);
  });

  test('DescribeNetworkInterfaces by tag returns the master ENI with attachment, IPs and EIP associations', async () => {
    const out = await ec2.send(
      new DescribeNetworkInterfacesCommand({
        Filters: [
          { Name: 'tag:loxiType', Values: ['loxilb-eni'] },
          { Name: 'attachment.instance-id', Values: [ids.masterInstanceId] },
        ],
      }),
    );
    expect(out.NetworkInterfaces).toHaveLength(1);
    const eni = out.NetworkInterfaces![0];
    const seeded = ids.enis[0];
    expect(eni).toMatchObject({
      NetworkInterfaceId: seeded.eniId,
      Description: 'loxilb-eni',
      Status: 'in-use',
      SubnetId: ids.subnetId,
      VpcId: ids.vpcId,
      AvailabilityZone: 'us-east-1a',
      RequesterManaged: false,
      InterfaceType: 'interface',
      TagSet: [{ Key: 'loxiType', Value: 'loxilb-eni' }],
      Attachment: {
        AttachmentId: seeded.attachmentId,
        InstanceId: ids.masterInstanceId,
        DeviceIndex: 1,
        Status: 'attached',
        DeleteOnTermination: false,
      },
    });
    expect(eni.Attachment!.AttachTime).toBeInstanceOf(Date);
    expect(eni.PrivateIpAddress).toMatch(/^123\.123\.123\.\d+$/);
    const secondaries = eni.PrivateIpAddresses!.filter((p) => !p.Primary);
    expect(secondaries.map((p) => p.PrivateIpAddress)).toEqual(seeded.vips);
    expect(secondaries.map((p) => p.Association?.AllocationId)).toEqual(seeded.allocationIds);
    expect(secondaries.map((p) => p.Association?.AssociationId)).toEqual(seeded.eipAssociationIds);
    expect(secondaries.map((p) => p.Association?.PublicIp)).toEqual(seeded.publicIps);
    expect(eni.PrivateIpAddresses!.filter((p) => p.Primary)).toHaveLength(1);
  });

  test('DescribeAddresses returns association, ENI, private IP, instance and tags', async () => {
    const out = await ec2.send(new DescribeAddressesCommand({ AllocationIds: ids.enis[0].allocationIds }));
    expect(out.Addresses).toHaveLength(4);
    const a = out.Addresses!.find((x) => x.AllocationId === ids.enis[0].allocationIds[0])!;
    expect(a).toMatchObject({
      AllocationId: ids.enis[0].allocationIds[0],
      AssociationId: ids.enis[0].eipAssociationIds[0],
      PublicIp: ids.enis[0].publicIps[0],
      NetworkInterfaceId: ids.enis[0].eniId,
      PrivateIpAddress: ids.enis[0].vips[0],
      InstanceId: ids.masterInstanceId,
      Domain: 'vpc',
      Tags: [],
    });
  });

  test('owned EIPs carry the release tag', async () => {
    ec2.destroy();
    await emulator.stop();
    emulator = await AwsEmulator.start();
    ec2 = new EC2Client({
      endpoint: emulator.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
      maxAttempts: 1,
    });
    const owned = seedLoxilbCluster(emulator, { ownedEips: true, eips: 2 });
    const out = await ec2.send(
      new DescribeAddressesCommand({ Filters: [{ Name: 'tag:teardownd:release', Values: ['true'] }] }),
    );
    expect(out.Addresses!.map((a) => a.AllocationId).sort()).toEqual([...owned.enis[0].allocationIds].sort());
  });

  test('DescribeSubnets returns the loxilb subnet with CIDR, AZ, VPC and tags', async () => {
    const out = await ec2.send(
      new DescribeSubnetsCommand({ Filters: [{ Name: 'tag:loxiType', Values: ['loxilb-subnet'] }] }),
    );
    expect(out.Subnets).toHaveLength(1);
    expect(out.Subnets![0]).toMatchObject({
      SubnetId: ids.subnetId,
      VpcId: ids.vpcId,
      CidrBlock: '123.123.123.0/24',
      AvailabilityZone: 'us-east-1a',
      State: 'available',
      Tags: [{ Key: 'loxiType', Value: 'loxilb-subnet' }],
    });
    // 256 - 5 reserved - the ENI's 1 + 4 addresses
    expect(out.Subnets![0].AvailableIpAddressCount).toBe(246);
  });

  test('DescribeRouteTables returns routes, associations (with main flag and state) and tags', async () => {
    const out = await ec2.send(
      new DescribeRouteTablesCommand({ Filters: [{ Name: 'tag:loxiType', Values: ['loxilb-routetable'] }] }),
    );
    expect(out.RouteTables).toHaveLength(1);
    const t = out.RouteTables![0];
    expect(t).toMatchObject({ RouteTableId: ids.routeTableId, VpcId: ids.vpcId });
    expect(t.Associations).toEqual([
      {
        Main: false,
        RouteTableAssociationId: ids.routeTableAssociationId,
        RouteTableId: ids.routeTableId,
        SubnetId: ids.subnetId,
        AssociationState: { State: 'associated' },
      },
    ]);
    expect(t.Routes).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ DestinationCidrBlock: '0.0.0.0/0', GatewayId: ids.igwId, State: 'active' }),
        expect.objectContaining({ DestinationCidrBlock: '10.0.0.0/16', GatewayId: 'local' }),
        expect.objectContaining({ DestinationCidrBlock: '123.123.123.0/24', GatewayId: 'local' }),
      ]),
    );
    const main = await ec2.send(
      new DescribeRouteTablesCommand({
        Filters: [
          { Name: 'vpc-id', Values: [ids.vpcId] },
          { Name: 'association.main', Values: ['true'] },
        ],
      }),
    );
    expect(main.RouteTables!.map((x) => x.RouteTableId)).toEqual([ids.mainRouteTableId]);
    expect(main.RouteTables![0].Associations![0]).toMatchObject({
      Main: true,
      RouteTableAssociationId: ids.mainRouteTableAssociationId,
    });
    expect(main.RouteTables![0].Associations![0].SubnetId).toBeUndefined();
  });

  test('DescribeVpcs by the cloud CIDR returns primary and secondary CIDR associations with states', async () => {
    const out = await ec2.send(
      new DescribeVpcsCommand({
        Filters: [{ Name: 'cidr-block-association.cidr-block', Values: ['123.123.123.0/24'] }],
      }),
    );
    expect(out.Vpcs).toHaveLength(1);
    expect(out.Vpcs![0]).toMatchObject({ VpcId: ids.vpcId, CidrBlock: '10.0.0.0/16', State: 'available' });
    expect(out.Vpcs![0].CidrBlockAssociationSet).toEqual([
      {
        AssociationId: ids.primaryCidrAssociationId,
        CidrBlock: '10.0.0.0/16',
        CidrBlockState: { State: 'associated' },
      },
      {
        AssociationId: ids.cidrAssociationId,
        CidrBlock: '123.123.123.0/24',
        CidrBlockState: { State: 'associated' },
      },
    ]);
  });

  test('DescribeInstances returns state, placement, VPC/subnet and the ENIs with device indexes', async () => {
    const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [ids.masterInstanceId] }));
    expect(out.Reservations).toHaveLength(1);
    const i = out.Reservations![0].Instances![0];
    expect(i).toMatchObject({
      InstanceId: ids.masterInstanceId,
      State: { Code: 16, Name: 'running' },
      Placement: expect.objectContaining({ AvailabilityZone: 'us-east-1a' }),
      SubnetId: ids.masterSubnetId,
      VpcId: ids.vpcId,
    });
    expect(i.PrivateIpAddress).toMatch(/^10\.0\.1\.\d+$/);
    expect(i.LaunchTime).toBeInstanceOf(Date);
    expect(i.NetworkInterfaces!.map((n) => [n.NetworkInterfaceId, n.Attachment!.DeviceIndex])).toEqual([
      [ids.masterPrimaryEniId, 0],
      [ids.enis[0].eniId, 1],
    ]);
    const state = await ec2.send(
      new DescribeInstancesCommand({ Filters: [{ Name: 'instance-state-name', Values: ['running'] }] }),
    );
    expect(state.Reservations!.flatMap((r) => r.Instances!.map((x) => x.InstanceId)).sort()).toEqual(
      [ids.masterInstanceId, ids.peerInstanceId].sort(),
    );
  });

  test('tag keys and values with XML metacharacters survive CreateTags and Describe', async () => {
    const value = `a&b <c> "d" 'e'`;
    await ec2.send(
      new CreateTagsCommand({ Resources: [ids.subnetId], Tags: [{ Key: 'note&<', Value: value }] }),
    );
    const out = await ec2.send(
      new DescribeSubnetsCommand({ Filters: [{ Name: 'tag:note&<', Values: [value] }] }),
    );
    expect(out.Subnets!.map((s) => s.SubnetId)).toEqual([ids.subnetId]);
    expect(out.Subnets![0].Tags).toContainEqual({ Key: 'note&<', Value: value });
  });

  test('an empty result is an empty list, not undefined', async () => {
    const out = await ec2.send(
      new DescribeNetworkInterfacesCommand({
        Filters: [{ Name: 'tag:loxiType', Values: ['nothing-has-this'] }],
      }),
    );
    expect(out.NetworkInterfaces).toEqual([]);
    expect(out.NextToken).toBeUndefined();
  });
});

describe('seedLoxilbCluster / leftovers / decoysIntact', () => {
  test('builds the full footprint and leftovers() reports every piece of it', () => {
    const ids = seedLoxilbCluster(emulator, { enis: 2, vips: 3, eips: 2, cloudInstance: '7' });
    expect(ids.tags).toEqual({
      subnet: 'loxilb-subnet7',
      routeTable: 'loxilb-routetable7',
      eni: 'loxilb-eni7',
    });
    const kinds = leftovers(emulator, ids).map((l) => l.kind);
    expect(kinds).toEqual([
      'eip-association',
      'eip-association',
      'eip-association',
      'eip-association',
      'eni',
      'eni',
      'route-table-association',
      'route-table',
      'subnet',
      'cidr-association',
    ]);
    expect(ids.enis.map((e) => e.deviceIndex)).toEqual([1, 2]);
    for (const e of ids.enis) {
      const rec = emulator.ec2.networkInterfaceById(e.eniId)!;
      expect(rec.tags).toEqual({ loxiType: 'loxilb-eni7' });
      expect(rec.privateIps).toHaveLength(4);
      expect(rec.attachment).toMatchObject({ instanceId: ids.masterInstanceId, deleteOnTermination: false });
    }
    expect(decoysIntact(emulator, ids)).toEqual([]);
  });

  test('leftovers() is empty once the footprint is torn down in dependency order; decoys survive', () => {
    const ids = seedLoxilbCluster(emulator, { ownedEips: true });
    const e = emulator.ec2;
    for (const eni of ids.enis) {
      eni.eipAssociationIds.forEach((a) => e.disassociateAddress(a));
      eni.allocationIds.forEach((a) => e.releaseAddress(a));
      e.detachNetworkInterface(eni.attachmentId);
    }
    e.settle();
    for (const eni of ids.enis) e.deleteNetworkInterface(eni.eniId);
    e.disassociateRouteTable(ids.routeTableAssociationId);
    e.deleteRouteTable(ids.routeTableId);
    e.deleteSubnet(ids.subnetId);
    e.disassociateVpcCidr(ids.cidrAssociationId);
    expect(leftovers(emulator, ids)).toEqual([]);
    expect(decoysIntact(emulator, ids)).toEqual([]);
  });

  test('decoysIntact() reports a touched decoy', () => {
    const ids = seedLoxilbCluster(emulator, { peerLoxilbEni: true });
    emulator.ec2.detachNetworkInterface(ids.decoys!.peerEniAttachmentId!);
    emulator.ec2.disassociateAddress(ids.decoys!.unrelatedEipAssociationId!);
    const problems = decoysIntact(emulator, ids);
    expect(problems).toHaveLength(2);
    expect(problems.join('\n')).toContain(ids.decoys!.peerEniId!);
    expect(problems.join('\n')).toContain(ids.decoys!.unrelatedAllocationId);
  });

  test('the cloud CIDR widens when enis × (1 + vips) does not fit a /24', () => {
    const ids = seedLoxilbCluster(emulator, { enis: 3, vips: 99, eips: 1, decoys: false, peer: false });
    expect(ids.cloudCidr).toBe('123.123.122.0/23');
    expect(emulator.ec2.subnetById(ids.subnetId)!.cidrBlock).toBe('123.123.122.0/23');
    expect(ids.peerInstanceId).toBeUndefined();
    expect(ids.decoys).toBeUndefined();
  });

  test('snapshot() is JSON-serialisable', () => {
    seedLoxilbCluster(emulator);
    const snap = emulator.ec2.snapshot();
    expect(JSON.parse(JSON.stringify(snap))).toEqual(snap);
    expect(snap.networkInterfaces.length).toBeGreaterThan(0);
  });
});
