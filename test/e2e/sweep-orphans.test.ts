import { readFileSync, writeFileSync } from 'node:fs';
import { AwsEmulator } from '../../sim/emulator/server';
import { EmulatorRequest, EmulatorResponse } from '../../sim/emulator/types';
import { runCli, RunResult, TempWorkspace } from '../helpers/daemon-process';
import { decoysIntact, leftovers, LoxilbClusterIds, seedLoxilbCluster } from '../../sim/loxilb/footprint';
import { reportOf } from '../helpers/teardown-cli';

/**
 * Issue #4, end to end: `teardownd sweep [--apply]` as a real child process, with the real EC2 client,
 * against the emulator. A master that vanished without notice leaves its loxilb footprint behind;
 * the sweeper finds it (report mode: zero mutating calls) and removes it (apply mode), and never
 * touches what a live master, the peer, or another loxilb cluster in the same VPC still uses.
 */

interface SweepDoc {
  exitCode: number;
  files: string[];
  reports: Array<{
    region: string;
    mode: string;
    outcome: string;
    candidates: Array<{
      resource: string;
      kind: string;
      verdict: string;
      result: string;
      reason: string;
      evidence: Record<string, unknown>;
    }>;
    left: Array<{ resource: string; manualCommands: string[] }>;
    calls: { read: number; mutate: number };
  }>;
}

const MINUTE = 60000;

/** With --json the logs go to stderr: anything there that is not an info/debug log line is a problem. */
function stderrProblems(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter((l) => l.trim())
    .filter((l) => {
      try {
        const level = (JSON.parse(l) as { level?: string }).level;
        return level !== 'info' && level !== 'debug';
      } catch {
        return true;
      }
    });
}
const DELETES = new Set(['DeleteNetworkInterface', 'DeleteSubnet', 'DeleteRouteTable', 'ReleaseAddress']);

describe('teardownd sweep: orphans of a dead master', () => {
  let emulator: AwsEmulator;
  let ws: TempWorkspace;
  let ids: LoxilbClusterIds;

  beforeEach(async () => {
    emulator = await AwsEmulator.start({ ec2: { cidrDisassociateDelayMs: 50 } });
    ws = new TempWorkspace();
  });
  afterEach(async () => {
    await emulator.stop();
    ws.cleanup();
  });

  const config = (over: Record<string, unknown> = {}) =>
    ws.writeConfig({
      cloud: { cidrBlock: ids.cloudCidr },
      sweeper: { graceMs: 10 * MINUTE },
      executor: { retryBaseDelayMs: 20 },
      ...over,
    });
  const sweep = async (...args: string[]): Promise<RunResult & { doc: SweepDoc }> => {
    const res = await runCli(['-c', config(), 'sweep', '--json', ...args], emulator.env());
    return { ...res, doc: JSON.parse(res.stdout) as SweepDoc };
  };
  const verdictOf = (doc: SweepDoc, id: string) => doc.reports[0].candidates.find((c) => c.resource === id);
  /** What a dead master cannot keep: its own primary ENI went with it. */
  const intact = () => decoysIntact(emulator, ids).filter((p) => !p.includes("master's primary ENI"));
  /** Moves every grace-period record back by `ms` (as if the sweeps had started that long ago). */
  const backdate = (ms: number) => {
    const file = ws.path('state', 'sweeper-first-seen.json');
    const data = JSON.parse(readFileSync(file, 'utf8')) as {
      regions: Record<string, Record<string, { firstSeenAt: string }>>;
    };
    for (const region of Object.values(data.regions))
      for (const rec of Object.values(region))
        rec.firstSeenAt = new Date(Date.parse(rec.firstSeenAt) - ms).toISOString();
    writeFileSync(file, JSON.stringify(data));
  };

  it('no owner tag: reported only after the grace period, with zero mutating calls; then --apply removes everything, decoys and the other cluster intact', async () => {
    ids = seedLoxilbCluster(emulator, { peer: false, enis: 2, vips: 2, eips: 1 });
    emulator.ec2.terminateInstance(ids.masterInstanceId);
    const before = leftovers(emulator, ids);
    expect(before.map((l) => l.kind)).toEqual(
      expect.arrayContaining(['eip-association', 'eni', 'route-table', 'subnet', 'cidr-association']),
    );

    // First sight: everything waits on the grace period.
    const first = await sweep();
    expect(stderrProblems(first.stderr)).toEqual([]);
    expect(first.code).toBe(0);
    const r1 = first.doc.reports[0];
    expect(r1).toMatchObject({ region: 'us-east-1', mode: 'report', outcome: 'clean' });
    for (const eni of ids.enis) {
      expect(verdictOf(first.doc, eni.eniId)).toMatchObject({ verdict: 'uncertain', result: 'kept' });
      expect(verdictOf(first.doc, eni.eniId)!.reason).toMatch(/grace|first seen/);
    }
    expect(verdictOf(first.doc, ids.subnetId)).toMatchObject({ verdict: 'uncertain' });
    expect(emulator.calls.mutating()).toEqual([]);

    // Seen unattached for longer than the grace period: orphans, reported, still untouched.
    backdate(11 * MINUTE);
    const second = await sweep();
    expect(second.code).toBe(1);
    const r2 = second.doc.reports[0];
    expect(r2.outcome).toBe('orphans-found');
    for (const id of [
      ...ids.enis.map((e) => e.eniId),
      ids.subnetId,
      ids.routeTableId,
      ids.cidrAssociationId,
    ]) {
      expect(verdictOf(second.doc, id)).toMatchObject({ verdict: 'orphan', result: 'reported' });
    }
    expect(r2.left.find((l) => l.resource === ids.subnetId)?.manualCommands).toEqual([
      `aws ec2 delete-subnet --subnet-id ${ids.subnetId}`,
    ]);
    expect(r2.calls.mutate).toBe(0);
    expect(emulator.calls.mutating()).toEqual([]);
    expect(leftovers(emulator, ids)).toEqual(before);
    // The report file is the same document.
    expect(second.doc.files[0]).toMatch(/sweep-us-east-1-\d{8}T\d{9}Z-[0-9a-f]{4}\.json$/);
    expect(JSON.parse(readFileSync(second.doc.files[0], 'utf8'))).toEqual(r2);

    // --apply: removed, in dependency order, nothing else touched.
    const applied = await sweep('--apply');
    expect(stderrProblems(applied.stderr)).toEqual([]);
    expect(applied.code).toBe(0);
    expect(applied.doc.reports[0].outcome).toBe('cleaned');
    expect(leftovers(emulator, ids)).toEqual([]);
    expect(intact()).toEqual([]);
    const order = emulator.calls
      .mutating('ec2')
      .filter((c) => c.status === 200)
      .map((c) => c.action);
    expect(order.lastIndexOf('DisassociateAddress')).toBeLessThan(order.indexOf('DeleteNetworkInterface'));
    expect(order.lastIndexOf('DeleteNetworkInterface')).toBeLessThan(order.indexOf('DeleteRouteTable'));
    expect(order.indexOf('DeleteSubnet')).toBeLessThan(order.indexOf('DisassociateVpcCidrBlock'));

    // Nothing left: a further sweep is clean and changes nothing.
    const mutated = emulator.calls.mutating().length;
    const again = await sweep('--apply');
    expect(again.code).toBe(0);
    expect(again.doc.reports[0].outcome).toBe('clean');
    expect(emulator.calls.mutating().length).toBe(mutated);
  });

  it('owner tag naming a terminated or a non-existent instance: left to the live peer’s takeover for sweeper.takeoverGraceMs, then removed; the live peer keeps the shared resources', async () => {
    ids = seedLoxilbCluster(emulator, { vips: 2, eips: 2, peerLoxilbEni: true });
    // What the master's daemon wrote at start-up (lib/sweeper/ownership.ts).
    emulator.ec2.createTags([ids.enis[0].eniId], { 'teardownd:owner': ids.masterInstanceId });
    // A loxilb ENI whose owner never existed in this account (a host of a deleted stack, say).
    const ghost = emulator.ec2.createNetworkInterface({
      subnetId: ids.subnetId,
      description: 'loxilb-eni',
      tags: { loxiType: 'loxilb-eni', 'teardownd:owner': 'i-0123456789abcdef0' },
    }).networkInterfaceId;
    // Another loxilb cluster in the same VPC: its orphan-looking ENI is not ours to judge.
    const otherEni = emulator.ec2.createNetworkInterface({
      subnetId: ids.decoys!.otherSubnetId,
      description: 'loxilb-eni',
      tags: { loxiType: 'loxilb-eniother', 'teardownd:owner': ids.masterInstanceId },
    }).networkInterfaceId;
    emulator.ec2.terminateInstance(ids.masterInstanceId);

    // The peer is alive: the dead master's ENI belongs to its takeover (default grace: 10 minutes).
    const early = await sweep('--apply');
    expect(early.code).toBe(0);
    for (const id of [ids.enis[0].eniId, ghost]) {
      expect(verdictOf(early.doc, id)).toMatchObject({ verdict: 'uncertain', result: 'kept' });
      expect(verdictOf(early.doc, id)!.reason).toContain('belongs to the takeover');
    }
    expect(emulator.calls.mutating('ec2')).toEqual([]);

    // Past the grace (here: none), the takeover is over and what is left is an orphan.
    const res = await runCli(
      ['-c', config({ sweeper: { graceMs: 10 * MINUTE, takeoverGraceMs: 0 } }), 'sweep', '--json', '--apply'],
      emulator.env(),
    ).then((r) => ({ ...r, doc: JSON.parse(r.stdout) as SweepDoc }));
    expect(stderrProblems(res.stderr)).toEqual([]);
    expect(res.code).toBe(0);
    expect(verdictOf(res.doc, ids.enis[0].eniId)).toMatchObject({ verdict: 'orphan', result: 'removed' });
    expect(verdictOf(res.doc, ids.enis[0].eniId)!.reason).toContain(
      `owner ${ids.masterInstanceId} terminated`,
    );
    expect(verdictOf(res.doc, ghost)).toMatchObject({ verdict: 'orphan', result: 'removed' });
    expect(verdictOf(res.doc, ghost)!.reason).toContain('does not exist');
    expect(verdictOf(res.doc, ids.decoys!.peerEniId!)).toMatchObject({ verdict: 'in-use', result: 'kept' });
    for (const id of [ids.subnetId, ids.routeTableId, ids.cidrAssociationId]) {
      expect(verdictOf(res.doc, id)).toMatchObject({ verdict: 'in-use', result: 'kept' });
    }
    expect(verdictOf(res.doc, otherEni)).toBeUndefined();

    expect(emulator.ec2.networkInterfaceById(ids.enis[0].eniId)).toBeUndefined();
    expect(emulator.ec2.networkInterfaceById(ghost)).toBeUndefined();
    expect(emulator.ec2.networkInterfaceById(otherEni)).toBeDefined();
    // The EIPs are the user's: disassociated from the dead ENI, never released.
    for (const a of ids.enis[0].allocationIds) {
      expect(emulator.ec2.addressById(a)).toMatchObject({ allocationId: a });
      expect(emulator.ec2.addressById(a)!.association).toBeUndefined();
    }
    expect(
      leftovers(emulator, ids)
        .map((l) => l.kind)
        .sort(),
    ).toEqual(['cidr-association', 'route-table', 'route-table-association', 'subnet'].sort());
    expect(intact()).toEqual([]);
    const touched = emulator.calls.mutating('ec2').map((c) => JSON.stringify(c.params));
    for (const id of [
      ids.subnetId,
      ids.routeTableId,
      ids.cidrAssociationId,
      otherEni,
      ids.decoys!.otherSubnetId,
    ]) {
      expect(touched.filter((p) => p.includes(id))).toEqual([]);
    }
  });

  it('two sweepers at once: nothing leaked, no error, no resource deleted twice', async () => {
    ids = seedLoxilbCluster(emulator, { peer: false, enis: 3, vips: 2, eips: 2 });
    for (const e of ids.enis) emulator.ec2.createTags([e.eniId], { 'teardownd:owner': ids.masterInstanceId });
    emulator.ec2.terminateInstance(ids.masterInstanceId);
    emulator.faults.baseLatencyMs = 5;
    // A barrier in front of EC2: no change goes through until both sweepers have finished discovery
    // (each sends one DescribeVpcs then), so both plan the same deletes and then race for them.
    const ec2 = emulator.ec2;
    const handle = ec2.handle.bind(ec2);
    let open = false;
    const barrier = (async () => {
      const until = Date.now() + 10000;
      while (emulator.calls.of('ec2', 'DescribeVpcs').length < 2 && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 5));
      }
      open = true;
    })();
    // The server awaits the handler's answer, so an async stand-in may hold a call back.
    const held = async (req: EmulatorRequest): Promise<EmulatorResponse> => {
      if (!open && !/^Describe/.test(req.action)) await barrier;
      return handle(req);
    };
    ec2.handle = held as unknown as typeof ec2.handle;
    const file = config({ sweeper: { graceMs: 0 } });
    const env = emulator.env();
    const [a, b] = await Promise.all([
      runCli(['-c', file, 'sweep', '--apply'], env),
      runCli(['-c', file, 'sweep', '--apply'], env),
    ]);
    await barrier;
    expect(emulator.calls.of('ec2', 'DescribeVpcs').length).toBeGreaterThanOrEqual(2);
    expect(a.stderr).toBe('');
    expect(b.stderr).toBe('');
    expect([a.code, b.code]).toEqual([0, 0]);
    // They really overlapped: both made changes, and each saw the other's work as already done.
    const reports = [a, b].map((r) => reportOf(r.stdout) as SweepDoc['reports'][0]);
    for (const r of reports) {
      expect(r.outcome).toBe('cleaned');
      expect(r.calls.mutate).toBeGreaterThan(0);
    }
    expect(leftovers(emulator, ids)).toEqual([]);
    expect(intact()).toEqual([]);

    const successes = new Map<string, number>();
    for (const c of emulator.calls.mutating('ec2')) {
      if (!DELETES.has(c.action) || c.status !== 200) continue;
      const key = `${c.action} ${JSON.stringify(c.params)}`;
      successes.set(key, (successes.get(key) ?? 0) + 1);
    }
    expect([...successes.values()].filter((n) => n > 1)).toEqual([]);
    // Every orphan went exactly once.
    expect([...successes.keys()].filter((k) => k.startsWith('DeleteNetworkInterface')).length).toBe(
      ids.enis.length,
    );
    expect([...successes.keys()].filter((k) => k.startsWith('DeleteSubnet')).length).toBe(1);
  });
});
