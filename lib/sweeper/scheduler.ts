import cron from 'node-cron';
import { Clock } from '../clock';
import { ConfigError } from '../config/load';
import { Logger } from '../log';

/**
 * A node-cron schedule with three guarantees the sweeper needs:
 *  - jitter: each run starts after a random delay in [0, jitterMs), so the hosts of one cluster,
 *    which share one schedule, do not all sweep (and Describe) in the same second;
 *  - no overlap: a firing while the previous run (jitter included) is still going is skipped and
 *    logged, never queued, so one process never runs two sweeps at once;
 *  - a prompt stop: stop() ends the cron task, cancels a pending jitter delay and aborts the running
 *    run through its signal, then waits for it to return.
 * node-cron only decides *when*; it is passed in (`cron`) so tests fire ticks by hand.
 */

export interface CronTask {
  stop(): void | Promise<void>;
  destroy(): void | Promise<void>;
}

export interface CronApi {
  schedule(
    expression: string,
    fn: () => void,
    options?: { name?: string; logger?: CronLogger; suppressMissedWarning?: boolean },
  ): CronTask;
  validate(expression: string): boolean;
}

interface CronLogger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string | Error, err?: Error): void;
  debug(message: string | Error, err?: Error): void;
}

export const nodeCron: CronApi = cron as unknown as CronApi;

export type TickResult = 'ran' | 'failed' | 'overlap' | 'stopped';

export interface JitteredScheduleOptions {
  /** For logs (`stage`). */
  name: string;
  expression: string;
  /** Config field the expression comes from, named in errors. */
  field?: string;
  jitterMs: number;
  clock: Clock;
  logger: Logger;
  random?: () => number;
  cron?: CronApi;
  run: (signal: AbortSignal) => Promise<void>;
}

/** A clear error naming the config field when the expression is not a cron expression. */
export function validateCronExpression(
  expression: string,
  field = 'sweeper.schedule',
  api: CronApi = nodeCron,
): void {
  let ok = false;
  try {
    ok = api.validate(expression);
  } catch {
    ok = false;
  }
  if (!ok) {
    const problem = `${field}: "${expression}" is not a valid cron expression (e.g. "*/10 * * * *")`;
    throw new ConfigError(`invalid config:\n  ${problem}`, [problem]);
  }
}

/**
 * When `expression` fires next after now. node-cron reads the local time through Intl, which costs
 * the process several megabytes of ICU data for good; the daemon asks a sweep child for it rather
 * than do it at rest (daemon/sweep-schedule.ts).
 */
export function nextCronRun(expression: string): Date {
  const task = cron.createTask(expression, () => undefined);
  try {
    return task.getNextRuns(1)[0];
  } finally {
    void task.destroy();
  }
}

export class JitteredSchedule {
  private task?: CronTask;
  private current?: Promise<TickResult>;
  private abort = new AbortController();
  private stopped = false;
  private readonly cron: CronApi;
  private readonly random: () => number;

  constructor(private readonly opts: JitteredScheduleOptions) {
    this.cron = opts.cron ?? nodeCron;
    this.random = opts.random ?? Math.random;
  }

  /** Whether a run (or its jitter delay) is in progress. */
  get busy(): boolean {
    return this.current !== undefined;
  }

  start(): void {
    if (this.task || this.stopped) return;
    validateCronExpression(this.opts.expression, this.opts.field, this.cron);
    const log = this.opts.logger;
    const stage = this.opts.name;
    this.task = this.cron.schedule(this.opts.expression, () => void this.tick(), {
      name: this.opts.name,
      suppressMissedWarning: true,
      // node-cron's own messages go through our JSON logger, never to the console.
      logger: {
        info: (m) => log.debug(String(m), { stage }),
        warn: (m) => log.warn(String(m), { stage }),
        error: (m) => log.error(String(m instanceof Error ? m.message : m), { stage }),
        debug: (m) => log.debug(String(m instanceof Error ? m.message : m), { stage }),
      },
    });
    log.info(`${stage} scheduled`, { stage, schedule: this.opts.expression, jitterMs: this.opts.jitterMs });
  }

  /** What one cron firing does (tests call it directly); `jitter: false` runs at once (by hand). */
  tick(opts: { jitter?: boolean } = {}): Promise<TickResult> {
    const stage = this.opts.name;
    if (this.stopped) return Promise.resolve('stopped');
    if (this.current) {
      this.opts.logger.warn(`${stage}: the previous run is still going; this one is skipped`, { stage });
      return Promise.resolve('overlap');
    }
    const run = this.runOnce(opts.jitter ?? true).finally(() => {
      this.current = undefined;
    });
    this.current = run;
    return run;
  }

  private async runOnce(jitter: boolean): Promise<TickResult> {
    const { clock, logger, jitterMs, name: stage } = this.opts;
    const signal = this.abort.signal;
    const delayMs = jitter && jitterMs > 0 ? Math.floor(this.random() * jitterMs) : 0;
    try {
      if (delayMs > 0) {
        logger.debug(`${stage}: waiting ${delayMs} ms (jitter) before the run`, { stage, delayMs });
        await clock.sleep(delayMs, signal);
      }
      if (signal.aborted) return 'stopped';
      await this.opts.run(signal);
      return 'ran';
    } catch (err) {
      if (signal.aborted) return 'stopped';
      logger.error(`${stage} run failed`, { stage, error: (err as Error)?.message ?? String(err) });
      return 'failed';
    }
  }

  /** Ends the schedule; aborts a pending delay or a running run and waits for it to return. */
  async stop(): Promise<void> {
    this.stopped = true;
    const task = this.task;
    this.task = undefined;
    if (task) {
      await Promise.resolve(task.stop()).catch(() => undefined);
      await Promise.resolve(task.destroy()).catch(() => undefined);
    }
    this.abort.abort(new Error(`${this.opts.name} stopped`));
    await this.current?.catch(() => undefined);
  }
}
