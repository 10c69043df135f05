/**
 * `npm start`: the out-of-the-box simulation. Starts the bundled AWS emulator with a two-node loxilb
 * cluster (plus decoys that must survive) running as loxilb does (sim/loxilb: BFD or kube-loxilb
 * --setRoles, its takeover, its SIGTERM path), runs the real daemon
 * (`teardownd run`) against them as a child process, announces a termination, shows the teardown
 * live, then prints the report and what is left in the "cloud".
 *
 *   npm start -- [--scenario spot|asg|scheduled] [--gate bfd|setroles|backup] [--enis N] [--latency-ms N] [--plain]
 *
 * Exit code 0 when the end state is what the gate promised (full: nothing of the cluster left;
 * handover: no change at all on loxilb's resources, left for the peer's takeover) and every decoy
 * survived.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { renderReport } from '../lib/report/render';
import { parseReport } from '../lib/report/source';
import { hostQueueName } from '../lib/sources/host-queue';
import { AwsEmulator, DAEMON_ACCESS_KEY_ID } from './emulator/server';
import { LoxilbCluster, startLoxilbCluster } from './loxilb/cluster';
import {
  currentFootprint,
  decoysIntact,
  leftovers,
  LoxilbClusterIds,
  seedLoxilbCluster,
} from './loxilb/footprint';
import { waitUntil } from './loxilb/node';

type Scenario = 'spot' | 'asg' | 'scheduled';
type Gate = 'bfd' | 'setroles' | 'backup';

interface Options {
  scenario: Scenario;
  gate: Gate;
  enis: number;
  latencyMs: number;
  detachDelayMs: number;
  plain: boolean;
  timeoutMs: number;
  keep: boolean;
}

const STAGES = ['eip', 'eni', 'route-table', 'subnet', 'cidr'] as const;

function choice<T extends string>(allowed: readonly T[]) {
  return (value: string): T => {
    if (!allowed.includes(value as T)) throw new InvalidArgumentError(`must be one of ${allowed.join(', ')}`);
    return value as T;
  };
}

function int(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a whole number');
  return n;
}

function parseOptions(argv: string[]): Options {
  const program = new Command('npm start --')
    .description('Watch teardownd tear down a simulated loxilb host against the bundled AWS emulator')
    .option('--scenario <s>', 'spot | asg | scheduled', choice(['spot', 'asg', 'scheduled'] as const), 'spot')
    .option(
      '--gate <g>',
      'bfd (last node standing: full) | setroles (kube-loxilb --setRoles, a live peer in the group: handover) | backup (handover)',
      choice(['bfd', 'setroles', 'backup'] as const),
      'bfd',
    )
    .option(
      '--enis <n>',
      'loxilb ENIs on the master, 4 VIPs and 4 EIPs each (loxilb itself makes one)',
      int,
      1,
    )
    .option('--latency-ms <n>', 'latency the emulator adds to every AWS call', int, 40)
    .option('--detach-delay-ms <n>', 'time an ENI takes to detach', int, 800)
    .option('--timeout-ms <n>', 'give up after this long', int, 60000)
    .option('--plain', 'plain lines even on a terminal')
    .option('--keep', 'keep the work directory (config, journal, report) instead of removing it');
  program.parse(argv, { from: 'node' });
  const o = program.opts<Options>();
  return { ...o, keep: Boolean(o.keep), plain: Boolean(o.plain) || !process.stdout.isTTY };
}

class Progress {
  private counts = new Map<string, Map<string, number>>();
  private phase = 'starting';
  private drawn = 0;
  constructor(private readonly plain: boolean) {}

  line(text: string): void {
    if (this.plain) console.log(text);
    else {
      this.phase = text;
      this.draw();
    }
  }

  action(stage: string, action: string, resource: string, outcome: string, durationMs: unknown): void {
    const byOutcome = this.counts.get(stage) ?? new Map<string, number>();
    byOutcome.set(outcome, (byOutcome.get(outcome) ?? 0) + 1);
    this.counts.set(stage, byOutcome);
    if (this.plain) console.log(`  [${stage}] ${action} ${resource}: ${outcome} (${durationMs} ms)`);
    else this.draw();
  }

  private draw(): void {
    if (this.drawn) process.stdout.write(`\x1b[${this.drawn}A\x1b[0J`);
    const rows = [`  ${this.phase}`];
    for (const stage of STAGES) {
      const c = this.counts.get(stage);
      const parts = c ? [...c.entries()].map(([o, n]) => `${n} ${o}`).join(', ') : '…';
      rows.push(`    ${stage.padEnd(12)} ${parts}`);
    }
    process.stdout.write(rows.join('\n') + '\n');
    this.drawn = rows.length;
  }
}

function watchDaemon(child: ChildProcess, onLine: (line: Record<string, unknown>) => void): void {
  let buffer = '';
  child.stdout!.on('data', (d: Buffer) => {
    buffer += d.toString();
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const text = buffer.slice(0, nl).trim();
      buffer = buffer.slice(nl + 1);
      if (!text.startsWith('{')) continue;
      try {
        onLine(JSON.parse(text) as Record<string, unknown>);
      } catch {
        /* not a JSON log line */
      }
    }
  });
}

/** What the simulated host is: the master, or (gate `backup`) the BACKUP peer. */
function hostOf(opts: Options, ids: LoxilbClusterIds): string {
  return opts.gate === 'backup' ? ids.peerInstanceId! : ids.masterInstanceId;
}

async function main(): Promise<number> {
  const opts = parseOptions(process.argv);
  const work = mkdtempSync(join(tmpdir(), 'teardownd-sim-'));
  const emulator = await AwsEmulator.start({ ec2: { detachDelayMs: opts.detachDelayMs } });
  emulator.faults.baseLatencyMs = opts.latencyMs;
  let cluster: LoxilbCluster | undefined;
  let child: ChildProcess | undefined;
  try {
    const ids = seedLoxilbCluster(emulator, { enis: opts.enis });
    const host = hostOf(opts, ids);
    // A running loxilb pair as loxilb behaves (sim/loxilb): BFD between the two, or BFD off with a
    // fake kube-loxilb --setRoles electing; its takeover and its SIGTERM path call the emulator.
    cluster = await startLoxilbCluster(emulator, ids, {
      mode: opts.gate === 'setroles' ? 'setroles' : 'bfd',
      detectMs: 1000,
    });
    const node = host === ids.masterInstanceId ? cluster.master : cluster.peer!;
    const other = host === ids.masterInstanceId ? cluster.peer : cluster.master;
    emulator.imds.configure({
      instanceId: host,
      region: 'us-east-1',
      az: emulator.ec2.instanceById(host)!.availabilityZone,
      lifeCycle: 'spot',
    });
    const config: Record<string, unknown> = {
      stateDir: join(work, 'state'),
      reports: { dir: join(work, 'reports') },
      gate: { mode: 'loxilb-api', loxilbApiUrl: node.apiUrl, observeIntervalMs: 500 },
      sources: { imds: { pollIntervalMs: 500 }, sqs: {} },
      sweeper: { enabled: false },
      executor: { detachPollIntervalMs: 200 },
    };
    let topicArn: string | undefined;
    if (opts.scenario === 'asg') {
      // The per-host queue (scripts/aws-setup.yaml): EventBridge puts the lifecycle event on an SNS
      // topic; the daemon subscribes its own queue, filtered to its instance id.
      topicArn = emulator.sns.createTopic('teardownd');
      emulator.autoscaling.putHook({
        asgName: 'loxilb-asg',
        hookName: 'teardownd-terminate',
        heartbeatTimeoutSeconds: 30,
        defaultResult: 'ABANDON',
      });
      emulator.autoscaling.addInstance('loxilb-asg', ids.masterInstanceId);
      // The peer is a live member of the same group: with setRoles it is who takes over.
      if (ids.peerInstanceId) emulator.autoscaling.addInstance('loxilb-asg', ids.peerInstanceId);
      config.sources = { imds: { pollIntervalMs: 500 }, sqs: { topicArn, waitTimeSeconds: 1 } };
      config.lifecycle = { autoScalingGroupName: 'loxilb-asg', hookName: 'teardownd-terminate' };
    }
    const configPath = join(work, 'config.json');
    writeFileSync(configPath, JSON.stringify(config, null, 2));

    console.log(`teardownd simulation: scenario ${opts.scenario}, gate ${opts.gate}`);
    console.log(
      `  emulator ${emulator.url}: VPC ${ids.vpcId}, master ${ids.masterInstanceId}, peer ${ids.peerInstanceId}`,
    );
    console.log(
      `  loxilb footprint: CIDR ${ids.cloudCidr}, subnet ${ids.subnetId}, route table ${ids.routeTableId}, ${ids.enis.length} ENIs × 4 VIPs/EIPs`,
    );
    console.log(
      `  loxilb: ${cluster.mode === 'bfd' ? 'BFD between the two nodes' : 'BFD off, roles from kube-loxilb --setRoles'}; ` +
        `teardownd runs on the ${host === ids.masterInstanceId ? 'MASTER' : 'BACKUP'} ${host}`,
    );
    console.log(`  per-call latency ${opts.latencyMs} ms, ENI detach ${opts.detachDelayMs} ms\n`);
    if (opts.gate === 'bfd') {
      // Last node standing: the peer is gone and loxilb's BFD session to it has timed out.
      emulator.ec2.terminateInstance(ids.peerInstanceId!);
      await cluster.peer!.kill();
      await waitUntil(
        () => cluster!.master.sessionStates()?.[0]?.state === 'BFDDown',
        "the peer's BFD session Down",
      );
      console.log(`  the peer ${ids.peerInstanceId} was terminated before: its BFD session is Down\n`);
    }

    const progress = new Progress(opts.plain);
    let reportPath: string | undefined;
    let closed = false;
    const cli = resolve(__dirname, '../daemon/main.js');
    child = spawn(process.execPath, [cli, 'run', '--config', configPath], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE_NO_WARNINGS: '1', ...emulator.env() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    let observed = false;
    const ready = new Promise<void>((resolveReady) =>
      watchDaemon(child!, (l) => {
        const msg = String(l.message ?? '');
        if (msg.startsWith('loxilb HA state:')) observed = true;
        if (msg === 'ready') resolveReady();
        else if (
          l.action &&
          l.stage &&
          typeof l.outcome === 'string' &&
          l.resource &&
          STAGES.includes(l.stage as never)
        ) {
          progress.action(String(l.stage), String(l.action), String(l.resource), l.outcome, l.durationMs);
        } else if (
          msg === 'episode opened' ||
          msg.startsWith('gate:') ||
          msg.startsWith('plan:') ||
          msg.startsWith('teardown finished') ||
          msg === 'report shipped' ||
          msg === 're-examining the handover' ||
          msg.startsWith('per-host queue') ||
          msg.includes('lifecycle')
        ) {
          progress.line(`${msg}${l.reason ? ` — ${String(l.reason)}` : ''}`);
        } else if (msg === 'report written') reportPath = String(l.resource);
        else if (msg === 'episode closed') closed = true;
      }),
    );
    const exited = new Promise<number | null>((r) => child!.on('exit', (code) => r(code)));
    const deadline = Date.now() + opts.timeoutMs;
    const raceDeadline = async <T>(p: Promise<T>, what: string): Promise<T> => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`timed out waiting for ${what}\n${stderr}`)),
          Math.max(0, deadline - Date.now()),
        );
      });
      const died = exited.then((code) =>
        Promise.reject(new Error(`daemon exited (${code}) before ${what}\n${stderr}`)),
      );
      try {
        return await Promise.race([p, timeout, died]);
      } finally {
        clearTimeout(timer);
      }
    };
    const until = (check: () => boolean, what: string) =>
      raceDeadline(
        (async () => {
          while (!check()) await new Promise((r) => setTimeout(r, 50));
        })(),
        what,
      );
    await raceDeadline(ready, 'the daemon to be ready');
    await until(() => observed, "the daemon's first look at loxilb");
    progress.line('daemon ready; announcing the termination');

    const noticeAt = Date.now();
    if (opts.scenario === 'spot') emulator.imds.setSpotAction('terminate');
    else if (opts.scenario === 'asg') {
      const started = emulator.autoscaling.startTermination(host);
      emulator.sns.publish(topicArn!, started.eventBridgeBody);
    } else {
      // Due in 20 s: the daemon starts a scheduled teardown ahead of NotBefore, leaving its reserve.
      const notBefore = new Date(Date.now() + 20000);
      const fmt = `${notBefore.getUTCDate()} ${notBefore.toUTCString().split(' ')[2]} ${notBefore.getUTCFullYear()} ${notBefore.toISOString().slice(11, 19)} GMT`;
      emulator.imds.setScheduledEvents([
        {
          Code: 'instance-retirement',
          Description: 'The instance is running on degraded hardware',
          EventId: 'instance-event-0sim',
          State: 'active',
          NotBefore: fmt,
        },
      ]);
    }
    await until(() => closed, 'the episode to close');
    const daemonChanges = () =>
      emulator.calls
        .by(DAEMON_ACCESS_KEY_ID)
        .filter((c) => c.service === 'ec2' && c.mutating && c.action !== 'CreateTags');
    const firstMutation = daemonChanges()[0];
    // The daemon removes its own queue once its host is going, so its answers are counted instead.
    const deletedMessages = () =>
      emulator.calls.of('sqs', 'DeleteMessage').filter((c) => c.status === 200 && !c.errorCode).length;

    // The host goes: shutting-down, systemd stops teardownd (its SIGTERM probe looks again), then
    // loxilb (its own SIGTERM path), then EC2 terminates the instance.
    if (emulator.ec2.instanceById(host)?.state === 'running')
      emulator.ec2.setInstanceState(host, 'shutting-down');
    child.kill('SIGTERM');
    await raceDeadline(exited, 'the daemon to stop');
    await node.stop();
    if (emulator.ec2.instanceById(host)?.state !== 'terminated') emulator.ec2.terminateInstance(host);

    console.log('');
    if (firstMutation)
      console.log(
        `first AWS change ${firstMutation.at - noticeAt} ms after the notice; episode closed ${Date.now() - noticeAt} ms after it\n`,
      );
    if (reportPath) {
      const report = parseReport(JSON.parse(readFileSync(reportPath, 'utf8')), reportPath);
      console.log(renderReport(report, { color: !opts.plain && !process.env.NO_COLOR }));
      if (opts.keep)
        console.log(`(report file: ${reportPath}; read it again with: npx teardownd report ${reportPath})\n`);
    }
    if (opts.scenario === 'asg') {
      const completes = emulator.autoscaling
        .history()
        .filter((h) => h.action === 'CompleteLifecycleAction' && h.ok);
      console.log(
        `lifecycle action: ${completes.map((c) => `${c.result} (token ${c.token})`).join(', ') || 'NOT completed'}`,
      );
      console.log(
        `SQS messages deleted: ${deletedMessages()} (from this host's queue ${hostQueueName(host)})\n`,
      );
    }
    // The MASTER handed over to a live peer: that peer now takes over, as loxilb does.
    if (host === ids.masterInstanceId && other?.isRunning()) {
      const t = await other.waitForTakeover(20000);
      console.log(
        `the peer ${other.instanceId} became MASTER and took over: ${t.status}` +
          `${t.eniId ? `, its loxilb ENI ${t.eniId}` : ''}${t.failedCall ? ` (stopped at ${t.failedCall.action}: ${t.failedCall.errorCode})` : ''}\n`,
      );
    }
    // By tag, so what a takeover created after the notice counts too.
    const left = footprintLines(emulator, ids);
    const dead = [host, ...(opts.gate === 'bfd' ? [ids.peerInstanceId!] : [])];
    const broken = decoysIntact(emulator, ids).filter((p) => !diedInTheScenario(p, dead, ids));
    console.log('left in the "cloud":');
    if (left.length === 0) console.log('  nothing of the loxilb cluster');
    for (const l of left) console.log(`  ${l}`);
    console.log(broken.length ? `decoys DAMAGED:\n  ${broken.join('\n  ')}` : 'decoys: all intact');
    const expectFull = opts.gate === 'bfd';
    // handover: teardownd changed nothing on loxilb's resources (CreateTags is its start-up ownership mark).
    const ok = broken.length === 0 && (expectFull ? left.length === 0 : daemonChanges().length === 0);
    console.log(
      ok ? `\nresult: as expected for gate ${opts.gate}` : `\nresult: NOT as expected for gate ${opts.gate}`,
    );
    return ok ? 0 : 1;
  } finally {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await cluster?.stop();
    await emulator.stop();
    if (opts.keep) console.log(`work directory kept: ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
}

/** The cluster's loxilb resources as they are now, found by tag (and the seeded EIPs' associations). */
function footprintLines(emulator: AwsEmulator, ids: LoxilbClusterIds): string[] {
  const now = currentFootprint(emulator, ids);
  // EIP associations show on their ENI's line; owned EIPs (released by a full teardown) by themselves.
  const seeded = leftovers(emulator, ids).filter((l) => l.kind === 'address');
  return [
    ...seeded.map((l) => `${l.kind} ${l.id}${l.detail ? ` (${l.detail})` : ''}`),
    ...now.enis.map(
      (e) =>
        `eni ${e.eniId} (${e.status}${e.instanceId ? ` attached to ${e.instanceId}#${e.deviceIndex}` : ''}, ${e.privateIps.length} IPs` +
        `${now.eips.some((a) => a.eniId === e.eniId) ? `, EIPs ${now.eips.filter((a) => a.eniId === e.eniId).length}` : ''})`,
    ),
    ...now.routeTableIds.map((id) => `route-table ${id}`),
    ...now.subnetIds.map((id) => `subnet ${id}`),
    ...(now.cidrAssociationId ? [`cidr-association ${now.cidrAssociationId} (${ids.cloudCidr})`] : []),
  ];
}

/** A decoy problem that is only the end of an instance the scenario terminated (its primary ENI, its EIP). */
function diedInTheScenario(problem: string, dead: string[], ids: LoxilbClusterIds): boolean {
  const masterDead = dead.includes(ids.masterInstanceId);
  const peerDead = !!ids.peerInstanceId && dead.includes(ids.peerInstanceId);
  if (masterDead && problem.includes("master's primary ENI")) return true;
  // The unrelated EIP sits on the peer's primary IP: EC2 takes it off when the peer terminates.
  return (
    peerDead &&
    (problem.includes("peer's primary ENI") ||
      problem.includes('is not running') ||
      problem.startsWith('unrelated EIP'))
  );
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: Error) => {
    console.error(`simulation failed: ${err.message}`);
    process.exitCode = 1;
  },
);
