/**
 * `npm start`: the out-of-the-box simulation. Starts the bundled AWS emulator with a two-node loxilb
 * cluster (plus decoys that must survive) and a fake loxilb API, runs the real daemon
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
import { AwsEmulator } from './emulator/server';
import { bfdBody, ciStateBody, FakeLoxilb } from './loxilb/fake-peer';
import { decoysIntact, leftovers, seedLoxilbCluster } from './loxilb/footprint';

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
    .option('--enis <n>', 'loxilb ENIs on the master, 4 VIPs and 4 EIPs each', int, 2)
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

async function main(): Promise<number> {
  const opts = parseOptions(process.argv);
  const work = mkdtempSync(join(tmpdir(), 'teardownd-sim-'));
  const emulator = await AwsEmulator.start({ ec2: { detachDelayMs: opts.detachDelayMs } });
  emulator.faults.baseLatencyMs = opts.latencyMs;
  const peerUp = opts.gate === 'backup';
  const loxilb = await FakeLoxilb.start({
    cistate: ciStateBody(opts.gate === 'backup' ? 'BACKUP' : 'MASTER'),
    bfd: bfdBody([{ remoteIp: '10.0.2.10', state: peerUp ? 'BFDUp' : 'BFDDown' }]),
    // kube-loxilb --setRoles: loxilb runs without BFD and answers its bfd endpoint with HTTP 500.
    bfdNotRunning: opts.gate === 'setroles',
  });
  let child: ChildProcess | undefined;
  try {
    const ids = seedLoxilbCluster(emulator, { enis: opts.enis });
    emulator.imds.configure({
      instanceId: ids.masterInstanceId,
      region: 'us-east-1',
      az: 'us-east-1a',
      lifeCycle: 'spot',
    });
    const config: Record<string, unknown> = {
      stateDir: join(work, 'state'),
      reports: { dir: join(work, 'reports') },
      gate: { mode: 'loxilb-api', loxilbApiUrl: loxilb.url },
      sources: { imds: { pollIntervalMs: 500 }, sqs: {} },
      sweeper: { enabled: false },
      executor: { detachPollIntervalMs: 200 },
    };
    let queueUrl: string | undefined;
    if (opts.scenario === 'asg') {
      queueUrl = emulator.sqs.createQueue('teardownd-events');
      emulator.autoscaling.putHook({
        asgName: 'loxilb-asg',
        hookName: 'teardownd-terminate',
        heartbeatTimeoutSeconds: 30,
        defaultResult: 'ABANDON',
        notificationQueueUrl: queueUrl,
      });
      emulator.autoscaling.addInstance('loxilb-asg', ids.masterInstanceId);
      // The peer is a live member of the same group: with setRoles it is who takes over.
      if (ids.peerInstanceId) emulator.autoscaling.addInstance('loxilb-asg', ids.peerInstanceId);
      config.sources = { imds: { pollIntervalMs: 500 }, sqs: { queueUrl, waitTimeSeconds: 1 } };
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
    console.log(`  per-call latency ${opts.latencyMs} ms, ENI detach ${opts.detachDelayMs} ms\n`);

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
    const ready = new Promise<void>((resolveReady) =>
      watchDaemon(child!, (l) => {
        const msg = String(l.message ?? '');
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
    await raceDeadline(ready, 'the daemon to be ready');
    progress.line('daemon ready; announcing the termination');

    const noticeAt = Date.now();
    if (opts.scenario === 'spot') emulator.imds.setSpotAction('terminate');
    else if (opts.scenario === 'asg') emulator.autoscaling.startTermination(ids.masterInstanceId);
    else {
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
    await raceDeadline(
      (async () => {
        while (!closed) await new Promise((r) => setTimeout(r, 50));
      })(),
      'the episode to close',
    );
    const firstMutation = emulator.calls.mutating('ec2')[0];
    child.kill('SIGTERM');
    await raceDeadline(exited, 'the daemon to stop');

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
      console.log(`SQS messages deleted: ${emulator.sqs.deletedCount(queueUrl!)}\n`);
    }
    const left = leftovers(emulator, ids);
    // After CompleteLifecycleAction Auto Scaling really terminates the master, taking its primary ENI with it.
    const masterGone = emulator.ec2.instanceById(ids.masterInstanceId)?.state !== 'running';
    const broken = decoysIntact(emulator, ids).filter(
      (p) => !(masterGone && p.includes("master's primary ENI")),
    );
    console.log('left in the "cloud":');
    if (left.length === 0) console.log('  nothing of the loxilb cluster');
    for (const l of left) console.log(`  ${l.kind} ${l.id}${l.detail ? ` (${l.detail})` : ''}`);
    console.log(
      broken.length ? `decoys DAMAGED:\n  ${broken.join('\n  ')}` : 'decoys and the peer: all intact',
    );
    const expectFull = opts.gate === 'bfd';
    // handover: no change on loxilb's resources at all (CreateTags is the start-up ownership mark).
    const changes = emulator.calls.mutating('ec2').filter((c) => c.action !== 'CreateTags');
    const ok = broken.length === 0 && (expectFull ? left.length === 0 : changes.length === 0);
    console.log(
      ok ? `\nresult: as expected for gate ${opts.gate}` : `\nresult: NOT as expected for gate ${opts.gate}`,
    );
    return ok ? 0 : 1;
  } finally {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await loxilb.stop();
    await emulator.stop();
    if (opts.keep) console.log(`work directory kept: ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
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
