import { OwnershipMarker } from '../lib/sweeper/ownership';
import { runChild } from './child-process';
import type { BackgroundService, RunContext } from './commands/run';
import { SweepSchedule } from './sweep-schedule';

/**
 * The daemon's part (`teardownd run`, through RunDeps.background):
 *  - ownership marking of this host's loxilb ENIs at start-up and whenever its network interfaces
 *    change (IMDS `network/interfaces/macs`, polled at sources.imds.pollIntervalMs; without IMDS,
 *    before each sweep); never under dry-run (it is a CreateTags);
 *  - the sweeper on sweeper.schedule with jitter, when sweeper.enabled; in sweeper.mode, or report
 *    under dry-run. This host counts as a live member of the cluster: its sweeper removes orphan
 *    ENIs of dead hosts, but never the cluster's shared subnet, route table or CIDR while it runs
 *    (the rule "no instance of the cluster is running" cannot hold on a running member).
 *
 * Both need the EC2 client, so both run in a short-lived copy of this program
 * (`teardownd sweep --for-member <this instance>`, daemon/commands/sweep.ts): the memory a sweep
 * takes goes back when it ends, and the daemon at rest holds only what rest needs. The schedule, the
 * jitter, "never two sweeps at once" and the fingerprint poll stay here.
 */
export function sweeperBackground(ctx: RunContext): BackgroundService[] {
  const { config, instanceId, dryRun, logger, runtime } = ctx;
  const services: BackgroundService[] = [];
  // A child's own answer to "when is the next sweep due" (it runs node-cron; this process does not).
  const child = async (stage: string, args: string[], signal: AbortSignal | undefined) => {
    let nextSweepAt: number | undefined;
    const exit = await runChild({
      command: runtime.selfCommand,
      args: ['sweep', '--for-member', instanceId, ...(dryRun ? ['--dry-run'] : []), ...args],
      logger,
      clock: runtime.clock,
      stage,
      signal,
      onMessage: (m) => {
        const at = Date.parse(String((m as { nextSweepAt?: unknown } | null)?.nextSweepAt));
        if (Number.isFinite(at)) nextSweepAt = at;
      },
    });
    return { ...exit, nextSweepAt };
  };
  const marker = dryRun
    ? undefined
    : new OwnershipMarker({
        instanceId,
        mark: async (signal) => {
          const exit = await child('ownership', ['--mark-only'], signal);
          if (exit.code !== 0) throw new Error(`the marking child exited ${exitText(exit)}`);
        },
        fingerprint: config.sources.imds.enabled
          ? (signal) => runtime.imds.get('meta-data/network/interfaces/macs', signal)
          : undefined,
        intervalMs: config.sources.imds.pollIntervalMs,
        clock: runtime.clock,
        logger,
      });
  if (marker) {
    services.push({
      name: 'ownership',
      start: (signal) => marker.start(signal),
      stop: () => marker.stopped(),
    });
  }
  if (config.sweeper.enabled) {
    // sweeper.schedule and sweeper.regions were checked when the config was loaded. Without IMDS
    // there is no fingerprint to watch: the sweep marks this host's ENIs first.
    const markFirst = marker && !config.sources.imds.enabled ? ['--mark'] : [];
    const schedule = new SweepSchedule({
      schedule: config.sweeper.schedule,
      jitterMs: config.sweeper.jitterMs,
      retryMs: NEXT_DUE_RETRY_MS,
      clock: runtime.clock,
      logger,
      nextDue: async (signal) => (await child('sweep', ['--next-sweep'], signal)).nextSweepAt,
      sweep: async (signal) => {
        const exit = await child('sweep', markFirst, signal);
        if (signal.aborted) return undefined;
        // 1 is "orphans found or left behind": the child's own lines say which.
        const level = exit.code === 0 || exit.code === 1 ? 'info' : 'warn';
        logger.log(level, `sweep child exited ${exitText(exit)}`, {
          instanceId,
          stage: 'sweep',
          durationMs: exit.durationMs,
          exitCode: exit.code,
        });
        return exit.nextSweepAt;
      },
    });
    services.push({ name: 'sweep', start: () => schedule.start(), stop: () => schedule.stop() });
  }
  return services;
}

/** How long to wait before asking again when a child could not say when the next sweep is due. */
const NEXT_DUE_RETRY_MS = 60000;

function exitText(exit: { code: number | null; signal: string | null }): string {
  return exit.code !== null ? `with code ${exit.code}` : `on ${exit.signal ?? 'a failed start'}`;
}
