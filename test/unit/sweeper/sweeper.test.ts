import { EC2Client } from '@aws-sdk/client-ec2';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Clock, systemClock } from '../../../lib/clock';
import { parseConfig } from '../../../lib/config/load';
import { ConfigInput } from '../../../lib/config/schema';
import { nullLogger } from '../../../lib/log';
import { sweepExitCode, SweepReport } from '../../../lib/sweeper/report';
import { FirstSeenStore } from '../../../lib/sweeper/state';
import { sweepOnce, sweepRegionList, sweepRegions } from '../../../lib/sweeper/sweeper';
import { AwsEmulator } from '../../../sim/emulator/server';
import { EmulatorRequest } from '../../../sim/emulator/types';
import { leftovers, LoxilbClusterIds, seedLoxilbCluster } from '../../../sim/loxilb/footprint';

/**
 * sweepOnce with the real EC2Client against the in-process emulator: the re-check right before each
 * call, failures reported with what is left, discovery errors, regions, the grace-period store.
 */

const START = Date.UTC(2025, 0, 1, 12, 0, 0);

class TestClock implements Clock {
  t = START;
  now = () => this.t;
  sleep = (ms: number, signal?: AbortSignal) => systemClock.sleep(Math.min(ms, 5), signal);
  /** Per-call timeouts stay real: the emulator answers in real time. */
  guard = (ms: number, signal?: AbortSignal) => systemClock.guard(ms, signal);
}

let emulator: AwsEmulator;
let ec2: EC2Client;
let ids: LoxilbClusterIds;
let dir: string;
let clock: TestClock;

const client = (url: string, region = 'us-east-1') =>
  new EC2Client({
    endpoint: url,
    region,
    credentials: { accessKeyId: 'AKIAEMULATOR', secretAccessKey: 'secret' },
    maxAttempts: 1,
  });

function deps(over: ConfigInput = {}) {
  const config = parseConfig({
    stateDir: join(dir, 'state'),
    reports: { dir: join(dir, 'reports') },
    executor: { retryBaseDelayMs: 1, retryMaxDelayMs: 2 },
    sweeper: { graceMs: 0 },
    ...over,
  });
  return {
    ec2,
    config,
    clock,
    logger: nullLogger(),
    firstSeen: new FirstSeenStore(config.stateDir),
    random: () => 0,
  };
}

/** Runs `effect` once, right before the emulator answers the first request matching `when`. */
function before(when: (req: EmulatorRequest) => boolean, effect: () => void): void {
  const e = emulator.ec2;
  const handle = e.handle.bind(e);
  let done = false;
  e.handle = (req) => {
    if (!done && when(req)) {
      done = true;
      effect();
    }
    return handle(req);
  };
}

const byResource = (r: SweepReport) => Object.fromEntries(r.candidates.map((c) => [c.resource, c]));

beforeEach(async () => {
  emulator = await AwsEmulator.start();
  ec2 = client(emulator.url);
  dir = mkdtempSync(join(tmpdir(), 'teardownd-sweeper-'));
  clock = new TestClock();
  ids = seedLoxilbCluster(emulator, { peer: false, vips: 2, eips: 1 });
  emulator.ec2.createTags([ids.enis[0].eniId], { 'teardownd:owner': ids.masterInstanceId });
  emulator.ec2.terminateInstance(ids.masterInstanceId);
});
afterEach(async () => {
  ec2.destroy();
  await emulator.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('sweepOnce', () => {
  it('apply: removes every orphan of the dead master and says so per candidate', async () => {
    const r = await sweepOnce(deps(), { region: 'us-east-1', mode: 'apply' });
    expect(r.outcome).toBe('cleaned');
    expect(r.counts).toMatchObject({ orphan: 4, removed: 4, left: 0 });
    expect(leftovers(emulator, ids)).toEqual([]);
    const eni = byResource(r)[ids.enis[0].eniId];
    expect(eni.actions.map((a) => `${a.action}:${a.outcome}`)).toEqual([
      'DisassociateAddress:done',
      'DeleteNetworkInterface:done',
    ]);
    expect(sweepExitCode([r])).toBe(0);
  });

  it('report: the same verdicts, the planned actions with their commands, and zero mutating calls', async () => {
    const r = await sweepOnce(deps(), { region: 'us-east-1', mode: 'report' });
    expect(r.outcome).toBe('orphans-found');
    expect(r.calls.mutate).toBe(0);
    expect(emulator.calls.mutating()).toEqual([]);
    expect(byResource(r)[ids.subnetId]).toMatchObject({
      verdict: 'orphan',
      result: 'reported',
      actions: [
        {
          action: 'DeleteSubnet',
          status: 'planned',
          manualCommand: `aws ec2 delete-subnet --subnet-id ${ids.subnetId}`,
        },
      ],
    });
    expect(r.left.map((l) => l.resource).sort()).toEqual(
      [ids.enis[0].eniId, ids.subnetId, ids.routeTableId, ids.cidrAssociationId].sort(),
    );
    expect(sweepExitCode([r])).toBe(1);
  });

  it('an ENI attached again after discovery is skipped by the re-check, and so is everything shared', async () => {
    const survivor = emulator.ec2.runInstance({ subnetId: ids.masterSubnetId });
    // The re-check of the ENI (one Describe by id): a new master has just attached it.
    before(
      (req) =>
        req.action === 'DescribeNetworkInterfaces' &&
        req.form.get('Filter.1.Name') === 'network-interface-id',
      () => emulator.ec2.attachNetworkInterface(ids.enis[0].eniId, survivor.instanceId, 1),
    );
    const r = await sweepOnce(deps(), { region: 'us-east-1', mode: 'apply' });
    expect(emulator.calls.mutating()).toEqual([]);
    expect(r.outcome).toBe('clean');
    const c = byResource(r);
    expect(c[ids.enis[0].eniId].result).toBe('no-longer-orphan');
    expect(c[ids.enis[0].eniId].actions[0]).toMatchObject({
      outcome: 'skipped',
      message: expect.stringContaining(`no longer an orphan: attached to ${survivor.instanceId}`),
    });
    for (const id of [ids.subnetId, ids.routeTableId, ids.cidrAssociationId])
      expect(c[id].result).toBe('no-longer-orphan');
    expect(emulator.ec2.subnetById(ids.subnetId)).toBeDefined();
  });

  it('a new loxilb ENI appearing before the shared stage: the subnet, route table and CIDR are kept', async () => {
    let fresh = '';
    before(
      (req) => req.action === 'DeleteNetworkInterface',
      () => {
        fresh = emulator.ec2.createNetworkInterface({
          subnetId: ids.subnetId,
          description: 'loxilb-eni',
          tags: { loxiType: 'loxilb-eni' },
        }).networkInterfaceId;
      },
    );
    const r = await sweepOnce(deps(), { region: 'us-east-1', mode: 'apply' });
    const c = byResource(r);
    expect(c[ids.enis[0].eniId].result).toBe('removed');
    for (const id of [ids.routeTableId, ids.subnetId, ids.cidrAssociationId]) {
      expect(c[id].result).toBe('no-longer-orphan');
    }
    expect(c[ids.subnetId].actions[0].message).toContain(`the cluster has loxilb ENI(s) now: ${fresh}`);
    expect(emulator.calls.mutating('ec2').map((x) => x.action)).toEqual([
      'DisassociateAddress',
      'DeleteNetworkInterface',
    ]);
    expect(r.outcome).toBe('cleaned');
  });

  it('a call that fails is reported as left, with the commands to finish by hand; what depends on it is left too', async () => {
    emulator.ec2.denyActions(['DeleteSubnet']);
    const r = await sweepOnce(deps(), { region: 'us-east-1', mode: 'apply' });
    expect(r.outcome).toBe('left-behind');
    const c = byResource(r);
    expect(c[ids.subnetId]).toMatchObject({
      result: 'left',
      actions: [{ outcome: 'failed', errorCode: 'UnauthorizedOperation' }],
    });
    expect(c[ids.cidrAssociationId]).toMatchObject({ result: 'left', actions: [{ outcome: 'blocked' }] });
    expect(c[ids.routeTableId].result).toBe('removed');
    expect(r.left.map((l) => l.resource)).toEqual([ids.subnetId, ids.cidrAssociationId]);
    expect(r.left[1].manualCommands[0]).toBe(
      `aws ec2 disassociate-vpc-cidr-block --association-id ${ids.cidrAssociationId}`,
    );
    expect(sweepExitCode([r])).toBe(1);
  });

  it('a discovery that fails is a failed report that changed nothing', async () => {
    emulator.ec2.denyActions(['DescribeRouteTables']);
    const r = await sweepOnce(deps(), { region: 'us-east-1', mode: 'apply' });
    expect(r).toMatchObject({
      outcome: 'failed',
      error: { stage: 'discovery', errorCode: 'UnauthorizedOperation' },
    });
    expect(emulator.calls.mutating()).toEqual([]);
    expect(sweepExitCode([r])).toBe(1);
  });

  it('a member sweeping in apply mode leaves a just-dead master’s ENI to the takeover until sweeper.takeoverGraceMs', async () => {
    const member = { region: 'us-east-1', mode: 'apply' as const, memberInstanceId: 'i-0ddddddddddddddd4' };
    const d = deps({ sweeper: { graceMs: 0, takeoverGraceMs: 5 * 60000 } });
    const first = await sweepOnce(d, member);
    expect(emulator.calls.mutating()).toEqual([]);
    expect(byResource(first)[ids.enis[0].eniId]).toMatchObject({
      verdict: 'uncertain',
      reason: expect.stringContaining('belongs to the takeover'),
    });
    clock.t += 5 * 60000 - 1;
    await sweepOnce(d, member);
    expect(emulator.calls.mutating()).toEqual([]);
    clock.t += 1;
    const late = await sweepOnce(d, member);
    expect(byResource(late)[ids.enis[0].eniId]).toMatchObject({ verdict: 'orphan', result: 'removed' });
    expect(emulator.ec2.networkInterfaceById(ids.enis[0].eniId)).toBeUndefined();
  });

  it('a host sweeping as a member of the cluster removes orphan ENIs (past the takeover grace) but keeps the shared resources', async () => {
    const r = await sweepOnce(deps({ sweeper: { graceMs: 0, takeoverGraceMs: 0 } }), {
      region: 'us-east-1',
      mode: 'apply',
      memberInstanceId: 'i-0ddddddddddddddd4',
      sweeperInstanceId: 'i-0ddddddddddddddd4',
    });
    expect(r.sweeperInstanceId).toBe('i-0ddddddddddddddd4');
    expect(
      leftovers(emulator, ids)
        .map((l) => l.kind)
        .sort(),
    ).toEqual(['cidr-association', 'route-table', 'route-table-association', 'subnet'].sort());
    expect(r.cluster.sharedKeptBecause).toMatchObject({ verdict: 'in-use' });
  });
});

describe('the grace-period clock across sweeps', () => {
  beforeEach(() => {
    // An untagged ENI: only the grace period can make it an orphan.
    emulator.ec2.deleteTags([ids.enis[0].eniId], { 'teardownd:owner': undefined });
  });

  it('starts at first sight, survives in the state file, and makes the orphan once it has run out', async () => {
    const d = deps({ sweeper: { graceMs: 60000 } });
    const first = await sweepOnce(d, { region: 'us-east-1', mode: 'apply' });
    expect(first.counts.orphan).toBe(0);
    const file = JSON.parse(readFileSync(join(dir, 'state', 'sweeper-first-seen.json'), 'utf8'));
    expect(file.regions['us-east-1'][ids.enis[0].eniId]).toEqual({
      kind: 'eni',
      firstSeenAt: new Date(START).toISOString(),
    });
    expect(Object.keys(file.regions['us-east-1']).sort()).toEqual(
      [ids.enis[0].eniId, ids.subnetId, ids.routeTableId, ids.cidrAssociationId].sort(),
    );

    clock.t += 59999;
    expect((await sweepOnce(d, { region: 'us-east-1', mode: 'apply' })).counts.orphan).toBe(0);
    clock.t += 1;
    const due = await sweepOnce(d, { region: 'us-east-1', mode: 'apply' });
    expect(due.counts).toMatchObject({ orphan: 4, removed: 4 });
    expect(emulator.calls.mutating().length).toBeGreaterThan(0);
  });

  it('an unreadable state file restarts the clocks with a warning; other regions keep their records', async () => {
    mkdirSync(join(dir, 'state'), { recursive: true });
    writeFileSync(join(dir, 'state', 'sweeper-first-seen.json'), '{not json');
    const d = deps({ sweeper: { graceMs: 60000 } });
    const r = await sweepOnce(d, { region: 'us-east-1', mode: 'report' });
    expect(r.warnings.join('\n')).toContain('grace clocks restart');
    expect(r.counts.orphan).toBe(0);

    const store = new FirstSeenStore(join(dir, 'state'));
    await store.save('eu-west-1', { 'eni-x': { kind: 'eni', firstSeenMs: START - 5 } });
    await sweepOnce(d, { region: 'us-east-1', mode: 'report' });
    expect((await store.load('eu-west-1')).firstSeen).toEqual({ 'eni-x': START - 5 });
    expect(Object.keys((await store.load('us-east-1')).firstSeen)).toContain(ids.enis[0].eniId);
  });
});

describe('regions', () => {
  it('sweeper.regions, else the host region', () => {
    expect(sweepRegionList(parseConfig({}), 'us-east-1')).toEqual(['us-east-1']);
    expect(
      sweepRegionList(parseConfig({ sweeper: { regions: ['eu-west-1', 'us-east-1', 'eu-west-1'] } }), 'x'),
    ).toEqual(['eu-west-1', 'us-east-1']);
  });

  it('sweeps every region with its own client and writes one report per region; a failing region does not stop the others', async () => {
    const other = await AwsEmulator.start();
    const otherClient = client(other.url, 'eu-west-1');
    try {
      const otherIds = seedLoxilbCluster(other, { peer: false });
      other.ec2.createTags([otherIds.enis[0].eniId], { 'teardownd:owner': otherIds.masterInstanceId });
      other.ec2.terminateInstance(otherIds.masterInstanceId);
      emulator.ec2.denyActions(['DescribeSubnets']);
      const asked: string[] = [];
      const results = await sweepRegions(
        { ...deps(), ec2For: (r) => (asked.push(r), r === 'eu-west-1' ? otherClient : ec2) },
        { regions: ['us-east-1', 'eu-west-1'], mode: 'apply' },
      );
      expect(asked).toEqual(['us-east-1', 'eu-west-1']);
      expect(results.map((x) => [x.report.region, x.report.outcome])).toEqual([
        ['us-east-1', 'failed'],
        ['eu-west-1', 'cleaned'],
      ]);
      expect(leftovers(other, otherIds)).toEqual([]);
      for (const x of results) {
        expect(x.path).toMatch(
          new RegExp(`/reports/sweep-${x.report.region}-\\d{8}T\\d{9}Z-[0-9a-f]{4}\\.json$`),
        );
        expect(JSON.parse(readFileSync(x.path!, 'utf8'))).toEqual(x.report);
      }
    } finally {
      otherClient.destroy();
      await other.stop();
    }
  });
});
