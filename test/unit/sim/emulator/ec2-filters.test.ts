import {
  DescribeAddressesCommand,
  DescribeInstancesCommand,
  DescribeNetworkInterfacesCommand,
  DescribeRouteTablesCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  EC2Client,
  paginateDescribeInstances,
  paginateDescribeNetworkInterfaces,
  paginateDescribeRouteTables,
  paginateDescribeSubnets,
  paginateDescribeVpcs,
} from '@aws-sdk/client-ec2';
import { AwsEmulator } from '../../../../sim/emulator/server';
import { LoxilbClusterIds, seedLoxilbCluster } from '../../../../sim/loxilb/footprint';
import { failure } from '../../../helpers/failure';

// Filter semantics (OR within a filter, AND across, tag:K / tag-key, wildcards), id lists and
// pagination, through the real EC2Client.

let emulator: AwsEmulator;
let ec2: EC2Client;
let ids: LoxilbClusterIds;

beforeEach(async () => {
  emulator = await AwsEmulator.start();
  ec2 = new EC2Client({
    endpoint: emulator.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIAEMULATOR', secretAccessKey: 'secret' },
    maxAttempts: 1,
  });
  // With the decoy loxilb ENI on the peer: a second tagged ENI the filters must tell apart.
  ids = seedLoxilbCluster(emulator, { peerLoxilbEni: true });
});

afterEach(async () => {
  ec2.destroy();
  await emulator.stop();
});

async function eniIds(filters: { Name: string; Values: string[] }[]): Promise<string[]> {
  const out = await ec2.send(new DescribeNetworkInterfacesCommand({ Filters: filters }));
  return out.NetworkInterfaces!.map((e) => e.NetworkInterfaceId!).sort();
}

describe('filters', () => {
  test('values of one filter are OR-ed', async () => {
    const both = await ec2.send(
      new DescribeSubnetsCommand({
        Filters: [{ Name: 'tag:loxiType', Values: ['loxilb-subnet', 'loxilb-subnetother'] }],
      }),
    );
    expect(both.Subnets!.map((s) => s.SubnetId).sort()).toEqual(
      [ids.subnetId, ids.decoys!.otherSubnetId].sort(),
    );
  });

  test('filters are AND-ed: the tagged ENI on the peer is excluded by attachment.instance-id', async () => {
    expect(await eniIds([{ Name: 'tag:loxiType', Values: ['loxilb-eni'] }])).toEqual(
      [ids.enis[0].eniId, ids.decoys!.peerEniId!].sort(),
    );
    expect(
      await eniIds([
        { Name: 'tag:loxiType', Values: ['loxilb-eni'] },
        { Name: 'attachment.instance-id', Values: [ids.masterInstanceId] },
      ]),
    ).toEqual([ids.enis[0].eniId]);
    expect(
      await eniIds([
        { Name: 'tag:loxiType', Values: ['loxilb-eni'] },
        { Name: 'attachment.device-index', Values: ['0'] },
      ]),
    ).toEqual([]);
  });

  test('tag values are exact (no prefix match) unless a wildcard is used', async () => {
    const exact = await ec2.send(
      new DescribeRouteTablesCommand({ Filters: [{ Name: 'tag:loxiType', Values: ['loxilb-routetable'] }] }),
    );
    expect(exact.RouteTables!.map((t) => t.RouteTableId)).toEqual([ids.routeTableId]);
    const star = await ec2.send(
      new DescribeRouteTablesCommand({ Filters: [{ Name: 'tag:loxiType', Values: ['loxilb-routetable*'] }] }),
    );
    expect(star.RouteTables!.map((t) => t.RouteTableId).sort()).toEqual(
      [ids.routeTableId, ids.decoys!.otherRouteTableId].sort(),
    );
    const question = await ec2.send(
      new DescribeSubnetsCommand({ Filters: [{ Name: 'tag:loxiType', Values: ['loxilb-subne?'] }] }),
    );
    expect(question.Subnets!.map((s) => s.SubnetId)).toEqual([ids.subnetId]);
    const escaped = await ec2.send(
      new DescribeSubnetsCommand({ Filters: [{ Name: 'tag:loxiType', Values: ['loxilb-subnet\\*'] }] }),
    );
    expect(escaped.Subnets).toEqual([]);
  });

  test('tag-key matches any value; the untagged decoy ENI has no tag-key', async () => {
    const tagged = await eniIds([{ Name: 'tag-key', Values: ['loxiType'] }]);
    expect(tagged).toContain(ids.enis[0].eniId);
    expect(tagged).not.toContain(ids.decoys!.untaggedEniId);
    // Description alone would wrongly include the untagged decoy.
    expect(await eniIds([{ Name: 'description', Values: ['loxilb-eni'] }])).toContain(
      ids.decoys!.untaggedEniId,
    );
  });

  test('status, subnet-id, vpc-id and association filters on ENIs', async () => {
    expect(await eniIds([{ Name: 'status', Values: ['available'] }])).toEqual([ids.decoys!.untaggedEniId]);
    expect(await eniIds([{ Name: 'subnet-id', Values: [ids.subnetId] }])).toEqual([ids.enis[0].eniId]);
    expect(
      await eniIds([{ Name: 'association.allocation-id', Values: [ids.enis[0].allocationIds[2]] }]),
    ).toEqual([ids.enis[0].eniId]);
    expect((await eniIds([{ Name: 'vpc-id', Values: [ids.vpcId] }])).length).toBe(5);
  });

  test('DescribeAddresses filters: network-interface-id, domain, tag-key', async () => {
    const onEni = await ec2.send(
      new DescribeAddressesCommand({
        Filters: [{ Name: 'network-interface-id', Values: [ids.enis[0].eniId] }],
      }),
    );
    expect(onEni.Addresses!.map((a) => a.AllocationId).sort()).toEqual([...ids.enis[0].allocationIds].sort());
    const all = await ec2.send(
      new DescribeAddressesCommand({ Filters: [{ Name: 'domain', Values: ['vpc'] }] }),
    );
    expect(all.Addresses).toHaveLength(5);
    const named = await ec2.send(
      new DescribeAddressesCommand({ Filters: [{ Name: 'tag-key', Values: ['Name'] }] }),
    );
    expect(named.Addresses!.map((a) => a.AllocationId)).toEqual([ids.decoys!.unrelatedAllocationId]);
  });

  test('route table association filters and VPC CIDR association filters', async () => {
    const bySubnet = await ec2.send(
      new DescribeRouteTablesCommand({
        Filters: [{ Name: 'association.subnet-id', Values: [ids.subnetId] }],
      }),
    );
    expect(bySubnet.RouteTables!.map((t) => t.RouteTableId)).toEqual([ids.routeTableId]);
    const byId = await ec2.send(
      new DescribeRouteTablesCommand({
        Filters: [{ Name: 'route-table-id', Values: [ids.decoys!.untaggedRouteTableId] }],
      }),
    );
    expect(byId.RouteTables![0].Associations).toEqual([]);
    const none = await ec2.send(
      new DescribeVpcsCommand({
        Filters: [{ Name: 'cidr-block-association.cidr-block', Values: ['99.99.99.0/24'] }],
      }),
    );
    expect(none.Vpcs).toEqual([]);
  });

  test('an unknown filter name is InvalidParameterValue', async () => {
    expect(
      await failure(
        ec2.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'no-such-filter', Values: ['x'] }] })),
      ),
    ).toEqual({ name: 'InvalidParameterValue', message: "The filter 'no-such-filter' is invalid" });
  });
});

describe('id lists', () => {
  test('known ids select; an unknown id fails the whole call with the NotFound code for its kind', async () => {
    const out = await ec2.send(new DescribeSubnetsCommand({ SubnetIds: [ids.subnetId, ids.masterSubnetId] }));
    expect(out.Subnets).toHaveLength(2);
    const cases: [Promise<unknown>, string, string][] = [
      [
        ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: ['eni-0aaaaaaaaaaaaaaaa'] })),
        'InvalidNetworkInterfaceID.NotFound',
        "The networkInterface ID 'eni-0aaaaaaaaaaaaaaaa' does not exist",
      ],
      [
        ec2.send(new DescribeAddressesCommand({ AllocationIds: ['eipalloc-0aaaaaaaaaaaaaaaa'] })),
        'InvalidAllocationID.NotFound',
        "The allocation ID 'eipalloc-0aaaaaaaaaaaaaaaa' does not exist",
      ],
      [
        ec2.send(new DescribeSubnetsCommand({ SubnetIds: [ids.subnetId, 'subnet-0aaaaaaaaaaaaaaaa'] })),
        'InvalidSubnetID.NotFound',
        "The subnet ID 'subnet-0aaaaaaaaaaaaaaaa' does not exist",
      ],
      [
        ec2.send(new DescribeRouteTablesCommand({ RouteTableIds: ['rtb-0aaaaaaaaaaaaaaaa'] })),
        'InvalidRouteTableID.NotFound',
        "The routeTable ID 'rtb-0aaaaaaaaaaaaaaaa' does not exist",
      ],
      [
        ec2.send(new DescribeVpcsCommand({ VpcIds: ['vpc-0aaaaaaaaaaaaaaaa'] })),
        'InvalidVpcID.NotFound',
        "The vpc ID 'vpc-0aaaaaaaaaaaaaaaa' does not exist",
      ],
      [
        ec2.send(
          new DescribeInstancesCommand({ InstanceIds: ['i-0aaaaaaaaaaaaaaaa', 'i-0bbbbbbbbbbbbbbbb'] }),
        ),
        'InvalidInstanceID.NotFound',
        "The instance IDs 'i-0aaaaaaaaaaaaaaaa, i-0bbbbbbbbbbbbbbbb' do not exist",
      ],
      [
        ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: ['nope'] })),
        'InvalidNetworkInterfaceId.Malformed',
        'Invalid id: "nope" (expecting "eni-...")',
      ],
    ];
    for (const [p, name, message] of cases) expect(await failure(p)).toEqual({ name, message });
  });
});

describe('pagination', () => {
  beforeEach(() => {
    // 12 more ENIs, subnets, route tables, VPCs and instances than the footprint has.
    for (let n = 0; n < 12; n++) {
      const vpc = emulator.ec2.createVpc({ cidrBlock: `10.${100 + n}.0.0/16`, tags: { batch: 'p' } });
      const subnet = emulator.ec2.createSubnet({
        vpcId: vpc.vpcId,
        cidrBlock: `10.${100 + n}.1.0/24`,
        tags: { batch: 'p' },
      });
      emulator.ec2.createRouteTable({ vpcId: vpc.vpcId, tags: { batch: 'p' } });
      emulator.ec2.createNetworkInterface({ subnetId: subnet.subnetId, tags: { batch: 'p' } });
      emulator.ec2.runInstance({ subnetId: subnet.subnetId, tags: { batch: 'p' } });
    }
  });

  const batch = [{ Name: 'tag:batch', Values: ['p'] }];

  async function collect<T>(
    pages: AsyncIterable<T>,
    pick: (page: T) => string[],
  ): Promise<{ ids: string[]; pages: number }> {
    const out: string[] = [];
    let n = 0;
    for await (const page of pages) {
      out.push(...pick(page));
      n++;
    }
    return { ids: out, pages: n };
  }

  test('DescribeNetworkInterfaces pages of MaxResults with NextToken add up to the unpaginated answer', async () => {
    const all = (await ec2.send(new DescribeNetworkInterfacesCommand({}))).NetworkInterfaces!.map(
      (e) => e.NetworkInterfaceId!,
    );
    const paged = await collect(paginateDescribeNetworkInterfaces({ client: ec2, pageSize: 5 }, {}), (p) =>
      p.NetworkInterfaces!.map((e) => e.NetworkInterfaceId!),
    );
    expect(paged.ids).toEqual(all);
    expect(paged.pages).toBe(Math.ceil(all.length / 5));
  });

  test('filtered pagination on subnets, route tables, VPCs and instances', async () => {
    const subnets = await collect(
      paginateDescribeSubnets({ client: ec2, pageSize: 5 }, { Filters: batch }),
      (p) => p.Subnets!.map((s) => s.SubnetId!),
    );
    expect(subnets).toMatchObject({ pages: 3 });
    expect(new Set(subnets.ids).size).toBe(12);
    const tables = await collect(
      paginateDescribeRouteTables({ client: ec2, pageSize: 5 }, { Filters: batch }),
      (p) => p.RouteTables!.map((t) => t.RouteTableId!),
    );
    expect(new Set(tables.ids).size).toBe(12);
    const vpcs = await collect(paginateDescribeVpcs({ client: ec2, pageSize: 5 }, { Filters: batch }), (p) =>
      p.Vpcs!.map((v) => v.VpcId!),
    );
    expect(new Set(vpcs.ids).size).toBe(12);
    const instances = await collect(
      paginateDescribeInstances({ client: ec2, pageSize: 5 }, { Filters: batch }),
      (p) => p.Reservations!.flatMap((r) => r.Instances!.map((i) => i.InstanceId!)),
    );
    expect(instances).toMatchObject({ pages: 3 });
    expect(new Set(instances.ids).size).toBe(12);
  });

  test('a resource deleted between pages does not make the next page skip one', async () => {
    const first = await ec2.send(new DescribeSubnetsCommand({ Filters: batch, MaxResults: 5 }));
    emulator.ec2
      .networkInterfaces()
      .filter((e) => e.subnetId === first.Subnets![4].SubnetId)
      .forEach((e) => {
        if (e.attachment) emulator.ec2.terminateInstance(e.attachment.instanceId);
        else emulator.ec2.deleteNetworkInterface(e.networkInterfaceId);
      });
    emulator.ec2.deleteSubnet(first.Subnets![4].SubnetId!);
    const second = await ec2.send(
      new DescribeSubnetsCommand({ Filters: batch, MaxResults: 5, NextToken: first.NextToken }),
    );
    const all = emulator.ec2
      .subnets()
      .filter((s) => s.tags.batch === 'p')
      .map((s) => s.subnetId);
    expect(second.Subnets!.map((s) => s.SubnetId)).toEqual(all.slice(4, 9));
  });

  test('MaxResults out of range, MaxResults with an id list, and a foreign token are refused', async () => {
    expect(await failure(ec2.send(new DescribeVpcsCommand({ MaxResults: 2 })))).toMatchObject({
      name: 'InvalidParameterValue',
    });
    expect(
      await failure(
        ec2.send(new DescribeInstancesCommand({ InstanceIds: [ids.masterInstanceId], MaxResults: 5 })),
      ),
    ).toMatchObject({ name: 'InvalidParameterCombination' });
    const page = await ec2.send(new DescribeVpcsCommand({ MaxResults: 5 }));
    expect(page.NextToken).toBeDefined();
    expect(await failure(ec2.send(new DescribeSubnetsCommand({ NextToken: page.NextToken })))).toMatchObject({
      name: 'InvalidPaginationToken',
    });
  });

  test('DescribeAddresses returns everything in one answer', async () => {
    const out = await ec2.send(new DescribeAddressesCommand({}));
    expect(out.Addresses).toHaveLength(5);
    expect((out as { NextToken?: string }).NextToken).toBeUndefined();
  });
});
