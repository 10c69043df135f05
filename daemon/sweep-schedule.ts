import { Clock } from '../lib/clock';
import { Logger } from '../lib/log';

/**
 * The daemon's sweep schedule, with the guarantees the sweeper needs and no cron library at rest:
 *  - when: sweeper.schedule, as node-cron reads it — in the sweep child, which says when the next
 *    sweep is due as it ends (`nextDue` asks a child the first time). node-cron reads the local
 *    time through Intl, whose ICU data would stay in the daemon's memory for good;
 *  - jitter: each sweep starts a random delay in [0, jitterMs) after it is due, so the hosts of one
 *    cluster, which share one schedule, do not all sweep (and Describe) in the same second;
 *  - never two at once: one loop, each sweep awaited before the next is timed;
 *  - a prompt stop: stop() cancels the wait and the running sweep (its child gets SIGTERM) and waits
 *    for the loop to end.
 * A child that could not say when the next sweep is due is asked again after `retryMs`.
 */
export interface SweepScheduleOptions {
  schedule: string;
  jitterMs: number;
  retryMs: number;
  clock: Clock;
  logger: Logger;
  random?: () => number;
  /** When the first sweep is due (epoch ms), or undefined when that could not be told. */
  nextDue(signal: AbortSignal): Promise<number | undefined>;
  /** One sweep; resolves with when the next is due, as `nextDue`. */
  sweep(signal: AbortSignal): Promise<number | undefined>;
}

export class SweepSchedule {
  private readonly abort = new AbortController();
  private loop?: Promise<void>;

  constructor(private readonly opts: SweepScheduleOptions) {}

  start(): void {
    // The loop ends only on stop (its sleeps throw then); a failing sweep never ends the schedule.
    this.loop ??= this.run(this.abort.signal).catch(() => undefined);
  }

  async stop(): Promise<void> {
    this.abort.abort(new Error('stopping'));
    await this.loop;
  }

  private async run(signal: AbortSignal): Promise<void> {
    const { clock, logger, jitterMs, retryMs } = this.opts;
    const random = this.opts.random ?? Math.random;
    let due = await this.attempt('asking when the first sweep is due', () => this.opts.nextDue(signal));
    let announced = false;
    while (!signal.aborted) {
      if (due === undefined) {
        logger.warn('cannot tell when the next sweep is due; asking again later', {
          stage: 'sweep',
          durationMs: retryMs,
        });
        await clock.sleep(retryMs, signal);
        due = await this.attempt('asking when the next sweep is due', () => this.opts.nextDue(signal));
        continue;
      }
      const delayMs = Math.max(0, due - clock.now()) + (jitterMs > 0 ? Math.floor(random() * jitterMs) : 0);
      if (!announced) {
        announced = true;
        logger.info('sweep scheduled', {
          stage: 'sweep',
          schedule: this.opts.schedule,
          jitterMs,
          nextSweepAt: new Date(due).toISOString(),
        });
      }
      await clock.sleep(delayMs, signal);
      due = await this.attempt('sweep', () => this.opts.sweep(signal));
    }
  }

  /** A step that throws is logged and counts as "cannot tell when the next is due": retried later. */
  private async attempt(what: string, step: () => Promise<number | undefined>): Promise<number | undefined> {
    try {
      return await step();
    } catch (err) {
      if (!this.abort.signal.aborted) {
        this.opts.logger.error(`${what} failed`, { stage: 'sweep', error: (err as Error).message });
      }
      return undefined;
    }
  }
}
