import { parseConfig } from '../../../lib/config/load';
import { ConfigInput } from '../../../lib/config/schema';
import { cidrContains, discoverInventory } from '../../../lib/discovery/inventory';
import { nullLogger } from '../../../lib/log';
import { CallContext } from '../../../lib/aws/call';
import { EmulatorError } from '../../../sim/emulator/types';
import { EmulatorEc2 } from '../../helpers/emulator-ec2';
import { ManualClock } from '../../helpers/manual-clock';

const ME = 'i-0aaaaaaaaaaaaaaa1';

describe('inventory', () => {
  let ec2: EmulatorEc2;
  let clock: ManualClock;
  let ctx: CallContext;

  async function setup(configInput: ConfigInput = {}) {
    // loxilb's footprint on this master (a /28 cloud CIDR), with the peer and the decoys.
    ec2 = await EmulatorEc2.start({ cluster: { masterInstanceId: ME, cloudCidr: '123.123.123.0/28' } });
    clock = new ManualClock();
    clock.ioInFlight = () => ec2.inFlight() > 0;
    ctx = {
      ec2: ec2.client,
      clock,
      config: parseConfig(configInput),
      logger: nullLogger(),
      counter: { read: 0, mutate: 0 },
      random: () => 0.5,
    };
    return { ec2, clock, ctx, ids: ec2.ids };
  }
  afterEach(() => ec2.stop());

  /** EC2 forgets a terminated instance after a while: DescribeInstances answers NotFound for it. */
  const forgetInstance = () =>
    ec2.emulator.faults.add({
      service: 'ec2',
      action: 'DescribeInstances',
      kind: 'before',
      run: () => {
        throw new EmulatorError('InvalidInstanceID.NotFound', `The instance ID '${ME}' does not exist`);
      },
    });
  /** Removes this master's loxilb ENI the way EC2 allows: detach (immediate here), then delete. */
  const deleteLoxilbEni = () => {
    const eni = ec2.ids.enis[0];
    ec2.emulator.ec2.detachNetworkInterface(eni.attachmentId);
    ec2.emulator.ec2.deleteNetworkInterface(eni.eniId);
  };

  it('full depth: 8 filtered Describe calls in two waves, nothing mutating', async () => {
    const { ec2, clock, ctx, ids } = await setup({ cloud: { cidrBlock: '123.123.123.0/28' } });
    const inv = await clock.run(discoverInventory(ctx, { instanceId: ME, depth: 'full' }));
    const calls = ec2.calls();
    expect(calls.map((c) => c.action)).toEqual([
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
    // The filters as they went over the wire (EC2 Query: Filter.N.Name / Filter.N.Value.M).
    expect(calls[0].params).toEqual({ 'Filter.1.Name': 'tag:loxiType', 'Filter.1.Value.1': 'loxilb-eni' });
    expect(calls[4].params).toEqual({
      'Filter.1.Name': 'network-interface-id',
      'Filter.1.Value.1': ids.enis[0].eniId,
    });
    expect(calls[5].params).toEqual({ 'Filter.1.Name': 'subnet-id', 'Filter.1.Value.1': ids.subnetId });
    expect(inv.vpcId).toBe(ids.vpcId);
    expect(inv.loxilbEnis.map((e) => e.networkInterfaceId)).toEqual([ids.enis[0].eniId]);
    expect(inv.addresses.map((a) => a.associationId)).toEqual(ids.enis[0].eipAssociationIds);
    expect(inv.subnets.map((s) => s.subnetId)).toEqual([ids.subnetId]);
    expect(inv.routeTables.map((r) => r.routeTableId)).toEqual([ids.routeTableId]);
    expect(inv.cidr).toMatchObject({
      associationId: ids.cidrAssociationId,
      primary: false,
      source: 'config',
    });
    expect(inv.vpcSubnets.map((s) => s.subnetId).sort()).toEqual(
      ec2.emulator.ec2
        .subnets()
        .filter((s) => s.vpcId === ids.vpcId)
        .map((s) => s.subnetId)
        .sort(),
    );
    expect(inv.vpcSubnets.map((s) => s.subnetId)).toEqual(
      expect.arrayContaining([ids.masterSubnetId, ids.subnetId]),
    );
  });

  it('instance depth: only the ENIs by tag and their EIPs (2 calls)', async () => {
    const { ec2, clock, ctx } = await setup();
    const inv = await clock.run(discoverInventory(ctx, { instanceId: ME, depth: 'instance' }));
    expect(ec2.calls().map((c) => c.action)).toEqual(['DescribeNetworkInterfaces', 'DescribeAddresses']);
    expect(inv.subnets).toEqual([]);
    expect(inv.cidr).toBeUndefined();
  });

  it('the tag value carries loxilb --cloudinstance', async () => {
    const { ec2, clock, ctx } = await setup({ ownership: { cloudInstance: 'blue' } });
    await clock.run(discoverInventory(ctx, { instanceId: ME, depth: 'full' }));
    const values = ec2
      .calls()
      .slice(0, 4)
      .flatMap((c) =>
        Object.entries(c.params)
          .filter(([k]) => /^Filter\.\d+\.Value\.\d+$/.test(k))
          .map(([, v]) => v),
      );
    expect(values).toEqual(['loxilb-eniblue', 'loxilb-subnetblue', 'loxilb-routetableblue']);
  });

  it('without cloud.cidrBlock: the secondary CIDR holding the loxilb subnet, never the primary', async () => {
    const { ec2, clock, ctx, ids } = await setup();
    const inv = await clock.run(discoverInventory(ctx, { instanceId: ME, depth: 'full' }));
    expect(inv.cidr).toMatchObject({
      associationId: ids.cidrAssociationId,
      cidrBlock: '123.123.123.0/28',
      source: 'loxilb-subnet',
    });
    // A loxilb subnet inside the primary CIDR does not make the primary a candidate: the only
    // loxilb subnet now is one in 10.0.0.0/16.
    ec2.emulator.ec2.deleteTags([ids.subnetId], { [ids.tagKey]: undefined });
    ec2.emulator.ec2.createSubnet({
      vpcId: ids.vpcId,
      cidrBlock: '10.0.200.0/28',
      tags: { [ids.tagKey]: ids.tags.subnet },
    });
    const again = await clock.run(discoverInventory(ctx, { instanceId: ME, depth: 'full' }));
    expect(again.cidr).toBeUndefined();
  });

  it('after DeleteSubnet (no cloud.cidrBlock): the CIDR is found again only through the journaled record', async () => {
    const { ec2, clock, ctx, ids } = await setup();
    const first = await clock.run(discoverInventory(ctx, { instanceId: ME, depth: 'full' }));
    expect(first.remembered).toMatchObject({
      vpcId: ids.vpcId,
      ownEniIds: [ids.enis[0].eniId],
      subnetIds: [ids.subnetId],
      routeTableIds: [ids.routeTableId],
      cidr: { associationId: ids.cidrAssociationId, cidrBlock: '123.123.123.0/28', vpcId: ids.vpcId },
    });
    // The crash came after the ENI and the subnet were deleted; the instance is gone too.
    deleteLoxilbEni();
    ec2.emulator.ec2.deleteSubnet(ids.subnetId);
    forgetInstance();
    const forgetful = await clock.run(discoverInventory(ctx, { instanceId: ME, depth: 'full' }));
    expect(forgetful.cidr).toBeUndefined();
    const resumed = await clock.run(
      discoverInventory(ctx, { instanceId: ME, depth: 'full', remembered: first.remembered }),
    );
    expect(resumed.vpcId).toBe(ids.vpcId);
    expect(resumed.cidr).toMatchObject({
      associationId: ids.cidrAssociationId,
      primary: false,
      source: 'journal',
    });
    // The record only grows: what is gone now is still remembered for the next resume.
    expect(resumed.remembered).toEqual(first.remembered);
  });

  it('loxilb resources of another VPC are not this instance’s', async () => {
    const { ec2, clock, ctx, ids } = await setup();
    const emu = ec2.emulator.ec2;
    const other = emu.createVpc({ cidrBlock: '172.16.0.0/16' });
    emu.createSubnet({
      vpcId: other.vpcId,
      cidrBlock: '172.16.1.0/28',
      tags: { [ids.tagKey]: ids.tags.subnet },
    });
    emu.createRouteTable({ vpcId: other.vpcId, tags: { [ids.tagKey]: ids.tags.routeTable } });
    const inv = await clock.run(discoverInventory(ctx, { instanceId: ME, depth: 'full' }));
    expect(inv.subnets.map((s) => s.subnetId)).toEqual([ids.subnetId]);
    expect(inv.routeTables.map((r) => r.routeTableId)).toEqual([ids.routeTableId]);
  });

  it('an instance EC2 no longer knows: the VPC comes from its loxilb ENIs', async () => {
    const { clock, ctx, ids } = await setup();
    forgetInstance();
    const inv = await clock.run(discoverInventory(ctx, { instanceId: ME, depth: 'full' }));
    expect(inv.vpcId).toBe(ids.vpcId);
    expect(inv.warnings[0]).toMatch(/DescribeInstances does not know/);
  });

  it('no VPC at all: shared resources are left alone, with a warning', async () => {
    const { clock, ctx } = await setup();
    forgetInstance();
    deleteLoxilbEni();
    const inv = await clock.run(discoverInventory(ctx, { instanceId: ME, depth: 'full' }));
    expect(inv.subnets).toEqual([]);
    expect(inv.warnings.join(' ')).toMatch(/shared resources .* are left alone/);
  });

  it('throttled Describe calls are retried; a denied one fails discovery', async () => {
    const { ec2, clock, ctx } = await setup();
    ec2.fail('DescribeNetworkInterfaces', { code: 'RequestLimitExceeded', status: 503 });
    const inv = await clock.run(discoverInventory(ctx, { instanceId: ME, depth: 'instance' }));
    expect(inv.describeCalls).toBe(3);
    ec2.fail('DescribeNetworkInterfaces', { code: 'UnauthorizedOperation', status: 403 });
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
