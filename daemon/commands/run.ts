import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { AwsClients } from '../../lib/aws/clients';
import { completionPort } from '../../lib/completion/completion';
import { Config } from '../../lib/config/schema';
import { Coordinator, EpisodeTeardown, ShipReport } from '../../lib/episode/coordinator';
import { decideGate, GateDecision, runTeardown } from '../../lib/episode/engine';
import { watchHandover } from '../../lib/gate/handover-watch';
import { HaObserver } from '../../lib/gate/ha-observer';
import { Journal } from '../../lib/episode/journal';
import { reportExitCode, writeReport } from '../../lib/report/report';
import { readReportFile } from '../../lib/report/source';
import { createEpisodeShipper } from '../../lib/report/shipping';
import { EpisodeLogBuffer } from '../../lib/report/episode-log';
import { createSystemdNotifier, SystemdNotifier } from '../../lib/systemd-notify';
import { Logger } from '../../lib/log';
import { ImdsPoller } from '../../lib/sources/imds-poller';
import { probeInstanceState, shutdownNotice } from '../../lib/sources/shutdown-probe';
import { HostIdentity, readHostIdentity } from '../../lib/sources/instance-identity';
import { openStateDir, OpenedStateDir } from '../../lib/episode/state-dir';
import {
  checkInstanceId,
  createRuntime,
  GlobalOptions,
  resolveInstanceId,
  Runtime,
  shutdownBackstop,
  stopOnSignals,
} from '../wiring';
import { SqsSource } from './sqs-source';
import { sweeperBackground } from '../sweeper-service';
import { engineDeps, loxilbApi } from './teardown-common';

/**
 * `teardownd run`: the long-running daemon. Start-up checks the journal (resuming an unfinished
 * episode) and IMDS (one poll, so a notice posted while the daemon was down is not missed) before
 * logging `ready`; then the IMDS poller and the SQS consumer run until SIGTERM/SIGINT. On SIGTERM
 * the shutdown probe asks EC2 whether this is a termination (finish the teardown first) or a
 * restart/reboot (leave at once, touching nothing).
 */

/** A service that runs beside the sources until shutdown (the sweeper plugs in here). */
export interface BackgroundService {
  name: string;
  /** Runs until `signal` aborts; may return at once after scheduling its own work. */
  start(signal: AbortSignal): Promise<void> | void;
  stop?(): Promise<void> | void;
}

export interface RunContext {
  runtime: Runtime;
  config: Config;
  logger: Logger;
  clients: AwsClients;
  instanceId: string;
  dryRun: boolean;
  /** Reads loxilb's HA state on gate.observeIntervalMs (gate.mode loxilb-api); shared with the gate. */
  observer?: HaObserver;
}

export interface RunDeps {
  /** Binds the teardown engine (lib/episode/engine.ts) for this host. */
  teardown: (ctx: RunContext) => EpisodeTeardown;
  /** Report shipping (S3 / CloudWatch Logs); optional. */
  shipReport?: (ctx: RunContext) => ShipReport | undefined;
  /** Told once the daemon is ready (systemd Type=notify: given only under systemd, defaultRunDeps). */
  notifyReady?: () => Promise<void> | void;
  /** Told when shutdown starts (the teardown may still run for a while). */
  notifyStopping?: () => Promise<void> | void;
  /** Starts the systemd watchdog pings (WatchdogSec); returns the function that stops them. */
  startWatchdog?: () => () => void;
  /** Extra background services (the sweeper). */
  background?: (ctx: RunContext) => BackgroundService[];
  /** The gate's decision now, from fresh facts: re-examines a `handover` while the host waits to die. */
  decideGate?: (ctx: RunContext) => (signal: AbortSignal) => Promise<GateDecision>;
  /** Kernel boot id; episodes of another boot are never resumed. */
  bootId?: () => string;
  /** Resolves when the process is asked to stop; default SIGTERM/SIGINT. */
  stopRequested?: () => Promise<NodeJS.Signals>;
}

export interface RunOptions {
  dryRun?: boolean;
  instanceId?: string;
}

export function readBootId(path = '/proc/sys/kernel/random/boot_id'): string {
  try {
    return readFileSync(path, 'utf8').trim() || 'unknown-boot';
  } catch {
    return 'unknown-boot';
  }
}

export async function runDaemon(runtime: Runtime, opts: RunOptions, deps: RunDeps): Promise<number> {
  const { config, logger, clock } = runtime;
  const stopAll = new AbortController();
  const signals = deps.stopRequested
    ? { requested: deps.stopRequested(), dispose: () => undefined }
    : stopOnSignals();
  let stopSignal: NodeJS.Signals | undefined;
  void signals.requested.then((sig) => {
    stopSignal = sig;
    stopAll.abort(new Error(`received ${sig}`));
  });
  if (opts.instanceId !== undefined) checkInstanceId(opts.instanceId, '--instance-id');
  const dryRun = !!opts.dryRun || config.dryRun;
  let stopWatchdog = () => undefined as void;
  let stateDir: OpenedStateDir | undefined;
  try {
    // First of all: a second daemon on the same state dir exits 2 here, before it touches anything.
    stateDir = await openStateDir(config.stateDir, { logger, holder: 'run' });
    const instanceId = await resolveInstanceId(runtime, opts.instanceId, stopAll.signal);
    const clients = await runtime.aws();
    const observer =
      config.gate.mode === 'loxilb-api'
        ? new HaObserver({
            api: loxilbApi(config),
            clock,
            logger: logger.child({ instanceId }),
            stateDir: config.stateDir,
          })
        : undefined;
    const ctx: RunContext = { runtime, config, logger, clients, instanceId, dryRun, observer };
    logger.info('starting', {
      instanceId,
      stage: 'startup',
      dryRun,
      region: clients.region,
      stateDir: stateDir.mode,
      config,
      // loxilb's own flags, the defaults under the config (null: no loxilb process found in /proc).
      loxilb: runtime.loxilb ?? null,
    });
    const identity = await hostIdentity(runtime, clients.region, stopAll.signal);

    const coordinator = new Coordinator({
      instanceId,
      bootId: (deps.bootId ?? readBootId)(),
      config,
      dryRun,
      clock,
      logger,
      journal: new Journal(config.stateDir, undefined, { persist: stateDir.mode === 'disk', logger }),
      teardown: deps.teardown(ctx),
      // The Auto Scaling client is read when an episode first needs it, not at start (it loads when work comes).
      completion: completionPort(
        {
          get autoScaling() {
            return clients.autoScaling;
          },
          config,
          clock,
          logger,
        },
        instanceId,
      ),
      shipReport: deps.shipReport?.(ctx),
    });
    const sqs = new SqsSource(ctx, identity, (n, m) => coordinator.accept(n, m));
    coordinator.attachMessages(sqs);
    const poller = config.sources.imds.enabled
      ? new ImdsPoller({
          imds: runtime.imds,
          instanceId,
          clock,
          logger,
          intervalMs: config.sources.imds.pollIntervalMs,
          onNotice: async (n) => (await coordinator.accept(n)).status !== 'not-due',
        })
      : undefined;

    // Start-up checks, before `ready`: the journal, then IMDS once.
    const resumed = await coordinator.start();
    if (poller) await poller.pollOnce(stopAll.signal).catch(() => undefined);
    await sqs.prepare(coordinator.state(), stopAll.signal);
    stopAll.signal.throwIfAborted();
    logger.info('ready', {
      instanceId,
      stage: 'startup',
      dryRun,
      episode: coordinator.activeEpisode,
      resumed: !!resumed && !resumed.closed,
      imds: !!poller,
      sqs: sqs.description,
    });
    if (deps.notifyReady) await deps.notifyReady();
    stopWatchdog = deps.startWatchdog?.() ?? stopWatchdog;

    const sources = new AbortController();
    const stopSources = () => sources.abort();
    stopAll.signal.addEventListener('abort', stopSources, { once: true });
    const background = deps.background?.(ctx) ?? [];
    const loops: Array<Promise<void>> = [];
    if (observer) loops.push(observer.run(config.gate.observeIntervalMs, sources.signal));
    const decide = deps.decideGate?.(ctx);
    if (decide) {
      loops.push(
        watchHandover(
          {
            clock,
            logger,
            instanceId,
            intervalMs: config.gate.redecideIntervalMs,
            pending: () => coordinator.handoverPending,
            previous: () => coordinator.gateDecision,
            decide,
            reexamine: (reason) => coordinator.reexamine(reason),
          },
          sources.signal,
        ),
      );
    }
    if (poller) loops.push(poller.run(sources.signal));
    if (sqs.enabled) loops.push(sqs.run(sources.signal));
    for (const s of background) {
      loops.push(
        Promise.resolve()
          .then(() => s.start(sources.signal))
          .catch((err: Error) => {
            logger.error(`${s.name} failed`, { instanceId, stage: s.name, error: err.message });
          }),
      );
    }

    await signals.requested;
    if (deps.notifyStopping) await deps.notifyStopping();
    // Every loop's AWS calls end on the stop signal (lib/aws/call.ts); the bound is for anything
    // else, so the shutdown probe and the teardown keep their share of the unit's stop timeout.
    const sourcesStopped = Promise.allSettled([
      ...loops,
      ...background.map((s) => Promise.resolve().then(() => s.stop?.())),
    ]);
    if (!(await settledWithin(sourcesStopped, SOURCES_STOP_MS, clock))) {
      logger.error('sources and background services did not stop in time; shutting down without them', {
        instanceId,
        stage: 'shutdown',
        durationMs: SOURCES_STOP_MS,
      });
    }
    await shutdown(ctx, coordinator);
    logger.info('stopped', { instanceId, stage: 'shutdown', signal: stopSignal });
    return 0;
  } catch (err) {
    if (stopAll.signal.aborted) {
      logger.info('stopped during start-up', { stage: 'startup', signal: stopSignal });
      return 0;
    }
    throw err;
  } finally {
    stopWatchdog();
    signals.dispose();
    await stateDir?.release();
  }
}

/** How long SIGTERM waits for the IMDS poller, SQS consumer and background services to end. */
const SOURCES_STOP_MS = 5000;

/** True when `work` settled within `ms`. */
async function settledWithin(work: Promise<unknown>, ms: number, clock: Runtime['clock']): Promise<boolean> {
  const timer = new AbortController();
  const done = await Promise.race([
    work.then(() => true),
    clock.sleep(ms, timer.signal).then(
      () => false,
      () => true,
    ),
  ]);
  timer.abort();
  return done;
}

/**
 * The account and region SQS messages must name (IMDS identity document; the region falls back to
 * the one the AWS clients use). What cannot be read is not checked, and the log says so.
 */
async function hostIdentity(
  runtime: Runtime,
  clientRegion: string,
  signal: AbortSignal,
): Promise<HostIdentity> {
  const read = runtime.config.sources.imds.enabled ? await readHostIdentity(runtime.imds, signal) : undefined;
  const identity: HostIdentity = { ...read, region: read?.region ?? clientRegion };
  if (!identity.accountId) {
    runtime.logger.warn(
      "cannot read this host's account id from IMDS (instance identity document); SQS messages are checked for region only",
      { stage: 'startup' },
    );
  }
  return identity;
}

/** SIGTERM: a termination (finish the teardown first) or a restart/reboot (leave, touch nothing)? */
async function shutdown(ctx: RunContext, coordinator: Coordinator): Promise<void> {
  const { config, logger, clients, instanceId, runtime } = ctx;
  const log = { instanceId, stage: 'shutdown-probe', episode: coordinator.activeEpisode };
  const probeCfg = config.sources.shutdownProbe;
  if (!probeCfg.enabled) {
    if (coordinator.busy) logger.info('stopping mid-episode; the journal resumes it on the next start', log);
    await coordinator.stop();
    return;
  }
  // The probe has 10 s at most (a stop must not wait on a hung EC2); no answer means "exit, touch nothing".
  const probe = await probeInstanceState(
    { ec2: clients.ec2, config, clock: runtime.clock, logger },
    instanceId,
    undefined,
    runtime.clock.now() + Math.min(probeCfg.timeoutMs, 10000),
  );
  if (probe.verdict !== 'terminating') {
    logger.info('shutdown is not a termination; exiting without changes', {
      ...log,
      state: probe.state ?? null,
      verdict: probe.verdict,
      errorCode: probe.errorCode,
      error: probe.error,
    });
    if (coordinator.busy) logger.info('stopping mid-episode; the journal resumes it on the next start', log);
    await coordinator.stop();
    return;
  }
  logger.warn('instance is shutting down: running the teardown before exit', { ...log, state: probe.state });
  const started = runtime.clock.now();
  await coordinator.accept(shutdownNotice(instanceId, started, probe.state!));
  // An episode that handed over earlier is looked at again now: the peer it counted on may be
  // ending too. loxilb is still up (the unit stops before it); if not, its last observation counts.
  await coordinator.reexamine('SIGTERM shutdown probe: the instance is shutting down');
  const finished = await coordinator.idle(Math.max(0, probeCfg.timeoutMs - (runtime.clock.now() - started)));
  if (!finished) {
    logger.error('teardown did not finish within sources.shutdownProbe.timeoutMs', {
      ...log,
      episode: coordinator.activeEpisode,
      durationMs: runtime.clock.now() - started,
    });
  }
  await coordinator.stop();
}

/** The teardown engine bound to this host's clients and config. */
export function engineTeardown(ctx: RunContext): EpisodeTeardown {
  const { config, clients, runtime } = ctx;
  // Built on the first run: the EC2 and Auto Scaling clients load when work comes, not at start.
  const deps = () => ({ ...engineDeps(runtime, clients.ec2, clients.autoScaling), observer: ctx.observer });
  return {
    run: (req) => runTeardown(deps(), req),
    writeReport: (report) => writeReport(config.reports.dir, report),
    exitCode: reportExitCode,
    // Parsed with the report's schema: a damaged file is an error naming the path and field.
    readReport: readReportFile,
  };
}

/** The gate bound to this host, deciding from fresh facts (for the handover watch). */
export function engineGate(ctx: RunContext): (signal: AbortSignal) => Promise<GateDecision> {
  const deps = () => ({
    ...engineDeps(ctx.runtime, ctx.clients.ec2, ctx.clients.autoScaling),
    observer: ctx.observer,
  });
  return (signal) =>
    decideGate(deps(), { instanceId: ctx.instanceId, episode: 'redecide', dryRun: true, signal });
}

/**
 * Report shipping to S3 / CloudWatch Logs when configured, with the episode's own log lines
 * (buffered by a transport added to the daemon's logger).
 */
export function episodeShipper(ctx: RunContext): ShipReport | undefined {
  const { config, clients, logger, runtime } = ctx;
  if (!config.reports.s3 && !config.reports.cloudwatchLogs) return undefined;
  const lines = new EpisodeLogBuffer();
  logger.add(lines);
  const ship = createEpisodeShipper({
    deps: {
      // Read when a report is shipped: the S3 and CloudWatch Logs clients load when work comes.
      get s3() {
        return config.reports.s3 ? clients.s3 : undefined;
      },
      get logs() {
        return config.reports.cloudwatchLogs ? clients.logs : undefined;
      },
      clock: runtime.clock,
      logger,
      config,
    },
    config: config.reports,
    lines,
  });
  return (report, c) => ship(report, c);
}

/**
 * The real dependencies of `run`. The sweeper plugs in through `background`. systemd is told
 * (ready, stopping, watchdog) only when it started the daemon as Type=notify (NOTIFY_SOCKET).
 */
export function defaultRunDeps(runtime: Pick<Runtime, 'logger' | 'env'>): RunDeps {
  const { logger, env } = runtime;
  let notifier: SystemdNotifier | undefined;
  // A notify failure (no systemd-notify binary, a socket gone) is logged, never silent.
  const systemd = () =>
    (notifier ??= createSystemdNotifier(env, undefined, {
      onError: (message) => logger.warn('systemd notification failed', { stage: 'systemd', error: message }),
    }));
  const underSystemd = Boolean(env.NOTIFY_SOCKET);
  return {
    teardown: engineTeardown,
    shipReport: episodeShipper,
    notifyReady: underSystemd ? () => systemd().ready() : undefined,
    notifyStopping: underSystemd ? () => systemd().stopping() : undefined,
    startWatchdog: () => systemd().startWatchdog(),
    background: sweeperBackground,
    decideGate: engineGate,
  };
}

export function registerRun(program: Command, deps: (runtime: Runtime) => RunDeps = defaultRunDeps): void {
  program
    .command('run')
    .description(
      'Run the daemon: watch IMDS and SQS, tear down on termination, complete the lifecycle action',
    )
    .option('--dry-run', 'observe, decide and report only: zero mutating calls')
    .option('--instance-id <id>', 'this instance (default: IMDS instance-id)')
    .action(async (opts: RunOptions, cmd: Command) => {
      const runtime = createRuntime(cmd.optsWithGlobals<GlobalOptions>());
      const backstop = shutdownBackstop(runtime);
      try {
        process.exitCode = await runDaemon(runtime, opts, deps(runtime));
      } finally {
        runtime.close();
        backstop.finished();
      }
    });
}
