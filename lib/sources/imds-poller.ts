import { Clock } from '../clock';
import { Logger } from '../log';
import { TerminationNotice } from '../notice';
import { ImdsError } from './imds-client';
import {
  IMDS_PATHS,
  ImdsBodyError,
  parseRebalance,
  parseScheduledEvents,
  parseSpotInstanceAction,
  parseTargetLifecycleState,
  ParseContext,
} from './imds-notices';

/**
 * Polls the four IMDS items that announce termination. `pollOnce` reads them all (one failing path
 * never hides another) and returns what it found; `run` is the loop around it. A failing IMDS is
 * logged once per change of state, never fatal: the next poll may succeed.
 */
export interface ImdsReader {
  get(path: string, signal?: AbortSignal): Promise<string | null>;
}

export interface ImdsPollerDeps {
  imds: ImdsReader;
  instanceId: string;
  clock: Clock;
  logger: Logger;
}

export interface PollFailure {
  path: string;
  error: Error;
}

export interface PollResult {
  notices: TerminationNotice[];
  failures: PollFailure[];
}

type Parser = (body: string, ctx: ParseContext) => TerminationNotice[];

const READERS: Array<{ path: string; parse: Parser }> = [
  { path: IMDS_PATHS.spotInstanceAction, parse: (b, c) => [parseSpotInstanceAction(b, c)] },
  {
    path: IMDS_PATHS.targetLifecycleState,
    parse: (b, c) => {
      const n = parseTargetLifecycleState(b, c);
      return n ? [n] : [];
    },
  },
  { path: IMDS_PATHS.scheduledEvents, parse: parseScheduledEvents },
  { path: IMDS_PATHS.rebalance, parse: (b, c) => [parseRebalance(b, c)] },
];

/** One pass over every notice path. Never throws except on abort. */
export async function pollOnce(deps: ImdsPollerDeps, signal?: AbortSignal): Promise<PollResult> {
  const results = await Promise.all(
    READERS.map(async ({ path, parse }) => {
      try {
        const body = await deps.imds.get(path, signal);
        if (body === null) return { notices: [] as TerminationNotice[] };
        return { notices: parse(body, { instanceId: deps.instanceId, receivedAt: deps.clock.now() }) };
      } catch (err) {
        return { failure: { path, error: err as Error } };
      }
    }),
  );
  signal?.throwIfAborted();
  const out: PollResult = { notices: [], failures: [] };
  for (const r of results) {
    if ('failure' in r && r.failure) out.failures.push(r.failure);
    else if ('notices' in r && r.notices) out.notices.push(...r.notices);
  }
  return out;
}

/** Identity of a notice across polls: the same body read again is the same notice. */
export function noticeKey(n: TerminationNotice): string {
  return `${n.kind}|${n.sourceId ?? ''}|${n.deadline ?? ''}`;
}

export interface ImdsPollerOptions extends ImdsPollerDeps {
  intervalMs: number;
  /**
   * Called for each notice not yet handed over. Return false to be asked again on the next poll
   * (e.g. a scheduled event not yet due).
   */
  onNotice: (notice: TerminationNotice) => Promise<boolean> | boolean;
}

export class ImdsPoller {
  private readonly delivered = new Set<string>();
  /** path → last failure text, so a failing path is logged when it starts and when it changes. */
  private readonly failing = new Map<string, string>();

  constructor(private readonly options: ImdsPollerOptions) {}

  /** One poll plus delivery of new notices; what start-up and each loop turn call. */
  async pollOnce(signal?: AbortSignal): Promise<PollResult> {
    const result = await pollOnce(this.options, signal);
    this.logHealth(result);
    for (const notice of result.notices) {
      const key = noticeKey(notice);
      if (this.delivered.has(key)) continue;
      if (await this.options.onNotice(notice)) this.delivered.add(key);
    }
    return result;
  }

  /** Polls until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.pollOnce(signal);
      } catch (err) {
        if (signal.aborted) break;
        this.options.logger.error('IMDS poll failed', {
          stage: 'imds',
          errorCode: codeOf(err),
          error: (err as Error).message,
        });
      }
      try {
        await this.options.clock.sleep(this.options.intervalMs, signal);
      } catch {
        break;
      }
    }
  }

  private logHealth(result: PollResult): void {
    const { logger } = this.options;
    const failedNow = new Set<string>();
    for (const { path, error } of result.failures) {
      failedNow.add(path);
      const text = error.message;
      if (this.failing.get(path) === text) continue;
      this.failing.set(path, text);
      const fields = { stage: 'imds', resource: `/latest/${path}`, errorCode: codeOf(error), error: text };
      if (error instanceof ImdsBodyError) logger.error('IMDS notice body rejected; not acting on it', fields);
      else logger.warn('IMDS read failed; will keep polling', fields);
    }
    for (const path of [...this.failing.keys()]) {
      if (failedNow.has(path)) continue;
      this.failing.delete(path);
      logger.info('IMDS read succeeds again', { stage: 'imds', resource: `/latest/${path}` });
    }
  }
}

function codeOf(err: unknown): string {
  if (err instanceof ImdsBodyError) return 'MalformedBody';
  if (err instanceof ImdsError) return err.code ?? (err.status ? `HTTP${err.status}` : 'ImdsError');
  return (err as NodeJS.ErrnoException)?.code ?? (err as Error)?.name ?? 'Unknown';
}
