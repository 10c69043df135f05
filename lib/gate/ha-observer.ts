import * as nodeFs from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { Clock } from '../clock';
import { HaObservation, haRoleOf, LoxilbAnswer } from './gate';
import { Logger } from '../log';
import { LoxilbApi, LoxilbApiError, LoxilbHaView, LoxilbHaViewSchema } from './loxilb-api';
import { isoTime, parseDocumentText } from '../report/document-schema';
import { writeJsonAtomic } from '../report/report';

/**
 * Reads loxilb's HA state (role, BFD sessions) while the daemon runs and keeps the last answer with
 * its time in `<stateDir>/ha-observation.json` (atomic write), so a decision taken after loxilb died
 * — or by a daemon restarted in between — still knows what loxilb last said, and how long ago.
 * Only successful reads are kept: "unreachable" is not an observation, it is the absence of one.
 */

export const OBSERVATION_FILE = 'ha-observation.json';

/** `<stateDir>/ha-observation.json`: loxilb's last answer and when it came. */
const ObservationFileSchema = z.object({
  schemaVersion: z.literal(1),
  observedAt: isoTime,
  url: z.string(),
  view: LoxilbHaViewSchema,
  /** When this node was seen becoming MASTER (absent: not seen, or not MASTER). */
  promotedAt: isoTime.optional(),
});
type ObservationFile = z.infer<typeof ObservationFileSchema>;

export interface ObservationFs {
  readFile(path: string, encoding: 'utf8'): Promise<string>;
  mkdir(path: string, opts: { recursive: true }): Promise<unknown>;
  writeFile(path: string, data: string, opts: { mode: number }): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  rm?(path: string, opts: { force: true }): Promise<void>;
}

export interface HaObserverDeps {
  api: LoxilbApi;
  clock: Clock;
  logger: Logger;
  stateDir: string;
  fs?: ObservationFs;
  /** Read the kept observation but never write it (the CLI: the file is the daemon's). */
  readOnly?: boolean;
}

/**
 * When this node became MASTER, if it was seen doing so: MASTER now after an observation that said
 * otherwise, or still MASTER since such a one. A daemon that only ever saw MASTER saw no promotion
 * (its loxilb's takeover, if any, was before the daemon looked).
 */
function promotion(before: HaObservation | undefined, view: LoxilbHaView, now: number): number | undefined {
  if (haRoleOf(view) !== 'MASTER' || !before) return undefined;
  if (haRoleOf(before.view) !== 'MASTER') return now;
  return before.promotedAt;
}

/** A short, comparable summary, so the log says when loxilb's HA state changes and not every tick. */
function summary(view: LoxilbHaView): string {
  const role = haRoleOf(view) ?? 'none';
  if (view.bfdRunning === false) return `${role}; BFD off`;
  const peers = view.bfdSessions.map((s) => `${s.remoteIp ?? '?'}=${s.state ?? '?'}`).sort();
  return `${role}; BFD ${peers.length ? peers.join(',') : 'no sessions'}`;
}

export class HaObserver {
  private last?: HaObservation;
  private lastSummary?: string;
  private failing = false;
  private loaded = false;
  private readonly fs: ObservationFs;
  readonly file: string;

  constructor(private readonly deps: HaObserverDeps) {
    this.fs = deps.fs ?? nodeFs;
    this.file = join(deps.stateDir, OBSERVATION_FILE);
  }

  /** The last observation kept (memory, else disk), or undefined. */
  async lastObservation(): Promise<HaObservation | undefined> {
    if (!this.loaded) {
      this.loaded = true;
      try {
        const text = await this.fs.readFile(this.file, 'utf8');
        const doc = parseDocumentText(ObservationFileSchema, text, this.file, 'a loxilb observation file');
        const observedAt = Date.parse(doc.observedAt);
        if (!this.last || this.last.observedAt < observedAt)
          this.last = {
            observedAt,
            url: doc.url,
            view: doc.view,
            ...(doc.promotedAt ? { promotedAt: Date.parse(doc.promotedAt) } : {}),
          };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
          this.deps.logger.warn('last loxilb observation unreadable; ignoring it', {
            stage: 'observe',
            resource: this.file,
            error: (err as Error).message,
          });
        }
      }
    }
    return this.last;
  }

  /** One read of loxilb; keeps it when it answered. Never throws. */
  async observeOnce(signal?: AbortSignal): Promise<LoxilbAnswer> {
    const { api, clock, logger } = this.deps;
    await this.lastObservation();
    try {
      const view = await api.haView(signal);
      const observedAt = clock.now();
      const promotedAt = promotion(this.last, view, observedAt);
      const observation: HaObservation = {
        observedAt,
        url: api.baseUrl,
        view,
        ...(promotedAt !== undefined ? { promotedAt } : {}),
      };
      this.last = observation;
      await this.save(observation);
      const s = summary(view);
      if (s !== this.lastSummary || this.failing) {
        logger.info(`loxilb HA state: ${s}`, { stage: 'observe', resource: api.baseUrl, haState: s });
      }
      this.lastSummary = s;
      this.failing = false;
      return { url: api.baseUrl, observation, live: true };
    } catch (err) {
      const e = err as LoxilbApiError;
      const error = e.message ?? String(err);
      if (!this.failing && !signal?.aborted) {
        logger.warn('loxilb API did not answer; keeping the last observation', {
          stage: 'observe',
          resource: api.baseUrl,
          errorCode: e.code ?? 'Unknown',
          error,
          lastObservedAt: this.last ? new Date(this.last.observedAt).toISOString() : null,
        });
      }
      this.failing = true;
      return { url: api.baseUrl, observation: this.last, live: false, error, errorCode: e.code ?? 'Unknown' };
    }
  }

  /** Observes every `intervalMs` until `signal` aborts. */
  async run(intervalMs: number, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.observeOnce(signal);
      try {
        await this.deps.clock.sleep(intervalMs, signal);
      } catch {
        return;
      }
    }
  }

  private async save(o: HaObservation): Promise<void> {
    if (this.deps.readOnly) return;
    const doc: ObservationFile = {
      schemaVersion: 1,
      observedAt: new Date(o.observedAt).toISOString(),
      url: o.url,
      view: o.view,
      ...(o.promotedAt !== undefined ? { promotedAt: new Date(o.promotedAt).toISOString() } : {}),
    };
    await writeJsonAtomic(this.deps.stateDir, OBSERVATION_FILE, doc, this.fs).catch((err: Error) =>
      this.deps.logger.warn('could not keep the loxilb observation on disk', {
        stage: 'observe',
        resource: this.file,
        error: err.message,
      }),
    );
  }
}
