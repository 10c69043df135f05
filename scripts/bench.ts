/**
 * `npm run bench`: how fast teardownd releases a host's loxilb resources, how it scales, and what it
 * costs at rest — against the bundled emulator with injected per-call latency and ENI detach delay.
 * Prints a table and writes JSON (bench-results/bench-<time>.json or --out). Outside the test suite
 * on purpose: figures, not assertions.
 *
 * The teardown table is loxilb's real footprint first — ONE ENI per cluster with every VIP on it,
 * here 1 ENI × N VIPs with N EIPs (`--vips`; 49 is the most secondary IPs one ENI takes on large
 * instances) — then the multi-ENI stress case (`--footprints` ENIs × 4 VIPs/EIPs). Each footprint
 * runs twice: the executor alone (no pacer, no account bucket), and as the daemon runs it (the
 * client-side pacer `aws.mutatingBucket`, 50 burst / 5 per s) against an emulated account bucket
 * of the same size.
 *
 *   npm run bench -- [--latency-ms 50] [--detach-delay-ms 1000] [--vips 1,16,49] [--footprints 10,100]
 *                    [--episodes 5] [--idle-seconds 60] [--soak-seconds 0] [--flood-seconds 40]
 *                    [--only teardown,notice,rest,flood] [--variants ts,bundle,binary] [--quick]
 *                    [--out FILE]
 *
 * At rest is measured for each way the daemon can run: the TypeScript build on this Node, the
 * bundle (build/teardownd.cjs) on this Node, and the single executable (build/teardownd, its own
 * Node 22) — the last two when `npm run package` has built them. `--soak-seconds 600` adds a
 * 10-minute soak per variant with the RSS slope (MB per hour, least squares over 1 s samples).
 * Each first starts once with its runtime's page cache dropped (cold start-up: code read from disk,
 * as at boot) and is then measured on its next start, the cache filled by reading as on a host.
 * The binary is also measured with the page cache as found (not in a soak), because file-backed RSS
 * depends on it.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  DeleteNetworkInterfaceCommand,
  DeleteRouteTableCommand,
  DeleteSubnetCommand,
  DescribeNetworkInterfacesCommand,
  DetachNetworkInterfaceCommand,
  DisassociateAddressCommand,
  DisassociateRouteTableCommand,
  DisassociateVpcCidrBlockCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { Command } from 'commander';
import { TokenBucket } from '../lib/aws/pacer';
import { systemClock } from '../lib/clock';
import { parseConfig } from '../lib/config/load';
import { buildPlanFor, runTeardown } from '../lib/episode/engine';
import { nullLogger } from '../lib/log';
import { createLoxilbApi } from '../lib/gate/loxilb-api';
import { PlannedAction } from '../lib/plan/actions';
import { AwsEmulator } from '../sim/emulator/server';
import { leftovers, seedLoxilbCluster } from '../sim/loxilb/footprint';
import { flood, spotNotice } from '../sim/notice-flood';
import { packagePaths } from './package';

interface Options {
  latencyMs: number;
  detachDelayMs: number;
  /** 1 ENI × N VIPs with N EIPs, for each N: loxilb's real footprint. */
  vips: number[];
  /** ENI counts of the multi-ENI stress case (each ENI × 4 VIPs/EIPs). */
  footprints: number[];
  episodes: number;
  idleSeconds: number;
  soakSeconds: number;
  /** Three hosts under a 1,000-message flood, per topology (issue 11). */
  floodSeconds: number;
  /** Sections to run: teardown, notice, rest, flood (default all). */
  only: Set<string>;
  /** At rest: which ways to run it (ts, bundle, binary; default all that exist). */
  variants?: Set<string>;
  out?: string;
}

const CLI = resolve(__dirname, '../daemon/main.js');
/** VIPs (and EIPs) per ENI in the multi-ENI stress case. */
const STRESS_VIPS = 4;

interface Footprint {
  enis: number;
  vips: number;
  eips: number;
}

const footprintLabel = (f: Footprint) => `${f.enis} ENI${f.enis === 1 ? '' : 's'} × ${f.vips} VIPs`;

function parseOptions(): Options {
  const p = new Command('npm run bench --')
    .option('--latency-ms <n>', 'latency added to every AWS call', '50')
    .option('--detach-delay-ms <n>', 'time an ENI takes to detach', '1000')
    .option('--vips <list>', "1 ENI × N VIPs with N EIPs, for each N (loxilb's footprint)", '1,16,49')
    .option('--footprints <list>', 'ENI counts of the stress case (× 4 VIPs/EIPs each)', '10,100')
    .option('--episodes <n>', 'notice-latency episodes per source', '5')
    .option('--idle-seconds <n>', 'at-rest measurement length', '60')
    .option('--soak-seconds <n>', 'soak length per variant for the RSS slope (0 = none)', '0')
    .option(
      '--flood-seconds <n>',
      'how long 3 hosts are measured under a 1,000-message flood, per topology',
      '40',
    )
    .option('--only <sections>', 'comma-separated: teardown,notice,rest,flood', 'teardown,notice,rest,flood')
    .option('--variants <list>', 'at rest: comma-separated ts,bundle,binary (default: all that are built)')
    .option('--quick', 'small everything: a smoke run in well under a minute')
    .option('--out <file>', 'JSON output file');
  p.parse(process.argv);
  const o = p.opts<Record<string, string | boolean | undefined>>();
  const quick = Boolean(o.quick);
  return {
    latencyMs: Number(o.latencyMs),
    detachDelayMs: quick ? 300 : Number(o.detachDelayMs),
    vips: quick ? [1, 49] : String(o.vips).split(',').filter(Boolean).map(Number),
    footprints: quick ? [10] : String(o.footprints).split(',').filter(Boolean).map(Number),
    episodes: quick ? 2 : Number(o.episodes),
    idleSeconds: quick ? 6 : Number(o.idleSeconds),
    soakSeconds: Number(o.soakSeconds),
    floodSeconds: quick ? 8 : Number(o.floodSeconds),
    only: new Set(String(o.only).split(',')),
    variants: o.variants ? new Set(String(o.variants).split(',')) : undefined,
    out: o.out as string | undefined,
  };
}

const median = (xs: number[]) => percentile(xs, 50);
export function percentile(xs: number[], p: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = (p / 100) * (s.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return s[lo] + (s[hi] - s[lo]) * (rank - lo);
}

/**
 * The critical-path bound of a full teardown: the longest chain of calls that must happen one after
 * another — discovery (two parallel Describe rounds), DisassociateAddress (every EIP in one wave) →
 * DetachNetworkInterface → [detach delay] → DeleteNetworkInterface → DisassociateRouteTable →
 * DeleteRouteTable → DeleteSubnet → DisassociateVpcCidrBlock — each call costing the injected
 * latency. The same for 1 ENI × 1 VIP and 1 ENI × 49 VIPs: only as many EIP waves as that one
 * would be slower. Not counted: the detach poll's interval (100 ms here) and its Describe.
 */
export function criticalPathMs(latencyMs: number, detachDelayMs: number): number {
  const discoveryRounds = 2;
  const chain = 7;
  return (discoveryRounds + chain) * latencyMs + detachDelayMs;
}

function ec2Client(emulator: AwsEmulator): EC2Client {
  return new EC2Client({
    region: 'us-east-1',
    endpoint: emulator.url,
    credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
    maxAttempts: 1,
  });
}

/** The engine with the daemon's defaults; `paced` adds the daemon's pacer of mutating calls. */
async function engineDeps(emulator: AwsEmulator, paced = false) {
  const config = parseConfig({
    gate: { mode: 'override', override: 'full' },
    executor: { detachPollIntervalMs: 100 },
  });
  return {
    ec2: ec2Client(emulator),
    config,
    clock: systemClock,
    logger: nullLogger(),
    loxilb: createLoxilbApi({ baseUrl: config.gate.loxilbApiUrl, timeoutMs: 100, fetch }),
    ...(paced ? { pacer: new TokenBucket(config.aws.mutatingBucket, systemClock) } : {}),
  };
}

/** EC2's account-wide buckets (mutating: 50 burst, 5/s; Describe: 100 burst, 20/s). */
function accountBuckets(emulator: AwsEmulator): void {
  emulator.faults.addBucket({ service: 'ec2', action: /^(?!Describe)/, capacity: 50, refillPerSecond: 5 });
  emulator.faults.addBucket({ service: 'ec2', action: /^Describe/, capacity: 100, refillPerSecond: 20 });
}

interface TeardownRun {
  wallMs: number;
  calls: number;
  describeCalls: number;
  mutatingCalls: number;
  /**
   * Answers RequestLimitExceeded (only the paced run has an account bucket). The pacer is sized like
   * the bucket with no margin, so jitter in when requests arrive can still draw an occasional one,
   * which the call path retries.
   */
  throttled: number;
  callsByAction: Record<string, number>;
  outcome: string;
  clean: boolean;
}

interface TeardownRow extends Footprint {
  label: string;
  /** EIPs + ENIs + subnet + route table + CIDR association. */
  resources: number;
  /** The executor alone: no pacer, no account bucket. */
  unpaced: TeardownRun;
  /** As the daemon runs: the pacer (aws.mutatingBucket), against an account bucket of the same size. */
  paced: TeardownRun;
  sequentialMs: number;
  criticalPathMs: number;
  /** Mutating calls beyond the bucket's burst, at its refill rate: the pacer's floor. */
  bucketFloorMs: number;
  vsCriticalPath: number;
  pacedVsCriticalPath: number;
  speedupVsSequential: number;
  callsPerResource: number;
}

async function withEmulator<T>(opts: Options, fn: (e: AwsEmulator) => Promise<T>): Promise<T> {
  const emulator = await AwsEmulator.start({ ec2: { detachDelayMs: opts.detachDelayMs } });
  emulator.faults.baseLatencyMs = opts.latencyMs;
  try {
    return await fn(emulator);
  } finally {
    await emulator.stop();
  }
}

/** The same plan, one call at a time with a fixed-interval wait for each detach: loxilb's shutdown path, or a shell script of CLI calls. */
async function runSequential(ec2: EC2Client, actions: PlannedAction[]): Promise<void> {
  for (const a of actions) {
    const p = a.params;
    switch (p.action) {
      case 'DisassociateAddress':
        await ec2.send(new DisassociateAddressCommand({ AssociationId: p.associationId }));
        break;
      case 'DetachNetworkInterface':
        await ec2.send(new DetachNetworkInterfaceCommand({ AttachmentId: p.attachmentId }));
        break;
      case 'DeleteNetworkInterface':
        for (;;) {
          const r = await ec2.send(
            new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [p.networkInterfaceId] }),
          );
          if (r.NetworkInterfaces?.[0]?.Status === 'available') break;
          await new Promise((res) => setTimeout(res, 100));
        }
        await ec2.send(new DeleteNetworkInterfaceCommand({ NetworkInterfaceId: p.networkInterfaceId }));
        break;
      case 'DisassociateRouteTable':
        await ec2.send(new DisassociateRouteTableCommand({ AssociationId: p.associationId }));
        break;
      case 'DeleteRouteTable':
        await ec2.send(new DeleteRouteTableCommand({ RouteTableId: p.routeTableId }));
        break;
      case 'DeleteSubnet':
        await ec2.send(new DeleteSubnetCommand({ SubnetId: p.subnetId }));
        break;
      case 'DisassociateVpcCidrBlock':
        await ec2.send(new DisassociateVpcCidrBlockCommand({ AssociationId: p.associationId }));
        break;
      default:
        throw new Error(`bench: unexpected ${p.action}`);
    }
  }
}

/** Orders the plan the way a sequential script would: each ENI's EIPs, detach, wait, delete; then the shared resources. */
function sequentialOrder(actions: PlannedAction[]): PlannedAction[] {
  const byEni = new Map<string, PlannedAction[]>();
  const rest: PlannedAction[] = [];
  for (const a of actions.filter((x) => x.status === 'planned')) {
    const eni =
      a.params.action === 'DisassociateAddress' ||
      a.params.action === 'DetachNetworkInterface' ||
      a.params.action === 'DeleteNetworkInterface'
        ? a.params.networkInterfaceId
        : undefined;
    if (eni) byEni.set(eni, [...(byEni.get(eni) ?? []), a]);
    else rest.push(a);
  }
  return [...[...byEni.values()].flat(), ...rest];
}

async function timedTeardown(opts: Options, f: Footprint, paced: boolean): Promise<TeardownRun> {
  return withEmulator(opts, async (emulator) => {
    if (paced) accountBuckets(emulator);
    const ids = seedLoxilbCluster(emulator, f);
    const deps = await engineDeps(emulator, paced);
    const started = Date.now();
    const report = await runTeardown(deps, {
      instanceId: ids.masterInstanceId,
      episode: `bench-${f.enis}x${f.vips}`,
      dryRun: false,
    });
    const wallMs = Date.now() - started;
    deps.ec2.destroy();
    const calls = emulator.calls.of('ec2');
    const callsByAction: Record<string, number> = {};
    for (const c of calls) callsByAction[c.action] = (callsByAction[c.action] ?? 0) + 1;
    return {
      wallMs,
      calls: calls.length,
      describeCalls: calls.filter((c) => c.action.startsWith('Describe')).length,
      mutatingCalls: calls.filter((c) => c.mutating).length,
      throttled: calls.filter((c) => c.errorCode === 'RequestLimitExceeded').length,
      callsByAction,
      outcome: report.outcome,
      clean: leftovers(emulator, ids).length === 0,
    };
  });
}

async function teardownRow(opts: Options, f: Footprint): Promise<TeardownRow> {
  const unpaced = await timedTeardown(opts, f, false);
  const paced = await timedTeardown(opts, f, true);
  const sequentialMs = await withEmulator(opts, async (emulator) => {
    const ids = seedLoxilbCluster(emulator, f);
    const deps = await engineDeps(emulator);
    const started = Date.now();
    const { plan } = await buildPlanFor(deps, {
      instanceId: ids.masterInstanceId,
      episode: 'seq',
      dryRun: true,
    });
    await runSequential(deps.ec2, sequentialOrder(plan.actions));
    const ms = Date.now() - started;
    deps.ec2.destroy();
    if (leftovers(emulator, ids).length)
      throw new Error('bench: the sequential baseline left resources behind');
    return ms;
  });
  const cp = criticalPathMs(opts.latencyMs, opts.detachDelayMs);
  const bucket = parseConfig({}).aws.mutatingBucket;
  const resources = f.enis * (1 + f.eips) + 3;
  return {
    ...f,
    label: footprintLabel(f),
    resources,
    unpaced,
    paced,
    sequentialMs,
    criticalPathMs: cp,
    bucketFloorMs: (Math.max(0, unpaced.mutatingCalls - bucket.capacity) / bucket.refillPerSecond) * 1000,
    vsCriticalPath: unpaced.wallMs / cp,
    pacedVsCriticalPath: paced.wallMs / cp,
    speedupVsSequential: sequentialMs / unpaced.wallMs,
    callsPerResource: unpaced.calls / resources,
  };
}

/**
 * The stress footprints inside EC2's account bucket WITHOUT the pacer: what the pacer saves (the
 * paced run of the main table is the same footprint and bucket with it).
 */
async function throttledRow(opts: Options, enis: number) {
  return withEmulator(opts, async (emulator) => {
    accountBuckets(emulator);
    const ids = seedLoxilbCluster(emulator, { enis, vips: STRESS_VIPS, eips: STRESS_VIPS });
    const deps = await engineDeps(emulator);
    const started = Date.now();
    const report = await runTeardown(deps, {
      instanceId: ids.masterInstanceId,
      episode: 'throttled',
      dryRun: false,
    });
    deps.ec2.destroy();
    const calls = emulator.calls.of('ec2');
    return {
      enis,
      wallMs: Date.now() - started,
      throttled: calls.filter((c) => c.errorCode === 'RequestLimitExceeded').length,
      calls: calls.length,
      outcome: report.outcome,
      clean: leftovers(emulator, ids).length === 0,
    };
  });
}

interface Daemon {
  child: ChildProcess;
  lines: Array<Record<string, unknown>>;
  spawnedAt: number;
  readyAt?: number;
}

/** How the daemon is started: the program and the arguments before the CLI's own. */
type Launcher = string[];
const TS_BUILD: Launcher = [process.execPath, CLI];

function startDaemon(
  emulator: AwsEmulator,
  config: Record<string, unknown>,
  dir: string,
  launcher: Launcher = TS_BUILD,
  args: string[] = [],
): Daemon {
  const path = join(dir, 'config.json');
  writeFileSync(
    path,
    JSON.stringify({
      stateDir: join(dir, 'state'),
      reports: { dir: join(dir, 'reports') },
      sweeper: { enabled: false },
      ...config,
    }),
  );
  const child = spawn(launcher[0], [...launcher.slice(1), 'run', '--config', path, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE_NO_WARNINGS: '1', ...emulator.env() },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const d: Daemon = { child, lines: [], spawnedAt: Date.now() };
  let buf = '';
  child.stdout!.on('data', (c: Buffer) => {
    buf += c.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const t = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        const line = JSON.parse(t) as Record<string, unknown>;
        d.lines.push(line);
        if (line.message === 'ready') d.readyAt ??= Date.now();
      } catch {
        /* not a log line */
      }
    }
  });
  return d;
}

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function stopDaemon(d: Daemon): Promise<void> {
  if (d.child.exitCode !== null) return;
  const exited = new Promise((r) => d.child.once('exit', r));
  d.child.kill('SIGTERM');
  const t = setTimeout(() => d.child.kill('SIGKILL'), 10000);
  await exited;
  clearTimeout(t);
}

/** Notice → first mutating EC2 call, with the daemon's default 2 s IMDS poll and a 20 s SQS long poll. */
async function noticeLatency(opts: Options, source: 'imds' | 'sqs'): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < opts.episodes; i++) {
    await withEmulator({ ...opts, latencyMs: opts.latencyMs }, async (emulator) => {
      const dir = mkdtempSync(join(tmpdir(), 'teardownd-bench-'));
      const ids = seedLoxilbCluster(emulator);
      emulator.imds.configure({ instanceId: ids.masterInstanceId });
      const queueUrl = emulator.sqs.createQueue('events');
      const d = startDaemon(
        emulator,
        { gate: { mode: 'override', override: 'full' }, sources: { sqs: { queueUrl } } },
        dir,
      );
      try {
        await until(() => d.readyAt !== undefined, 20000, 'ready');
        // Land the notice at a random point of the poll cycle.
        await new Promise((r) => setTimeout(r, Math.random() * 2000));
        const noticeAt = Date.now();
        if (source === 'imds') emulator.imds.setSpotAction('terminate');
        else {
          emulator.sqs.send(
            queueUrl,
            JSON.stringify({
              version: '0',
              id: `bench-${i}`,
              'detail-type': 'EC2 Spot Instance Interruption Warning',
              source: 'aws.ec2',
              account: '123456789012',
              time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
              region: 'us-east-1',
              resources: [],
              detail: { 'instance-id': ids.masterInstanceId, 'instance-action': 'terminate' },
            }),
          );
        }
        // The owner-tag marking at start-up (CreateTags) is not a teardown action.
        const teardownCalls = () => emulator.calls.mutating('ec2').filter((c) => c.action !== 'CreateTags');
        await until(() => teardownCalls().length > 0, 20000, 'the first mutating call');
        samples.push(teardownCalls()[0].at - noticeAt);
      } finally {
        await stopDaemon(d);
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
  return samples;
}

/**
 * CPU ticks and RSS, with RSS split into anonymous memory (the JS heap, malloc: what the daemon
 * itself holds) and file-backed pages (the runtime binary's own code and data that ran, shared
 * and clean: the kernel drops them first under pressure).
 */
function procStat(pid: number): { cpuTicks: number; rssKb: number; anonKb: number; fileKb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuTicks = Number(fields[11]) + Number(fields[12]);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
  return { cpuTicks, rssKb: kb('VmRSS'), anonKb: kb('RssAnon'), fileKb: kb('RssFile') };
}

/** Least-squares slope of y over x. */
export function slope(points: Array<[number, number]>): number {
  const n = points.length;
  if (n < 2) return NaN;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  const sxx = points.reduce((a, [x]) => a + (x - mx) ** 2, 0);
  const sxy = points.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0);
  return sxx === 0 ? NaN : sxy / sxx;
}

/**
 * The ways the daemon can run that exist in this checkout (`only`: ts, bundle, binary). `runtime`
 * is the file whose code pages the kernel maps.
 */
function restVariants(only?: Set<string>): Array<RestVariant> {
  const art = packagePaths();
  const variants: Array<RestVariant & { key: string }> = [
    { key: 'ts', name: 'TypeScript build (this Node)', launcher: TS_BUILD, runtime: process.execPath },
  ];
  if (existsSync(art.bundle))
    variants.push({
      key: 'bundle',
      name: 'bundle (this Node)',
      launcher: [process.execPath, art.bundle],
      runtime: process.execPath,
    });
  if (existsSync(art.binary))
    variants.push({ key: 'binary', name: SHIPPED, launcher: [art.binary], runtime: art.binary });
  return variants.filter((v) => !only || only.has(v.key));
}

const SHIPPED = 'single executable (Node 22)';

interface RestVariant {
  name: string;
  launcher: Launcher;
  runtime: string;
}

/**
 * Drops a file's clean, unmapped pages from the page cache (coreutils dd: `iflag=nocache count=0`
 * advises POSIX_FADV_DONTNEED for the whole file), then says how much of it is still cached —
 * pages another process maps (this bench's own Node) stay. Undefined when the tools are missing.
 */
function dropPageCache(file: string): number | undefined {
  const dd = spawnSync('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none']);
  if (dd.status !== 0) return undefined;
  const fincore = spawnSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', file], {
    encoding: 'utf8',
  });
  const bytes = Number(fincore.stdout?.trim());
  return fincore.status === 0 && Number.isFinite(bytes) ? bytes / 1048576 : undefined;
}

/**
 * At rest: the default configuration with a queue and the sweeper on, IMDS polled every 2 s, SQS
 * long-polled; CPU and RSS of the daemon process, and with `soakSeconds` the RSS slope.
 */
async function atRest(opts: Options, launcher: Launcher = TS_BUILD) {
  return withEmulator({ ...opts, latencyMs: 0 }, async (emulator) => {
    const dir = mkdtempSync(join(tmpdir(), 'teardownd-bench-'));
    const ids = seedLoxilbCluster(emulator);
    emulator.imds.configure({ instanceId: ids.masterInstanceId });
    const queueUrl = emulator.sqs.createQueue('events');
    const d = startDaemon(
      emulator,
      {
        gate: { mode: 'override', override: 'full' },
        sources: { sqs: { queueUrl } },
        sweeper: { enabled: true },
      },
      dir,
      launcher,
    );
    try {
      await until(() => d.readyAt !== undefined, 20000, 'ready');
      const startupMs = d.readyAt! - d.spawnedAt;
      await new Promise((r) => setTimeout(r, 2000)); // let start-up work settle
      const pid = d.child.pid!;
      const clk = 100; // USER_HZ on Linux
      const before = procStat(pid);
      const t0 = Date.now();
      const samples: Array<[number, number]> = [[0, before.rssKb / 1024]];
      // Anonymous memory alone: the daemon's own heap and malloc, where a leak would show.
      const anon: Array<[number, number]> = [[0, before.anonKb / 1024]];
      const seconds = Math.max(opts.idleSeconds, opts.soakSeconds);
      while (Date.now() - t0 < seconds * 1000) {
        await new Promise((r) => setTimeout(r, 1000));
        const now = procStat(pid);
        const hours = (Date.now() - t0) / 3600000;
        samples.push([hours, now.rssKb / 1024]);
        anon.push([hours, now.anonKb / 1024]);
      }
      const after = procStat(pid);
      const elapsed = (Date.now() - t0) / 1000;
      const rss = samples.map(([, y]) => y);
      return {
        startupMs,
        idleSeconds: elapsed,
        cpuPercentOfCore: ((after.cpuTicks - before.cpuTicks) / clk / elapsed) * 100,
        rssMb: rss[rss.length - 1],
        maxRssMb: Math.max(...rss),
        rssAnonMb: after.anonKb / 1024,
        rssFileMb: after.fileKb / 1024,
        rssSlopeMbPerHour: opts.soakSeconds > 0 ? slope(samples) : NaN,
        // The second half alone: a heap still growing to its working size is not a leak; a leak
        // keeps its slope after that.
        rssSlopeSecondHalfMbPerHour: opts.soakSeconds > 0 ? slope(samples.slice(samples.length >> 1)) : NaN,
        rssEveryMinuteMb: samples.filter((_, i) => i % 60 === 0).map(([, y]) => Math.round(y * 10) / 10),
        anonSlopeSecondHalfMbPerHour: opts.soakSeconds > 0 ? slope(anon.slice(anon.length >> 1)) : NaN,
        anonEveryMinuteMb: anon.filter((_, i) => i % 60 === 0).map(([, y]) => Math.round(y * 10) / 10),
        imdsRequests: emulator.calls.of('imds').length,
        sqsReceives: emulator.calls.of('sqs', 'ReceiveMessage').length,
      };
    } finally {
      await stopDaemon(d);
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

export interface FloodRow {
  topology: 'per-host' | 'shared';
  hosts: number;
  floodMessages: number;
  seconds: number;
  receiveCallsPerSecond: number;
  visibilityChangesPerSecond: number;
  /** Sum over the hosts' daemon processes. */
  cpuPercentOfCore: number;
  /** Publish of each host's own notice → its `episode opened` line. */
  noticeLatencyMs: number[];
  deadLettered: number;
}

/**
 * Issue 11: three hosts, 1,000 notices about other instances and unrelated events, then one notice
 * each, with the daemon's defaults (20 s long poll; shared queue: foreign releases of 5–15 s, DLQ
 * after 10 × hosts receives). Per-host: the flood goes to the topic; shared: into the one queue.
 */
async function floodRow(opts: Options, topology: FloodRow['topology']): Promise<FloodRow> {
  const hosts = ['i-0aaa0000000000001', 'i-0bbb0000000000002', 'i-0ccc0000000000003'];
  return withEmulator({ ...opts, latencyMs: 0 }, async (emulator) => {
    const dirs = hosts.map(() => mkdtempSync(join(tmpdir(), 'teardownd-bench-')));
    const topicArn = emulator.sns.createTopic('teardownd');
    const queueUrl =
      topology === 'shared'
        ? emulator.sqs.createQueue('teardownd-shared', {
            deadLetterQueue: 'teardownd-shared-dlq',
            maxReceiveCount: 10 * hosts.length,
          })
        : undefined;
    const sqs = topology === 'shared' ? { queueUrl, sharedQueueConsumers: hosts.length } : { topicArn };
    const daemons = hosts.map((id, i) =>
      startDaemon(
        emulator,
        { gate: { mode: 'override', override: 'none' }, sources: { imds: { enabled: false }, sqs } },
        dirs[i],
        TS_BUILD,
        ['--instance-id', id],
      ),
    );
    try {
      await until(() => daemons.every((d) => d.readyAt !== undefined), 30000, 'ready');
      await new Promise((r) => setTimeout(r, 1000));
      const publish = (body: string) =>
        topology === 'shared' ? emulator.sqs.send(queueUrl!, body) : emulator.sns.publish(topicArn, body);
      const count = (action: string) => emulator.calls.of('sqs', action).length;
      const before = { receives: count('ReceiveMessage'), changes: count('ChangeMessageVisibility') };
      const cpuBefore = daemons.map((d) => procStat(d.child.pid!).cpuTicks);
      const t0 = Date.now();
      for (const body of flood(1000)) publish(body);
      await new Promise((r) => setTimeout(r, opts.floodSeconds * 1000));
      const seconds = (Date.now() - t0) / 1000;
      const cpuTicks = daemons.reduce((sum, d, i) => sum + procStat(d.child.pid!).cpuTicks - cpuBefore[i], 0);
      const receives = count('ReceiveMessage') - before.receives;
      const changes = count('ChangeMessageVisibility') - before.changes;
      const sentAt = Date.now();
      hosts.forEach((id) => publish(spotNotice(id)));
      const opened = (d: Daemon) => d.lines.find((l) => l.message === 'episode opened');
      await until(() => daemons.every((d) => opened(d)), 180000, 'every host to open its episode');
      const noticeLatencyMs = daemons.map((d) => Date.parse(String(opened(d)!.timestamp)) - sentAt);
      const dlq = topology === 'shared' ? emulator.sqs.messages('teardownd-shared-dlq') : [];
      return {
        topology,
        hosts: hosts.length,
        floodMessages: 1000,
        seconds,
        receiveCallsPerSecond: receives / seconds,
        visibilityChangesPerSecond: changes / seconds,
        cpuPercentOfCore: (cpuTicks / 100 / seconds) * 100,
        noticeLatencyMs,
        deadLettered: dlq.filter((m) => hosts.some((h) => m.body.includes(h))).length,
      };
    } finally {
      for (const d of daemons) await stopDaemon(d);
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    }
  });
}

async function floodSection(opts: Options): Promise<FloodRow[]> {
  console.log(
    `\nThree hosts under a 1,000-message flood about other instances (${opts.floodSeconds} s, default long poll and release delays)`,
  );
  const floods: FloodRow[] = [];
  for (const topology of ['per-host', 'shared'] as const) {
    const f = await floodRow(opts, topology);
    floods.push(f);
    console.log(
      `  ${topology.padEnd(8)}  ${fmt(f.receiveCallsPerSecond, 2)} receives/s, ${fmt(f.visibilityChangesPerSecond, 1)} visibility changes/s, CPU ${fmt(f.cpuPercentOfCore, 1)} % of a core (3 daemons), notice → episode ${f.noticeLatencyMs.map((x) => fmt(x)).join('/')} ms, ${f.deadLettered} dead-lettered`,
    );
  }
  return floods;
}

const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

async function main(): Promise<void> {
  const opts = parseOptions();
  console.log(
    `teardownd benchmark: latency ${opts.latencyMs} ms/call, ENI detach ${opts.detachDelayMs} ms; 1 ENI × ${opts.vips.join('/')} VIPs (as many EIPs), and ${opts.footprints.join('/')} ENIs × ${STRESS_VIPS} VIPs/EIPs\n`,
  );

  const footprints: Footprint[] = [
    ...opts.vips.map((n) => ({ enis: 1, vips: n, eips: n })),
    ...opts.footprints.map((n) => ({ enis: n, vips: STRESS_VIPS, eips: STRESS_VIPS })),
  ];
  const rows: TeardownRow[] = [];
  for (const f of opts.only.has('teardown') ? footprints : []) {
    process.stdout.write(`  full teardown, ${footprintLabel(f)} … `);
    const row = await teardownRow(opts, f);
    rows.push(row);
    console.log(`${row.unpaced.wallMs} ms, paced ${row.paced.wallMs} ms`);
  }
  console.log('\nFull teardown (engine in-process, real SDK against the emulator)');
  console.log(
    '  footprint           no pacer ×bound   paced ×bound  throttled  sequential ×faster  critical-path  calls  describe  mutating  /resource  clean',
  );
  for (const r of rows) {
    console.log(
      `  ${r.label.padEnd(18)}  ${fmt(r.unpaced.wallMs).padStart(6)} ms ${fmt(r.vsCriticalPath, 2).padStart(5)}  ${fmt(r.paced.wallMs).padStart(6)} ms ${fmt(r.pacedVsCriticalPath, 2).padStart(5)}  ${String(r.paced.throttled).padStart(9)}  ${fmt(r.sequentialMs).padStart(7)} ms ${fmt(r.speedupVsSequential, 1).padStart(6)}  ${fmt(r.criticalPathMs).padStart(10)} ms  ${String(r.unpaced.calls).padStart(5)}  ${String(r.unpaced.describeCalls).padStart(8)}  ${String(r.unpaced.mutatingCalls).padStart(8)}  ${fmt(r.callsPerResource, 2).padStart(9)}  ${r.unpaced.clean ? 'yes' : 'NO'}${r.paced.clean ? '' : ` (paced: ${r.paced.outcome})`}`,
    );
  }
  console.log(
    `  critical path = (2 discovery rounds + 1 wave of DisassociateAddress + detach + delete ENI + disassociate/delete route table + delete subnet + disassociate CIDR) × ${opts.latencyMs} ms + ${opts.detachDelayMs} ms detach`,
  );
  console.log(
    "  no pacer = the executor alone; paced = the daemon's pacer (aws.mutatingBucket 50 burst, 5/s) against an emulated account bucket of the same size",
  );
  console.log(
    '  sequential = the same plan, one call at a time, each ENI detached and polled (100 ms) before the next',
  );
  console.log('  calls per action (no pacer); resources = EIPs + ENIs + subnet + route table + CIDR:');
  for (const r of rows) {
    const byAction = Object.entries(r.unpaced.callsByAction)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    const floor = r.bucketFloorMs > 0 ? `; the bucket alone needs ${fmt(r.bucketFloorMs / 1000, 1)} s` : '';
    console.log(`    ${r.label} (${r.resources} resources): ${byAction}${floor}`);
  }

  const throttled = [];
  for (const n of opts.only.has('teardown') ? opts.footprints.filter((x) => x >= 10) : []) {
    process.stdout.write(
      `\n  inside EC2's mutating bucket (50 burst, 5/s) without the pacer, ${n} ENIs × ${STRESS_VIPS} … `,
    );
    const t = await throttledRow(opts, n);
    throttled.push(t);
    console.log(`${t.wallMs} ms, ${t.throttled} RequestLimitExceeded answers retried, outcome ${t.outcome}`);
  }

  console.log('\nNotice → first mutating call (real daemon process, IMDS poll 2000 ms, SQS long poll 20 s)');
  const imds = opts.only.has('notice') ? await noticeLatency(opts, 'imds') : [];
  const sqs = opts.only.has('notice') ? await noticeLatency(opts, 'sqs') : [];
  console.log(
    `  IMDS: median ${fmt(median(imds))} ms, p95 ${fmt(percentile(imds, 95))} ms over ${imds.length} episodes`,
  );
  console.log(
    `  SQS:  median ${fmt(median(sqs))} ms, p95 ${fmt(percentile(sqs, 95))} ms over ${sqs.length} episodes`,
  );

  console.log(`\nAt rest (${Math.max(opts.idleSeconds, opts.soakSeconds)} s, queue + sweeper configured)`);
  const restRows: Array<{ name: string; coldStartupMs: number } & Awaited<ReturnType<typeof atRest>>> = [];
  const restLine = (r: Awaited<ReturnType<typeof atRest>>) =>
    `ready ${String(r.startupMs).padStart(5)} ms; CPU ${fmt(r.cpuPercentOfCore, 2)} %; RSS ${fmt(r.rssMb, 1)} MB (max ${fmt(r.maxRssMb, 1)}; ${fmt(r.rssAnonMb, 1)} anonymous + ${fmt(r.rssFileMb, 1)} file-backed)` +
    (opts.soakSeconds > 0
      ? `; slope ${fmt(r.rssSlopeMbPerHour, 2)} MB/h (second half ${fmt(r.rssSlopeSecondHalfMbPerHour, 2)} MB/h, ` +
        `anonymous ${fmt(r.anonSlopeSecondHalfMbPerHour, 2)} MB/h); RSS each minute ${r.rssEveryMinuteMb.join(' ')}; ` +
        `anonymous ${r.anonEveryMinuteMb.join(' ')}`
      : '') +
    `; ${r.imdsRequests} IMDS, ${r.sqsReceives} SQS receives`;
  const variants = opts.only.has('rest') ? restVariants(opts.variants) : [];
  const binary = variants.find((v) => v.name === SHIPPED);
  if (binary && opts.soakSeconds === 0) {
    // The page cache as this machine left it: after `npm run package` the binary was just written,
    // and a written file sits in large folios that the kernel maps whole on a fault, so the same
    // code counts more file-backed RSS than on a host, where the binary is read from disk.
    const r = await atRest(opts, binary.launcher);
    console.log(`  ${'single executable, cache as found'.padEnd(30)} ${restLine(r)}`);
    restRows.push({ name: `${SHIPPED}, page cache as found`, coldStartupMs: NaN, ...r });
  }
  for (const v of variants) {
    // Cold: the runtime's page cache dropped, its code read from disk as at boot. That start fills
    // the cache by reading, as on a host; the at-rest figures are taken on the next start.
    const cachedMb = dropPageCache(v.runtime);
    const cold = await atRest({ ...opts, idleSeconds: 0, soakSeconds: 0 }, v.launcher);
    const r = await atRest(opts, v.launcher);
    restRows.push({ name: v.name, coldStartupMs: cold.startupMs, ...r });
    const coldNote = cachedMb === undefined ? 'cache not dropped' : `${fmt(cachedMb, 0)} MB still cached`;
    console.log(`  ${v.name.padEnd(30)} ${restLine(r)}; cold start ${cold.startupMs} ms (${coldNote})`);
  }
  const floods = opts.only.has('flood') ? await floodSection(opts) : [];

  const none = {
    name: 'not measured',
    startupMs: NaN,
    coldStartupMs: NaN,
    cpuPercentOfCore: NaN,
    rssMb: NaN,
  };
  const shipped = restRows.find((r) => r.name === SHIPPED) ?? restRows[0] ?? none;

  const ten = rows.find((r) => r.enis === 10);
  const big = rows.find((r) => r.enis === 1 && r.vips === 49);
  const targets = [
    [
      '1 ENI × 49 VIPs teardown ≤ 1.3× critical path (paced)',
      big ? `${fmt(big.pacedVsCriticalPath, 2)}× (no pacer ${fmt(big.vsCriticalPath, 2)}×)` : 'n/a',
      big ? big.pacedVsCriticalPath <= 1.3 : false,
    ],
    [
      '10-ENI teardown ≤ 1.5× critical path',
      ten ? `${fmt(ten.vsCriticalPath, 2)}×` : 'n/a',
      ten ? ten.vsCriticalPath <= 1.5 : false,
    ],
    [
      '10-ENI teardown ≥ 5× faster than sequential',
      ten ? `${fmt(ten.speedupVsSequential, 1)}×` : 'n/a',
      ten ? ten.speedupVsSequential >= 5 : false,
    ],
    [
      'IMDS notice → first action p95 < 2000 + 200 ms',
      `${fmt(percentile(imds, 95))} ms`,
      percentile(imds, 95) < 2200,
    ],
    [
      'SQS notice → first action p95 < 2000 + 200 ms',
      `${fmt(percentile(sqs, 95))} ms`,
      percentile(sqs, 95) < 2200,
    ],
    ['idle CPU < 1 % of a core', `${fmt(shipped.cpuPercentOfCore, 2)} %`, shipped.cpuPercentOfCore < 1],
    [`RSS at rest ≤ 80 MB (${shipped.name})`, `${fmt(shipped.rssMb, 1)} MB`, shipped.rssMb <= 80],
    [
      `start-up to ready ≤ 300 ms (${shipped.name})`,
      `${fmt(shipped.startupMs)} ms (cold, read from disk: ${fmt(shipped.coldStartupMs)} ms)`,
      shipped.startupMs <= 300,
    ],
  ] as const;
  console.log('\nTargets');
  // A target whose section did not run says so rather than MISS.
  for (const [what, value, ok] of targets) {
    const verdict = /n\/a|NaN/.test(value) ? 'SKIP' : ok ? 'PASS' : 'MISS';
    console.log(`  ${verdict}  ${what.padEnd(54)} ${value}`);
  }

  const out =
    opts.out ?? join('bench-results', `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  mkdirSync(resolve(out, '..'), { recursive: true });
  writeFileSync(
    out,
    JSON.stringify(
      {
        options: opts,
        node: process.version,
        teardown: rows,
        throttled,
        notice: { imds, sqs },
        atRest: restRows,
        flood: floods,
        targets,
      },
      null,
      2,
    ),
  );
  console.log(`\nJSON: ${out}`);
}

if (require.main === module) {
  main().catch((err: Error) => {
    console.error(`bench failed: ${err.stack ?? err.message}`);
    process.exitCode = 1;
  });
}
