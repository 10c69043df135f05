import { parseConfig } from '../../../lib/config/load';
import { ConfigInput } from '../../../lib/config/schema';
import { cidrContains, discoverInventory } from '../../../lib/discovery/inventory';
import { nullLogger } from '../../../lib/log';
import { CallContext } from '../../../lib/aws/call';
import { ManualClock } from '../../helpers/manual-clock';
import { awsError, MockEc2, tags } from '../../helpers/mock-ec2';

const ME = 'i-0aaaaaaaaaaaaaaa1';

function setup(configInput: ConfigInput = {}) {
  const ec2 = new MockEc2();
  ec2.seedFootprint({ instanceId: ME });
  const clock = new ManualClock();
  const ctx: CallContext = {
    ec2: ec2.client,
    clock,
    config: parseConfig(configInput),
    logger: nullLogger(),
    counter: { read: 0, mutate: 0 },
    random: () => 0.5,
  };
  return { ec2, clock, ctx };
}

describe('inventory', () => {
  it('full depth: 8 filtered Describe calls in two waves, nothing mutating', async () => {
    const { ec2, clock, ctx } = setup({ cloud: { cidrBlock: '123.123.123.0/28' } });
    const inv = await clock.run(discoverInventory(ctx, { instanceId: ME, depth: 'full' }));
    expect(ec2.calls.map((c) => c.action)).toEqual([
      'DescribeNetworkInterfaces',
      'DescribeInstances',
      'DescribeSubnets',
      'DescribeRouteTables',
      'DescribeAddresses',
      'DescribeNetworkInterfaces',
      'DescribeVpcs',
      'DescribeSubnets',
    ]);
    expect(inv.describeCalls).toBe(8);
    expect(ec2.mutatingCalls()).toEqual([]);
    expect(ec2.calls[0].input).toEqual({ Filters: [{ Name: 'tag:loxiType', Values: ['loxilb-eni'] }] });
    expect(ec2.calls[4].input).toEqual({ Filters: [{ Name: 'network-interface-id', Values: ['eni-lx'] }] });
    expect(ec2.calls[5].input).toEqual({ Filters: [{ Name: 'subnet-id', Values: ['subnet-lx'] }] });
    expect(inv.vpcId).toBe('vpc-1');
    expect(inv.loxilbEnis.map((e) => e.networkInterfaceId)).toEqual(['eni-lx']);
    expect(inv.addresses.map((a) => a.associationId)).toEqual([
      'eipassoc-0',
      'eipassoc-1',
      'eipassoc-2',
      'eipassoc-3',
    ]);
    expect(inv.subnets.map((s) => s.subnetId)).toEqual(['subnet-lx']);
    expect(inv.routeTables.map((r) => r.routeTableId)).toEqual(['rtb-lx']);
    expect(inv.cidr).toMatchObject({ associationId: 'vpc-cidr-assoc-lx', primary: false, source: 'config' });
    expect(inv.vpcSubnets.map((s) => s.subnetId).sort()).toEqual(['subnet-app', 'subnet-lx']);
  });

  it('instance depth: only the ENIs by tag and their EIPs (2 calls)', async () => {
    const { ec2, clock, ctx } = setup();
    const inv = await clock.run(discoverInventory(ctx, { instanceId: ME, depth: 'instance' }));
    expect(ec2.calls.map((c) => c.action)).toEqual(['DescribeNetworkInterfaces', 'DescribeAddresses']);
    expect(inv.subnets).toEqual([]);
    expect(inv.cidr).toBeUndefined();
  });

  it('the tag value carries loxilb --cloudinstance', async () => {
    const { ec2, clock, ctx } = setup({ ownership: { cloudInstance: 'blue' } });
    await clock.run(discoverInventory(ctx, { instanceId: ME, depth: 'full' }));
    const values = ec2.calls
      .slice(0, 4)
      .flatMap((c) => ((c.input.Filters as Array<{ Values: string[] }>) ?? []).flatMap((f) => f.Values));
    expect(values).toEqual(['loxilb-eniblue', 'loxilb-subnetblue', 'loxilb-routetableblue']);
  });

  it('without cloud.cidrBlock: the secondary CIDR holding the loxilb subnet, never the primary', async () => {
    const { ec2, clock, ctx } = setup();
    const inv = await clock.run(discoverInventory(ctx, { instanceId: ME, depth: 'full' }));
    expect(inv.cidr).toMatchObject({
      associationId: 'vpc-cidr-assoc-lx',
      cidrBlock: '123.123.123.0/28',
      source: 'loxilb-subnet',
    });
    // A loxilb subnet inside the primary CIDR does not make the primary a candidate.
    ec2.subnets.get('subnet-lx')!.CidrBlock = '10.0.200.0/28';
    const again = await clock.run(discoverInventory(ctx, { instanceId: ME, depth: 'full' }));
    expect(again.cidr).toBeUndefined();
  });

  it('after DeleteSubnet (no cloud.cidrBlock): the CIDR is found again only through the journaled record', async () => {
    const { ec2, clock, ctx } = setup();
    const first = await clock.run(discoverInventory(ctx, { instanceId: ME, depth: 'full' }));
    expect(first.remembered).toMatchObject({
      vpcId: 'vpc-1',
      ownEniIds: ['eni-lx'],
      subnetIds: ['subnet-lx'],
      routeTableIds: ['rtb-lx'],
      cidr: { associationId: 'vpc-cidr-assoc-lx', cidrBlock: '123.123.123.0/28', vpcId: 'vpc-1' },
    });
    // The crash came after the ENI and the subnet were deleted; the instance is gone too.
    ec2.enis.delete('eni-lx');
    ec2.subnets.delete('subnet-lx');
    ec2.instances.clear();
    const forgetful = await clock.run(discoverInventory(ctx, { instanceId: ME, depth: 'full' }));
    expect(forgetful.cidr).toBeUndefined();
    const resumed = await clock.run(
      discoverInventory(ctx, { instanceId: ME, depth: 'full', remembered: first.remembered }),
    );
    expect(resumed.vpcId).toBe('vpc-1');
    expect(resumed.cidr).toMatchObject({
      associationId: 'vpc-cidr-assoc-lx',
      primary: false,
      source: 'journal',
    });
    // The record only grows: what is gone now is still remembered for the next resume.
    expect(resumed.remembered).toEqual(first.remembered);
  });

  it('loxilb resources of another VPC are not this instance’s', async () => {
    const { ec2, clock, ctx } = setup();
    ec2.subnets.set('subnet-other-vpc', {
      SubnetId: 'subnet-other-vpc',
      VpcId: 'vpc-2',
      CidrBlock: '123.123.123.0/28',
      Tags: tags({ loxiType: 'loxilb-subnet' }),
    });
    ec2.routeTables.set('rtb-other-vpc', {
      RouteTableId: 'rtb-other-vpc',
      VpcId: 'vpc-2',
      Tags: tags({ loxiType: 'loxilb-routetable' }),
      Associations: [],
    });
    const inv = await clock.run(discoverInventory(ctx, { instanceId: ME, depth: 'full' }));
    expect(inv.subnets.map((s) => s.subnetId)).toEqual(['subnet-lx']);
    expect(inv.routeTables.map((r) => r.routeTableId)).toEqual(['rtb-lx']);
  });

  it('an instance EC2 no longer knows: the VPC comes from its loxilb ENIs', async () => {
    const { ec2, clock, ctx } = setup();
    ec2.instances.clear();
    const inv = await clock.run(discoverInventory(ctx, { instanceId: ME, depth: 'full' }));
    expect(inv.vpcId).toBe('vpc-1');
    expect(inv.warnings[0]).toMatch(/DescribeInstances does not know/);
  });

  it('no VPC at all: shared resources are left alone, with a warning', async () => {
    const { ec2, clock, ctx } = setup();
    ec2.instances.clear();
    ec2.enis.delete('eni-lx');
    const inv = await clock.run(discoverInventory(ctx, { instanceId: ME, depth: 'full' }));
    expect(inv.subnets).toEqual([]);
    expect(inv.warnings.join(' ')).toMatch(/shared resources .* are left alone/);
  });

  it('throttled Describe calls are retried; a denied one fails discovery', async () => {
    const { ec2, clock, ctx } = setup();
    ec2.fail('DescribeNetworkInterfaces', awsError('RequestLimitExceeded', 503));
    const inv = await clock.run(discoverInventory(ctx, { instanceId: ME, depth: 'instance' }));
    expect(inv.describeCalls).toBe(3);
    ec2.fail('DescribeNetworkInterfaces', awsError('UnauthorizedOperation', 403));
    await expect(
      clock.run(discoverInventory(ctx, { instanceId: ME, depth: 'instance' })),
    ).rejects.toMatchObject({
      name: 'UnauthorizedOperation',
    });
  });

  it('cidrContains', () => {
    expect(cidrContains('123.123.123.0/28', '123.123.123.0/28')).toBe(true);
    expect(cidrContains('123.123.123.0/28', '123.123.123.8/29')).toBe(true);
    expect(cidrContains('123.123.123.0/28', '123.123.123.16/28')).toBe(false);
    expect(cidrContains('10.0.0.0/16', '10.1.0.0/24')).toBe(false);
    expect(cidrContains('10.0.0.0/8', 'nonsense')).toBe(false);
  });
});
