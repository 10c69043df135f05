import { ConfigInput } from '../../../lib/config/schema';
import { runTeardown, TeardownRequest } from '../../../lib/episode/engine';
import { LoxilbApi } from '../../../lib/gate/loxilb-api';
import { LoxilbClusterOptions } from '../../../sim/loxilb/footprint';
import { EmulatorError } from '../../../sim/emulator/types';
import { EmulatorEc2 } from '../../helpers/emulator-ec2';

const ME = 'i-0aaaaaaaaaaaaaaa1';

const loxilbUnused: LoxilbApi = {
  baseUrl: 'http://127.0.0.1:1',
  haView: () => Promise.reject(new Error('loxilb must not be asked in these tests')),
};

/** Every emulator a test started; all stopped after it. */
let started: EmulatorEc2[] = [];
afterEach(async () => {
  for (const e of started) await e.stop();
  started = [];
});

async function setup(configInput: ConfigInput = {}, cluster: LoxilbClusterOptions = {}) {
  const ec2 = await EmulatorEc2.start({ cluster: { masterInstanceId: ME, ...cluster } });
  started.push(ec2);
  const { clock, deps } = ec2.engine(
    { executor: { detachPollIntervalMs: 100, retryBaseDelayMs: 10, retryMaxDelayMs: 100 }, ...configInput },
    { loxilb: loxilbUnused },
  );
  const config = deps.config;
  const run = (req: Partial<TeardownRequest> = {}) =>
    clock.run(
      runTeardown(deps, { instanceId: ME, episode: 'ep-1', dryRun: false, scopeOverride: 'full', ...req }),
    );
  return { ec2, emu: ec2.emulator.ec2, ids: ec2.ids, clock, config, deps, run };
}

/** More loxilb ENIs on this instance (no EIPs on them) at device index k; returns their ids. */
function addEnis(ec2: EmulatorEc2, indexes: number[]): string[] {
  const { ids } = ec2;
  return indexes.map((k) => {
    const eni = ec2.emulator.ec2.createNetworkInterface({
      subnetId: ids.subnetId,
      description: 'loxilb-eni',
      tags: { [ids.tagKey]: ids.tags.eni },
    });
    ec2.emulator.ec2.attachNetworkInterface(eni.networkInterfaceId, ME, k, { deleteOnTermination: false });
    return eni.networkInterfaceId;
  });
}

const DECOYS = ({ emulator, ids }: EmulatorEc2) => ({
  primaryEni: emulator.ec2.networkInterfaceById(ids.masterPrimaryEniId) !== undefined,
  appSubnet: emulator.ec2.subnetById(ids.masterSubnetId) !== undefined,
  mainRt: emulator.ec2.routeTableById(ids.mainRouteTableId) !== undefined,
  decoyEip: emulator.ec2.addressById(ids.decoys!.unrelatedAllocationId) !== undefined,
  primaryCidr: emulator.ec2
    .vpcById(ids.vpcId)!
    .cidrAssociations.some((a) => a.associationId === ids.primaryCidrAssociationId),
});
const ALL_DECOYS = { primaryEni: true, appSubnet: true, mainRt: true, decoyEip: true, primaryCidr: true };

/** The loxilb EIPs (on this master's ENI) still associated. */
const associatedEips = ({ emulator, ids }: EmulatorEc2) =>
  ids.enis[0].allocationIds.filter((id) => emulator.ec2.addressById(id)?.association);
/** A detach wait's poll: DescribeNetworkInterfaces by id. */
const isDetachPoll = (c: { action: string; params: Record<string, unknown> }) =>
  c.action === 'DescribeNetworkInterfaces' && Object.values(c.params).includes('network-interface-id');

describe('executor', () => {
  it('full scope tears the whole footprint down in dependency order and leaves decoys alone', async () => {
    const { ec2, emu, ids, run } = await setup();
    const report = await run();
    expect(report.outcome).toBe('clean');
    expect(report.leftBehind).toEqual([]);
    expect(emu.networkInterfaceById(ids.enis[0].eniId)).toBeUndefined();
    expect(emu.subnetById(ids.subnetId)).toBeUndefined();
    expect(emu.routeTableById(ids.routeTableId)).toBeUndefined();
    expect(emu.vpcById(ids.vpcId)!.cidrAssociations.map((a) => a.associationId)).toEqual([
      ids.primaryCidrAssociationId,
    ]);
    expect(associatedEips(ec2)).toEqual([]);
    // The 4 loxilb EIPs and the unrelated decoy: disassociated, never released (policy disassociate).
    expect(emu.addresses()).toHaveLength(5);
    expect(DECOYS(ec2)).toEqual(ALL_DECOYS);

    const order = ec2.mutatingCalls().map((c) => c.action);
    const last = (a: string) => order.lastIndexOf(a);
    const first = (a: string) => order.indexOf(a);
    expect(order.filter((a) => a === 'DisassociateAddress')).toHaveLength(4);
    expect(last('DisassociateAddress')).toBeLessThan(first('DetachNetworkInterface'));
    expect(first('DetachNetworkInterface')).toBeLessThan(first('DeleteNetworkInterface'));
    expect(last('DeleteNetworkInterface')).toBeLessThan(first('DisassociateRouteTable'));
    expect(first('DisassociateRouteTable')).toBeLessThan(first('DeleteRouteTable'));
    expect(first('DeleteRouteTable')).toBeLessThan(first('DeleteSubnet'));
    expect(first('DeleteSubnet')).toBeLessThan(first('DisassociateVpcCidrBlock'));
    expect(report.actions.every((a) => a.outcome === 'done')).toBe(true);
    expect(report.actions.every((a) => typeof a.durationMs === 'number' && a.startedAt)).toBe(true);
  });

  it('handover changes nothing: no mutating call, no discovery, outcome handover', async () => {
    const { ec2, emu, ids, run } = await setup();
    const report = await run({ scopeOverride: 'handover' });
    expect(report.outcome).toBe('handover');
    expect(ec2.mutatingCalls()).toEqual([]);
    expect(ec2.calls()).toEqual([]);
    expect(emu.networkInterfaceById(ids.enis[0].eniId)).toBeDefined();
    expect(associatedEips(ec2)).toHaveLength(4);
    expect(report.actions).toEqual([]);
  });

  it('dry-run makes zero mutating calls and reports every action as dry-run', async () => {
    const { ec2, run } = await setup();
    const report = await run({ dryRun: true });
    expect(ec2.mutatingCalls()).toEqual([]);
    expect(report.outcome).toBe('dry-run');
    expect(report.actions).toHaveLength(10);
    expect(new Set(report.actions.map((a) => a.outcome))).toEqual(new Set(['dry-run']));
  });

  it('config dryRun is honoured the same way', async () => {
    const { ec2, run } = await setup({ dryRun: true });
    await run();
    expect(ec2.mutatingCalls()).toEqual([]);
  });

  it('waits for several detaching ENIs with one Describe per poll, then deletes each', async () => {
    const { ec2, emu, ids, run } = await setup();
    const added = addEnis(ec2, [2, 3]);
    // The detaches finish when the 4th poll comes: 3 polls see "detaching", the 4th "available".
    emu.configure({ holdDetaches: true });
    let seen = 0;
    ec2.beforeCall((call) => {
      if (!isDetachPoll(call) || ++seen < 4) return;
      emu.releaseHeldDetaches();
      return 'done';
    });
    const report = await run({ scopeOverride: 'full' });
    expect(report.outcome).toBe('clean');
    const polls = ec2.calls().filter(isDetachPoll);
    // 4 polls for 3 ENIs, each naming all three.
    expect(polls).toHaveLength(4);
    const eniIds = [ids.enis[0].eniId, ...added].sort();
    for (const p of polls) {
      expect(
        Object.entries(p.params)
          .filter(([k]) => /^Filter\.1\.Value\./.test(k))
          .map(([, v]) => String(v))
          .sort(),
      ).toEqual(eniIds);
    }
    expect(ec2.count('DeleteNetworkInterface')).toBe(3);
  });

  it("disassociates loxilb's 49 EIPs on one ENI in one wave, bounded by executor.eipConcurrency", async () => {
    const fortyNine = (configInput: ConfigInput) => setup(configInput, { vips: 49, eips: 49 });
    const wide = await fortyNine({ executor: { concurrency: 8 } });
    const report = await wide.run();
    expect(report.outcome).toBe('clean');
    expect(wide.ec2.count('DisassociateAddress')).toBe(49);
    expect(wide.ec2.maxInFlight.get('DisassociateAddress')).toBe(49);

    const narrow = await fortyNine({ executor: { concurrency: 8, eipConcurrency: 5 } });
    expect((await narrow.run()).outcome).toBe('clean');
    expect(narrow.ec2.maxInFlight.get('DisassociateAddress')).toBe(5);
  });

  it('the other stages keep executor.concurrency while the EIP stage runs wider', async () => {
    const withEnis = async (configInput: ConfigInput) => {
      const s = await setup(configInput);
      addEnis(s.ec2, [2, 3, 4, 5]);
      return s;
    };
    const two = await withEnis({ executor: { concurrency: 2, eipConcurrency: 64 } });
    expect((await two.run()).outcome).toBe('clean');
    expect(two.ec2.count('DetachNetworkInterface')).toBe(5);
    expect(two.ec2.maxInFlight.get('DetachNetworkInterface')).toBe(2);
    expect(two.ec2.maxInFlight.get('DeleteNetworkInterface')).toBeLessThanOrEqual(2);
    expect(two.ec2.maxInFlight.get('DisassociateAddress')).toBe(4);
    // The same footprint at the default bound: all five detaches at once, so the count above is the bound.
    const eight = await withEnis({});
    expect((await eight.run()).outcome).toBe('clean');
    expect(eight.ec2.maxInFlight.get('DetachNetworkInterface')).toBe(5);
  });

  it('retries throttling and 5xx with backoff, and records the attempts', async () => {
    const { ec2, clock, run } = await setup();
    ec2.fail(
      'DisassociateAddress',
      { code: 'RequestLimitExceeded', status: 503 },
      { code: 'InternalError', status: 500 },
    );
    ec2.fail('DescribeNetworkInterfaces', { code: 'RequestLimitExceeded', status: 503 });
    const report = await run();
    expect(report.outcome).toBe('clean');
    expect(
      report.actions
        .filter((a) => a.action === 'DisassociateAddress')
        .map((a) => a.attempts)
        .sort(),
    ).toEqual([1, 1, 2, 2]);
    expect(clock.sleeps.filter((ms) => ms !== 100).length).toBeGreaterThanOrEqual(3);
  });

  it('"not found" means already done', async () => {
    const { ec2, run } = await setup();
    ec2.fail('DisassociateAddress', { code: 'InvalidAssociationID.NotFound' });
    ec2.fail('DeleteRouteTable', { code: 'InvalidRouteTableID.NotFound' });
    const report = await run();
    expect(report.outcome).toBe('clean');
    expect(
      report.actions
        .filter((a) => a.outcome === 'already-done')
        .map((a) => a.errorCode)
        .sort(),
    ).toEqual(['InvalidAssociationID.NotFound', 'InvalidRouteTableID.NotFound']);
  });

  it('a DependencyViolation that outlasts ~1.5 s (AWS letting go of a deleted ENI) is retried until it clears', async () => {
    const { ec2, clock, run } = await setup();
    const startedAt = clock.now();
    let clearedAt = 0;
    ec2.beforeCall(({ action }) => {
      if (action !== 'DeleteSubnet') return;
      // Blocked for the first 20 s of the teardown, as a slow propagation would be.
      if (clock.now() - startedAt < 20000)
        throw new EmulatorError('DependencyViolation', 'DependencyViolation');
      clearedAt ||= clock.now();
    });
    const report = await run({ deadlineAt: startedAt + 60000 });
    expect(report.outcome).toBe('clean');
    const subnet = report.actions.find((a) => a.action === 'DeleteSubnet')!;
    expect(subnet.outcome).toBe('done');
    expect(subnet.attempts).toBeGreaterThan(5);
    expect(clearedAt - startedAt).toBeGreaterThanOrEqual(20000);
    expect(report.actions.find((a) => a.action === 'DisassociateVpcCidrBlock')!.outcome).toBe('done');
  });

  it('a persistent DependencyViolation is retried until the deadline, then reported with the manual command', async () => {
    const { ec2, ids, clock, run } = await setup({
      executor: { deadlineReserveMs: 0, retryMaxDelayMs: 100 },
    });
    ec2.emulator.faults.add({
      service: 'ec2',
      action: 'DeleteSubnet',
      kind: 'error',
      code: 'DependencyViolation',
      status: 400,
    });
    const startedAt = clock.now();
    const report = await run({ deadlineAt: startedAt + 5000 });
    expect(report.outcome).toBe('left-behind');
    const subnet = report.actions.find((a) => a.action === 'DeleteSubnet')!;
    expect(subnet).toMatchObject({ outcome: 'blocked', errorCode: 'DependencyViolation' });
    // Backoff capped at 100 ms (random 0.5 → 50 ms a sleep) over the ~5 s left: dozens of tries, no sleep past the deadline.
    expect(subnet.attempts).toBeGreaterThan(20);
    expect(clock.now()).toBeLessThanOrEqual(startedAt + 5000);
    const cidr = report.actions.find((a) => a.action === 'DisassociateVpcCidrBlock')!;
    expect(cidr.outcome).toBe('blocked');
    expect(cidr.message).toMatch(new RegExp(`depends on DeleteSubnet ${ids.subnetId}`));
    expect(report.leftBehind.map((l) => l.manualCommand)).toEqual([
      `aws ec2 delete-subnet --subnet-id ${ids.subnetId}`,
      `aws ec2 disassociate-vpc-cidr-block --association-id ${ids.cidrAssociationId}`,
    ]);
    expect(ec2.count('DisassociateVpcCidrBlock')).toBe(0);
  });

  it('a fatal error fails that action; what depends on it is blocked; the rest proceeds', async () => {
    const { ec2, ids, run } = await setup();
    ec2.fail('DetachNetworkInterface', { code: 'UnauthorizedOperation', status: 403 });
    const report = await run();
    const get = (action: string) => report.actions.find((a) => a.action === action)!;
    expect(get('DetachNetworkInterface')).toMatchObject({
      outcome: 'failed',
      errorCode: 'UnauthorizedOperation',
      attempts: 1,
    });
    expect(get('DeleteNetworkInterface').outcome).toBe('blocked');
    expect(get('DeleteSubnet').outcome).toBe('blocked');
    expect(get('DeleteRouteTable').outcome).toBe('done');
    expect(report.leftBehind.map((l) => l.resource)).toEqual([
      ids.enis[0].eniId,
      ids.enis[0].eniId,
      ids.subnetId,
      ids.cidrAssociationId,
    ]);
  });

  it('an ENI re-attached to another instance during the wait is not deleted', async () => {
    const { ec2, emu, ids, run } = await setup();
    ec2.beforeCall((call) => {
      if (!isDetachPoll(call)) return;
      // Detached (at once, here) and attached to the peer before the first poll is answered.
      emu.attachNetworkInterface(ids.enis[0].eniId, ids.peerInstanceId!, 1);
      return 'done';
    });
    const report = await run({ scopeOverride: 'full' });
    const del = report.actions.find((a) => a.action === 'DeleteNetworkInterface')!;
    expect(del.outcome).toBe('skipped');
    expect(del.message).toMatch(/attached to another instance/);
    expect(ec2.count('DeleteNetworkInterface')).toBe(0);
    expect(emu.networkInterfaceById(ids.enis[0].eniId)).toBeDefined();
  });

  it('a deadline skips what cannot finish and says so', async () => {
    const { emu, clock, run } = await setup({
      executor: { deadlineReserveMs: 0, detachPollIntervalMs: 100 },
    });
    emu.configure({ holdDetaches: true });
    const report = await run({ deadlineAt: clock.now() + 1000 });
    expect(report.outcome).toBe('left-behind');
    const del = report.actions.find((a) => a.action === 'DeleteNetworkInterface')!;
    expect(del).toMatchObject({ outcome: 'deadline', errorCode: 'DetachTimeout' });
    expect(report.actions.find((a) => a.action === 'DeleteSubnet')!.outcome).toBe('blocked');
    expect(report.deadlineAt).toBe(new Date(Date.parse(report.startedAt) + 1000).toISOString());
  });

  it('a deadline already passed starts nothing', async () => {
    const { ec2, clock, run } = await setup();
    const report = await run({ deadlineAt: clock.now() - 1000 }); // the source's own deadline is behind us
    expect(ec2.mutatingCalls()).toEqual([]);
    expect(new Set(report.actions.map((a) => a.outcome))).toEqual(new Set(['deadline', 'blocked']));
    expect(report.outcome).toBe('left-behind');
  });

  it('honours the abort signal', async () => {
    const { ec2, run } = await setup();
    const ac = new AbortController();
    ec2.beforeCall(({ action }) => {
      if (action === 'DetachNetworkInterface') ac.abort(new Error('SIGTERM'));
    });
    const report = await run({ signal: ac.signal });
    expect(ec2.count('DeleteSubnet')).toBe(0);
    expect(report.actions.filter((a) => a.aborted).length).toBeGreaterThan(0);
    expect(report.outcome).toBe('left-behind');
  });

  it('is idempotent: a second run finds nothing to do and changes nothing', async () => {
    const { ec2, run } = await setup();
    expect((await run()).outcome).toBe('clean');
    const before = ec2.mutatingCalls().length;
    const second = await run({ episode: 'ep-2' });
    expect(second.outcome).toBe('nothing-to-do');
    expect(ec2.mutatingCalls().length).toBe(before);
  });

  it('tolerates a second actor deleting the same resources concurrently', async () => {
    const { ec2, emu, ids, run } = await setup();
    const eni = ids.enis[0];
    let eniGone = false;
    let tableGone = false;
    ec2.beforeCall(({ action }) => {
      // loxilb's own shutdown path racing us: it removes the ENI, subnet and route table itself.
      if (action === 'DetachNetworkInterface' && !eniGone) {
        emu.detachNetworkInterface(eni.attachmentId);
        emu.deleteNetworkInterface(eni.eniId);
        eniGone = true;
      }
      if (action === 'DisassociateRouteTable' && !tableGone) {
        emu.disassociateRouteTable(ids.routeTableAssociationId);
        emu.deleteRouteTable(ids.routeTableId);
        emu.deleteSubnet(ids.subnetId);
        tableGone = true;
      }
      return eniGone && tableGone ? 'done' : undefined;
    });
    const report = await run();
    expect(report.outcome).toBe('clean');
    expect(report.leftBehind).toEqual([]);
    expect(
      report.actions
        .filter((a) => a.outcome === 'already-done')
        .map((a) => a.action)
        .sort(),
    ).toEqual([
      'DeleteNetworkInterface',
      'DeleteRouteTable',
      'DeleteSubnet',
      'DetachNetworkInterface',
      'DisassociateRouteTable',
    ]);
  });
});
