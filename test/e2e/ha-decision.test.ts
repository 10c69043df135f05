import { readFileSync } from 'node:fs';
import { LoxilbCluster, startLoxilbCluster } from '../../sim/loxilb/cluster';
import { LoxilbNode, waitUntil } from '../../sim/loxilb/node';
import { AwsEmulator, DAEMON_ACCESS_KEY_ID } from '../../sim/emulator/server';
import { CallRecord } from '../../sim/emulator/types';
import { DaemonProcess, LogLine, TempWorkspace } from '../helpers/daemon-process';
import {
  currentFootprint,
  decoysIntact,
  LoxilbClusterIds,
  LoxilbClusterOptions,
  seedLoxilbCluster,
} from '../../sim/loxilb/footprint';

/**
 * What teardownd decides, end to end: the real daemon process (`teardownd run`, one per instance,
 * each with its own state dir, `--instance-id` and access key id) against the emulator and a
 * running loxilb cluster that behaves as loxilb does (BFD or kube-loxilb --setRoles, the takeover,
 * loxilb's own SIGTERM path). The order of events comes from the world — instance states, the
 * daemons' log lines, the takeover record — never from sleeping; every wait is bounded.
 *
 * At shutdown the test plays what the host does: EC2 marks the instance shutting-down, systemd stops
 * teardownd (SIGTERM → the shutdown probe) and only then loxilb (its own SIGTERM path), then EC2
 * terminates the instance.
 */

interface Daemon {
  process: DaemonProcess;
  ws: TempWorkspace;
  accessKeyId: string;
  instanceId: string;
}

/**
 * BFD detect time: short enough for a scenario to take seconds, long enough that a loaded machine
 * does not see a session time out (and a spurious takeover) while nothing happened.
 */
const WORLD = { detectMs: 1000 };

let emulator: AwsEmulator;
let ids: LoxilbClusterIds;
let cluster: LoxilbCluster | undefined;
let daemons: Daemon[] = [];

beforeEach(async () => {
  emulator = await AwsEmulator.start({ ec2: { detachDelayMs: 30, cidrDisassociateDelayMs: 30 } });
});

afterEach(async () => {
  for (const d of daemons) await d.process.stop();
  await cluster?.stop();
  cluster = undefined;
  await emulator.stop();
  for (const d of daemons) d.ws.cleanup();
  daemons = [];
});

function seed(opts: LoxilbClusterOptions = {}): LoxilbClusterIds {
  ids = seedLoxilbCluster(emulator, opts);
  return ids;
}

/** `teardownd run` for one instance, reading its own loxilb node, with short intervals. */
async function startDaemon(
  instanceId: string,
  node: LoxilbNode,
  opts: { gate?: Record<string, unknown>; accessKeyId?: string } = {},
): Promise<Daemon> {
  const ws = new TempWorkspace();
  const file = ws.writeConfig({
    cloud: { cidrBlock: ids.cloudCidr },
    gate: {
      loxilbApiUrl: node.apiUrl,
      apiTimeoutMs: 2000,
      observeIntervalMs: 200,
      observationMaxAgeIntervals: 50,
      redecideIntervalMs: 200,
      takeover: { quietMs: 1000, pollMs: 100 },
      ...opts.gate,
    },
    sources: { imds: { pollIntervalMs: 100 }, shutdownProbe: { timeoutMs: 30000 } },
    sweeper: { enabled: false },
    executor: { detachPollIntervalMs: 30, retryBaseDelayMs: 20 },
  });
  const accessKeyId = opts.accessKeyId ?? DAEMON_ACCESS_KEY_ID;
  const process = new DaemonProcess(['-c', file, 'run', '--instance-id', instanceId], {
    ...emulator.env(),
    AWS_ACCESS_KEY_ID: accessKeyId,
  });
  const d = { process, ws, accessKeyId, instanceId };
  daemons.push(d);
  await process.waitForLog((l) => l.message === 'ready', 15000, 'ready');
  // The gate decides from observation: wait until the daemon has read loxilb once.
  await process.waitForLog((l) => String(l.message).startsWith('loxilb HA state:'), 15000, 'an observation');
  return d;
}

const reportLine = (outcome: string) => (l: LogLine) =>
  l.message === 'report written' && l.outcome === outcome;

/** Waits for a report with this outcome and reads it. */
async function report(d: Daemon, outcome: string): Promise<ReportDoc> {
  const line = await d.process.waitForLog(reportLine(outcome), 20000, `a ${outcome} report`);
  return JSON.parse(readFileSync(String(line.resource), 'utf8')) as ReportDoc;
}

/** The parts of a report (lib/report/report.ts) these tests read. */
interface ReportDoc {
  outcome: string;
  gate: {
    scope: string;
    source: string;
    reason: string;
    peers: Array<{ instanceId?: string; ip?: string; alive: boolean }>;
    observation: { ageMs: number; live: boolean };
  };
  redecided: { reason: string };
  actions: Array<{ outcome: string; action: string; resource: string; summary: string }>;
}

/** The daemon's calls that change something on AWS besides its start-up owner tag. */
const changesBy = (d: Daemon) =>
  emulator.calls
    .by(d.accessKeyId)
    .filter((c) => c.mutating && c.service === 'ec2' && c.action !== 'CreateTags');

/** The host goes away: shutting-down, teardownd stopped (SIGTERM probe), then loxilb, then terminated. */
async function hostDies(d: Daemon | undefined, node: LoxilbNode | undefined, instanceId: string) {
  emulator.ec2.setInstanceState(instanceId, 'shutting-down');
  if (d) {
    d.process.signal('SIGTERM');
    expect(await d.process.exit(30000)).toEqual({ code: 0, signal: null });
  }
  await node?.stop();
  emulator.ec2.terminateInstance(instanceId);
}

/** Deleting/disassociating calls that succeeded, per resource: each must appear once. */
function successfulRemovals(): Map<string, CallRecord[]> {
  const removing = new Set([
    'DeleteNetworkInterface',
    'DeleteSubnet',
    'DeleteRouteTable',
    'DisassociateRouteTable',
    'DisassociateVpcCidrBlock',
    'DisassociateAddress',
  ]);
  const out = new Map<string, CallRecord[]>();
  for (const c of emulator.calls.of('ec2')) {
    if (!removing.has(c.action) || c.status !== 200 || c.errorCode) continue;
    const p = c.params as Record<string, string>;
    const id = p.NetworkInterfaceId ?? p.SubnetId ?? p.RouteTableId ?? p.AssociationId ?? p.PublicIp;
    const key = `${c.action} ${id}`;
    out.set(key, [...(out.get(key) ?? []), c]);
  }
  return out;
}

function expectRemovedOnce(): void {
  const twice = [...successfulRemovals()].filter(([, calls]) => calls.length > 1).map(([k]) => k);
  expect(twice).toEqual([]);
}

/** Decoys intact, except the primary ENI / running state of instances that died in the scenario. */
function decoysSurvived(dead: string[]): void {
  const names = dead.map((id) =>
    id === ids.masterInstanceId ? "master's primary ENI" : "peer's primary ENI",
  );
  const peerDead = dead.includes(ids.peerInstanceId!);
  // The unrelated EIP sits on the peer's primary IP: EC2 takes it off when the peer terminates.
  const problems = decoysIntact(emulator, ids).filter(
    (p) =>
      !names.some((n) => p.includes(n)) &&
      !(peerDead && (p.includes('is not running') || p.startsWith('unrelated EIP'))),
  );
  expect(problems).toEqual([]);
}

/** A BFD cluster whose peer is gone (its session BFDDown on the master), and the master's daemon. */
async function lastNodeStanding(gate: Record<string, unknown> = {}): Promise<Daemon> {
  seed();
  cluster = await startLoxilbCluster(emulator, ids, { mode: 'bfd', ...WORLD });
  emulator.ec2.terminateInstance(ids.peerInstanceId!);
  await waitUntil(
    () => cluster!.master.sessionStates()?.[0]?.state === 'BFDDown',
    "the master's session Down",
  );
  return startDaemon(ids.masterInstanceId, cluster.master, { gate });
}

function expectNothingLeft(): void {
  expect(currentFootprint(emulator, ids)).toMatchObject({
    enis: [],
    subnetIds: [],
    routeTableIds: [],
    cidrAssociationId: undefined,
  });
}

describe('spot notice on a MASTER with a live BACKUP: handover', () => {
  it.each(['bfd', 'setroles'] as const)(
    '%s: zero changes by teardownd; after the master dies the peer takes over, EIPs on its ENI, nothing leaks',
    async (mode) => {
      seed({ spot: true, autoScalingGroup: 'loxilb-asg' });
      cluster = await startLoxilbCluster(emulator, ids, { mode, ...WORLD });
      const master = await startDaemon(ids.masterInstanceId, cluster.master);

      emulator.ec2.markSpotForTermination(ids.masterInstanceId);
      emulator.imds.setSpotAction('terminate');
      const first = await report(master, 'handover');
      expect(first.gate.scope).toBe('handover');
      const peer = first.gate.peers.find((p) => p.instanceId === ids.peerInstanceId);
      expect(peer).toMatchObject({ alive: true });
      expect(first.gate.reason).toContain(ids.peerInstanceId);
      if (mode === 'bfd') expect(peer).toMatchObject({ ip: ids.peerPrivateIp, bfdState: 'BFDUp' });
      else expect(first.gate.reason).toMatch(/BFD off .*live member\(s\) of Auto Scaling group loxilb-asg/);
      await master.process.waitForLog((l) => l.message === 'episode closed', 10000, 'episode closed');
      expect(changesBy(master)).toEqual([]);

      // At the SIGTERM probe the handover is looked at again: the peer is still alive, still handover.
      await hostDies(master, cluster.master, ids.masterInstanceId);
      expect(master.process.logs.filter(reportLine('handover'))).toHaveLength(2);
      expect(master.process.logs.some((l) => l.message === 're-examining the handover')).toBe(true);
      expect(changesBy(master)).toEqual([]);

      const takeover = await cluster.peer!.waitForTakeover(20000);
      expect(takeover.status).toBe('succeeded');
      const now = currentFootprint(emulator, ids);
      expect(now.enis).toEqual([expect.objectContaining({ instanceId: ids.peerInstanceId, deviceIndex: 1 })]);
      expect(now.enis[0].eniId).not.toBe(ids.enis[0].eniId);
      expect(now.eips.every((e) => e.eniId === now.enis[0].eniId)).toBe(true);
      expect(now.subnetIds).toHaveLength(1);
      expect(now.routeTableIds).toHaveLength(1);
      expect(now.cidrAssociationId).toBe(ids.cidrAssociationId);
      expectRemovedOnce();
      decoysSurvived([ids.masterInstanceId]);
    },
  );
});

describe('stale-eni: a BACKUP still holding a loxilb ENI', () => {
  it("removes it under its own name once the MASTER's own loxilb ENI exists, and nothing else", async () => {
    seed({ peerLoxilbEni: true });
    cluster = await startLoxilbCluster(emulator, ids, { mode: 'bfd', ...WORLD });
    const peer = await startDaemon(ids.peerInstanceId!, cluster.peer!);
    emulator.imds.setSpotAction('terminate');
    const r = await report(peer, 'handover');
    expect(r.gate.reason).toMatch(/BACKUP/);
    const stale = ids.decoys!.peerEniId!;
    expect(r.actions.map((a) => `${a.action} ${a.resource} ${a.outcome}`)).toEqual([
      `DetachNetworkInterface ${stale} done`,
      `DeleteNetworkInterface ${stale} done`,
    ]);
    expect(r.actions.every((a) => a.summary.startsWith('stale-eni: '))).toBe(true);
    expect(emulator.ec2.networkInterfaceById(stale)).toBeUndefined();
    expect(changesBy(peer).map((c) => c.action)).toEqual([
      'DetachNetworkInterface',
      'DeleteNetworkInterface',
    ]);
    // The MASTER's ENI, its EIPs and the shared resources are untouched.
    const now = currentFootprint(emulator, ids);
    expect(now.enis).toEqual([
      expect.objectContaining({ eniId: ids.enis[0].eniId, instanceId: ids.masterInstanceId }),
    ]);
    expect(now.eips.every((e) => e.eniId === ids.enis[0].eniId)).toBe(true);
    expect(now.subnetIds).toEqual([ids.subnetId]);
    expect(now.cidrAssociationId).toBe(ids.cidrAssociationId);
  });
});

describe('last node standing (BFD)', () => {
  it('full: everything of the cluster goes, decoys stay', async () => {
    const master = await lastNodeStanding();
    emulator.imds.setSpotAction('terminate');
    const r = await report(master, 'clean');
    expect(r.gate).toMatchObject({ scope: 'full', source: 'loxilb-api' });
    expect(r.gate.reason).toMatch(/last node standing/);
    expectNothingLeft();
    decoysSurvived([ids.peerInstanceId!]);
  });
});

describe('both nodes reclaimed at once: the footprint is removed exactly once, nothing leaks, nothing fails', () => {
  it('BFD: a first handover is re-decided when the peer is marked for termination too', async () => {
    seed({ spot: true });
    cluster = await startLoxilbCluster(emulator, ids, { mode: 'bfd', ...WORLD });
    const a = await startDaemon(ids.masterInstanceId, cluster.master, { accessKeyId: 'AKIADAEMONMASTER' });
    const b = await startDaemon(ids.peerInstanceId!, cluster.peer!, { accessKeyId: 'AKIADAEMONPEER' });

    // The spot window: the master's notice first, while its peer still looks fine.
    emulator.ec2.markSpotForTermination(ids.masterInstanceId);
    emulator.imds.setSpotAction('terminate'); // one IMDS: both hosts see a spot notice
    await report(a, 'handover');
    expect((await report(b, 'handover')).gate.reason).toMatch(/BACKUP/);
    expect(changesBy(a)).toEqual([]);

    // Then the peer's end becomes visible: the master's daemon re-decides and tears down.
    emulator.ec2.markSpotForTermination(ids.peerInstanceId!);
    const full = await report(a, 'clean');
    expect(full.gate).toMatchObject({ scope: 'full' });
    expect(full.gate.reason).toMatch(/spot request marked-for-termination/);
    expect(full.redecided.reason).toMatch(/the gate now decides full/);
    expectNothingLeft();

    await Promise.all([
      hostDies(a, cluster.master, ids.masterInstanceId),
      hostDies(b, cluster.peer, ids.peerInstanceId!),
    ]);
    expect(b.process.logs.filter(reportLine('handover')).length).toBeGreaterThanOrEqual(2);
    expect(changesBy(b)).toEqual([]);
    expectNothingLeft();
    expectRemovedOnce();
    expect(changesBy(a).filter((c) => c.errorCode)).toEqual([]);
    expect(full.actions.every((x) => x.outcome === 'done')).toBe(true);
  });

  it('setRoles: the MASTER sees its group peer reclaimed (full), the promoted peer cleans its own takeover at SIGTERM', async () => {
    seed({ spot: true, autoScalingGroup: 'loxilb-asg' });
    cluster = await startLoxilbCluster(emulator, ids, { mode: 'setroles', ...WORLD });
    const a = await startDaemon(ids.masterInstanceId, cluster.master, { accessKeyId: 'AKIADAEMONMASTER' });
    const b = await startDaemon(ids.peerInstanceId!, cluster.peer!, { accessKeyId: 'AKIADAEMONPEER' });

    emulator.ec2.markSpotForTermination(ids.masterInstanceId);
    emulator.ec2.markSpotForTermination(ids.peerInstanceId!);
    emulator.imds.setSpotAction('terminate');
    const full = await report(a, 'clean');
    expect(full.gate.reason).toMatch(/BFD off.*no other live member of Auto Scaling group loxilb-asg/);
    expect((await report(b, 'handover')).gate.reason).toMatch(/BACKUP/);
    expectNothingLeft();

    // The master goes; kube-loxilb promotes the peer, whose loxilb takes over (it cannot know better).
    await hostDies(a, cluster.master, ids.masterInstanceId);
    const takeover = await cluster.peer!.waitForTakeover(20000);
    // Whether the takeover got through or aborted on the CIDR, what it created is the peer's to remove.
    expect(['succeeded', 'aborted']).toContain(takeover.status);
    expect(changesBy(b)).toEqual([]);

    await hostDies(b, cluster.peer, ids.peerInstanceId!);
    // At its SIGTERM probe the promoted peer is MASTER with no live member left: full.
    const last = await report(b, takeover.status === 'succeeded' ? 'clean' : 'nothing-to-do');
    expect(last.gate.scope).toBe('full');
    expect(last.redecided.reason).toMatch(/SIGTERM shutdown probe/);
    expectNothingLeft();
    expectRemovedOnce();
    for (const d of [a, b]) expect(changesBy(d).filter((c) => c.errorCode)).toEqual([]);
  });
});

describe("SIGTERM while the promoted node's own loxilb takeover is still running", () => {
  it('setRoles: the teardown waits until the takeover stopped changing things, then removes everything once, its new ENI too', async () => {
    seed({ spot: true, autoScalingGroup: 'loxilb-asg' });
    cluster = await startLoxilbCluster(emulator, ids, { mode: 'setroles', ...WORLD });
    const a = await startDaemon(ids.masterInstanceId, cluster.master, { accessKeyId: 'AKIADAEMONMASTER' });
    // A quiet period far longer than this test needs: the takeover is released as soon as the daemon
    // says it waits, so only a daemon that did not wait could see it finish late.
    const b = await startDaemon(ids.peerInstanceId!, cluster.peer!, {
      accessKeyId: 'AKIADAEMONPEER',
      gate: { takeover: { quietMs: 15000, waitMs: 25000, pollMs: 100 } },
    });

    emulator.ec2.markSpotForTermination(ids.masterInstanceId);
    emulator.ec2.markSpotForTermination(ids.peerInstanceId!);
    emulator.imds.setSpotAction('terminate');
    await report(a, 'clean');
    expect((await report(b, 'handover')).gate.reason).toMatch(/BACKUP/);

    // The master goes; kube-loxilb promotes the peer, whose takeover is slow to create its ENI.
    const held = cluster.peer!.holdCloudCall('CreateNetworkInterface');
    await hostDies(a, cluster.master, ids.masterInstanceId);
    await held.reached;

    // The peer's host is terminated now, in the middle of that takeover.
    emulator.ec2.setInstanceState(ids.peerInstanceId!, 'shutting-down');
    b.process.signal('SIGTERM');
    const waiting = await b.process.waitForLog(
      (l) => String(l.message).includes('waiting for its own loxilb takeover to settle'),
      20000,
      'the wait for the takeover',
    );
    expect(waiting.promotedAt).toEqual(expect.any(String));
    const changedWhileTakingOver = changesBy(b);
    held.release();
    const takeover = await cluster.peer!.waitForTakeover(20000);
    // EC2 attaches nothing to a shutting-down instance: loxilb's takeover stops at its first error,
    // leaving the ENI it just created unattached (loxilb-ha.md, phase B).
    expect(takeover).toMatchObject({
      status: 'aborted',
      failedCall: { action: 'AttachNetworkInterface', errorCode: 'IncorrectInstanceState' },
    });
    expect(await b.process.exit(30000)).toEqual({ code: 0, signal: null });
    await cluster.peer!.stop();
    emulator.ec2.terminateInstance(ids.peerInstanceId!);

    expect(changedWhileTakingOver).toEqual([]);
    const last = await report(b, 'clean');
    expect(last.gate).toMatchObject({ scope: 'full', takeover: { settled: 'quiet' } });
    expect(last.redecided.reason).toMatch(/SIGTERM shutdown probe/);
    // What the takeover created after the teardown began waiting is gone too: nothing leaks.
    expect(takeover.eniId).toEqual(expect.stringMatching(/^eni-/));
    expect(last.actions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          action: 'DeleteNetworkInterface',
          resource: takeover.eniId,
          outcome: 'done',
        }),
      ]),
    );
    expectNothingLeft();
    expectRemovedOnce();
    for (const d of [a, b]) expect(changesBy(d).filter((c) => c.errorCode)).toEqual([]);
  });
});

describe('a stop is not the end of the host', () => {
  it('spot stop: no episode, no change; the host keeps its ENI and loxilb rebuilds on start', async () => {
    seed();
    cluster = await startLoxilbCluster(emulator, ids, { mode: 'bfd', ...WORLD });
    const master = await startDaemon(ids.masterInstanceId, cluster.master);
    emulator.imds.setSpotAction('stop');
    await master.process.waitForLog(
      (l) => String(l.message).startsWith('spot-stop notice noted; a stop keeps the host'),
      10000,
      'the stop noted',
    );
    expect(master.process.logs.some((l) => l.message === 'episode opened')).toBe(false);
    expect(changesBy(master)).toEqual([]);
    expect(currentFootprint(emulator, ids).enis.map((e) => e.eniId)).toEqual([ids.enis[0].eniId]);
  });
});

describe('SIGTERM with loxilb already stopped', () => {
  it('decides from the last observation, and the report shows its age', async () => {
    const master = await lastNodeStanding({ observeIntervalMs: 1000, observationMaxAgeIntervals: 60 });
    await master.process.waitForLog(
      (l) => String(l.message).includes('MASTER; BFD') && String(l.message).includes('BFDDown'),
      10000,
      'the last-node-standing observation',
    );
    await cluster!.master.kill();
    await master.process.waitForLog(
      (l) => l.message === 'loxilb API did not answer; keeping the last observation',
      10000,
      'loxilb gone',
    );
    emulator.ec2.setInstanceState(ids.masterInstanceId, 'shutting-down');
    master.process.signal('SIGTERM');
    expect(await master.process.exit(30000)).toEqual({ code: 0, signal: null });
    const r = await report(master, 'clean');
    expect(r.gate).toMatchObject({ scope: 'full', observation: { live: false } });
    expect(r.gate.observation.ageMs).toBeGreaterThan(0);
    expect(r.gate.reason).toMatch(/last observation, \d+ s old/);
    expectNothingLeft();
  });
});
