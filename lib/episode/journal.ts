import * as nodeFs from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { z } from 'zod';
import { Logger } from '../log';
import { LifecycleRef, TerminationNotice, TerminationNoticeSchema } from '../notice';
import { isoTime, parseDocumentText } from '../report/document-schema';

/**
 * The on-disk record of every episode, so a crash, a `kill -9` or a service restart resumes instead
 * of starting over or forgetting. One JSON file per episode under `<stateDir>/episodes/`, rewritten
 * whole on every step through tmp + fsync + rename (+ fsync of the directory): a reader sees either
 * the previous or the next version, never half of one.
 *
 * The journal serves the teardown and never gates it: when the disk cannot take a write (read-only,
 * full), the step is kept in memory, the teardown goes on, and the failure is logged as an error
 * once (and its recovery once). The next step rewrites the whole file, so a disk that comes back
 * catches up. `persist: false` (the state dir cannot be written at all, see lib/episode/state-dir.ts) keeps
 * everything in memory from the start.
 */

export const JOURNAL_SCHEMA_VERSION = 1 as const;

/** What the last CompleteLifecycleAction attempt came to. */
export const completionResults = [
  /** CompleteLifecycleAction accepted. */
  'completed',
  /** The action was already gone (Terminating:Proceed, Terminated, instance left the group). */
  'already-done',
  /** Nothing to complete: not in an Auto Scaling group, no pending action, or no hook to name. */
  'not-needed',
  /** Dry-run: completion skipped on purpose. */
  'skipped-dry-run',
  /** Gave up (timeout, AccessDenied…); the hook's DefaultResult will apply. */
  'failed',
] as const;
export type CompletionResultKind = (typeof completionResults)[number];

export const CompletionRecordSchema = z.object({
  result: z.enum(completionResults),
  /** CONTINUE | ABANDON when a call was made. */
  lifecycleActionResult: z.string().optional(),
  autoScalingGroupName: z.string().optional(),
  hookName: z.string().optional(),
  by: z.enum(['token', 'instance-id']).optional(),
  token: z.string().optional(),
  detail: z.string().optional(),
  errorCode: z.string().optional(),
  /** Notices (source|kind|sourceId|deadline) this attempt answered; a later one may need another. */
  covers: z.array(z.string()).optional(),
});
export type CompletionRecord = z.infer<typeof CompletionRecordSchema>;

export const ReportRecordSchema = z.object({
  /** Where the report was written; absent when the reports dir could not take it (see writeError). */
  path: z.string().optional(),
  /** Why the local report could not be written (it was still shipped and logged). */
  writeError: z.string().optional(),
  outcome: z.string(),
  exitCode: z.union([z.literal(0), z.literal(1)]),
});
export type ReportRecord = z.infer<typeof ReportRecordSchema>;

/**
 * One step of an episode. The gate decision, the discovery record and the action event are the
 * engine's and reach the journal as `unknown` from the coordinator; they are kept as written.
 */
export const JournalStepSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('opened'),
    at: isoTime,
    episode: z.string().min(1),
    instanceId: z.string().min(1),
    /** Kernel boot id: a notice after a stop/start (new boot) is a new termination. */
    bootId: z.string(),
    dryRun: z.boolean(),
    notice: TerminationNoticeSchema,
  }),
  /** A further notice merged into this episode (another source, or a lifecycle token arriving later). */
  z.object({ type: z.literal('notice'), at: isoTime, notice: TerminationNoticeSchema }),
  /** An SQS message this episode holds and must delete at the end. */
  z.object({ type: z.literal('message'), at: isoTime, messageId: z.string() }),
  z.object({ type: z.literal('teardown-started'), at: isoTime, deadlineAt: z.number().nullable() }),
  z.object({ type: z.literal('gate'), at: isoTime, decision: z.unknown() }),
  /** What discovery found, before the first change (lib/discovery/inventory.ts RememberedFacts); the last one counts. */
  z.object({ type: z.literal('discovered'), at: isoTime, facts: z.unknown() }),
  z.object({ type: z.literal('action'), at: isoTime, event: z.unknown() }),
  z.object({ type: z.literal('report'), at: isoTime, report: ReportRecordSchema }),
  z.object({ type: z.literal('shipped'), at: isoTime, ok: z.boolean(), detail: z.string().optional() }),
  z.object({ type: z.literal('completed'), at: isoTime, completion: CompletionRecordSchema }),
  z.object({ type: z.literal('messages-deleted'), at: isoTime, messageIds: z.array(z.string()) }),
  z.object({ type: z.literal('closed'), at: isoTime }),
  /**
   * An earlier `handover` is re-examined (the peer's end became visible, or the SIGTERM probe): the
   * gate decides again and the teardown runs again; completions and deleted messages stand.
   */
  z.object({
    type: z.literal('redecide'),
    at: isoTime,
    reason: z.string(),
    previous: z.unknown().optional(),
  }),
]);
export type JournalStep = z.infer<typeof JournalStepSchema>;

/** `<stateDir>/episodes/<episode>.json`. */
export const EpisodeFileSchema = z.object({
  schemaVersion: z.literal(JOURNAL_SCHEMA_VERSION),
  episode: z.string().min(1),
  steps: z.array(JournalStepSchema),
});
type EpisodeFile = z.infer<typeof EpisodeFileSchema>;

export interface EpisodeState {
  episode: string;
  instanceId: string;
  bootId: string;
  dryRun: boolean;
  openedAt: string;
  notices: TerminationNotice[];
  /** The lifecycle action to heartbeat and complete; a token-bearing ref wins over a token-less one. */
  lifecycle?: LifecycleRef;
  messageIds: string[];
  teardownStarted: boolean;
  gateDecision?: unknown;
  /** The latest discovery record: a resumed run starts from it. */
  discovered?: unknown;
  actionsFinished: unknown[];
  report?: ReportRecord;
  shipped?: boolean;
  completions: CompletionRecord[];
  deletedMessageIds: string[];
  closed: boolean;
  /** Re-examinations of an earlier handover, oldest first. */
  redecisions: Array<{ at: string; reason: string; previous?: unknown }>;
}

/** Folds an episode's steps into its current state (pure). */
export function reduceEpisode(steps: JournalStep[]): EpisodeState {
  const first = steps[0];
  if (!first || first.type !== 'opened')
    throw new Error('journal: an episode must start with an "opened" step');
  const state: EpisodeState = {
    episode: first.episode,
    instanceId: first.instanceId,
    bootId: first.bootId,
    dryRun: first.dryRun,
    openedAt: first.at,
    notices: [],
    messageIds: [],
    teardownStarted: false,
    actionsFinished: [],
    completions: [],
    deletedMessageIds: [],
    closed: false,
    redecisions: [],
  };
  const addNotice = (n: TerminationNotice) => {
    state.notices.push(n);
    if (n.lifecycle && (!state.lifecycle || (n.lifecycle.token && !state.lifecycle.token))) {
      state.lifecycle = n.lifecycle;
    }
  };
  for (const step of steps) {
    switch (step.type) {
      case 'opened':
      case 'notice':
        addNotice(step.notice);
        break;
      case 'message':
        if (!state.messageIds.includes(step.messageId)) state.messageIds.push(step.messageId);
        break;
      case 'teardown-started':
        state.teardownStarted = true;
        break;
      case 'gate':
        state.gateDecision = step.decision;
        break;
      case 'discovered':
        state.discovered = step.facts;
        break;
      case 'action':
        state.actionsFinished.push(step.event);
        break;
      case 'report':
        state.report = step.report;
        break;
      case 'shipped':
        state.shipped = step.ok;
        break;
      case 'completed':
        state.completions.push(step.completion);
        break;
      case 'messages-deleted':
        for (const id of step.messageIds)
          if (!state.deletedMessageIds.includes(id)) state.deletedMessageIds.push(id);
        break;
      case 'closed':
        state.closed = true;
        break;
      case 'redecide':
        state.redecisions.push({ at: step.at, reason: step.reason, previous: step.previous });
        state.gateDecision = undefined;
        state.teardownStarted = false;
        state.actionsFinished = [];
        state.report = undefined;
        state.shipped = undefined;
        state.closed = false;
        break;
    }
  }
  return state;
}

/** The parts of node:fs/promises the journal uses; a test can pass a failing one. */
export interface JournalFs {
  mkdir: typeof nodeFs.mkdir;
  open: typeof nodeFs.open;
  rename: typeof nodeFs.rename;
  readdir: typeof nodeFs.readdir;
  readFile: typeof nodeFs.readFile;
  unlink: typeof nodeFs.unlink;
}

export interface LoadedJournal {
  episodes: EpisodeState[];
  /** Files that could not be read, with why; the caller logs them. They are left in place. */
  unreadable: Array<{ file: string; error: string }>;
}

/**
 * An episode id that is also a safe file name: `ep-<UTC time to the ms>-<random>`. Unique across
 * processes (two daemons, or a daemon and a CLI run, in the same millisecond still differ); logs,
 * reports and S3 keys always pair it with the instance id. Sorting by id sorts by opening time.
 */
export function newEpisodeId(
  at: number,
  random: () => string = () => randomBytes(4).toString('hex'),
): string {
  const stamp = new Date(at).toISOString().replace(/[-:]/g, '').replace('.', '');
  return `ep-${stamp}-${random()}`;
}

export interface JournalOptions {
  /** false: keep every step in memory only (the state dir cannot be written). Default true. */
  persist?: boolean;
  /** Where disk problems are reported (loudly: they mean a restart forgets the episode). */
  logger?: Logger;
}

export class Journal {
  readonly dir: string;
  private readonly steps = new Map<string, JournalStep[]>();
  private readonly writes = new Map<string, Promise<void>>();
  private tmpSeq = 0;
  private persist: boolean;
  /** The last disk error, while the disk is failing; cleared by the next successful write. */
  private diskError?: string;

  constructor(
    stateDir: string,
    private readonly fs: JournalFs = nodeFs,
    private readonly options: JournalOptions = {},
  ) {
    this.dir = join(stateDir, 'episodes');
    this.persist = options.persist ?? true;
  }

  /** True while steps reach the disk; false in memory mode or while the disk refuses writes. */
  get onDisk(): boolean {
    return this.persist && this.diskError === undefined;
  }

  /** Reads every episode file. Leftover `.tmp` files (a crash mid-write) are ignored. */
  async load(): Promise<LoadedJournal> {
    const out: LoadedJournal = { episodes: [], unreadable: [] };
    if (!this.persist) return out;
    let names: string[];
    try {
      await this.fs.mkdir(this.dir, { recursive: true, mode: 0o750 });
      names = (await this.fs.readdir(this.dir)).filter((n) => n.endsWith('.json')).sort();
    } catch (err) {
      this.persist = false;
      this.options.logger?.error(
        `journal dir ${this.dir} cannot be used; keeping the journal in memory: a restart will not resume this boot's episodes`,
        { stage: 'journal', resource: this.dir, errorCode: errnoCode(err), error: (err as Error).message },
      );
      return out;
    }
    for (const name of names) {
      const file = join(this.dir, name);
      try {
        const text = await this.fs.readFile(file, 'utf8');
        const doc = parseDocumentText(EpisodeFileSchema, text, file, 'a teardownd journal file');
        const state = reduceEpisode(doc.steps);
        this.steps.set(state.episode, doc.steps);
        out.episodes.push(state);
      } catch (err) {
        out.unreadable.push({ file, error: (err as Error).message });
      }
    }
    return out;
  }

  /** Appends a step and durably rewrites the episode's file; resolves with the new state. */
  async append(episode: string, step: JournalStep): Promise<EpisodeState> {
    const steps = this.steps.get(episode) ?? [];
    if (steps.length === 0 && step.type !== 'opened')
      throw new Error(`journal: episode ${episode} was never opened`);
    steps.push(step);
    this.steps.set(episode, steps);
    if (!this.persist) return reduceEpisode(steps);
    const snapshot: EpisodeFile = { schemaVersion: JOURNAL_SCHEMA_VERSION, episode, steps: [...steps] };
    const previous = this.writes.get(episode) ?? Promise.resolve();
    const write = previous.then(() => this.writeOrKeepInMemory(episode, snapshot));
    this.writes.set(episode, write);
    await write;
    return reduceEpisode(steps);
  }

  private async writeOrKeepInMemory(episode: string, snapshot: EpisodeFile): Promise<void> {
    try {
      await this.writeAtomic(episode, snapshot);
    } catch (err) {
      const error = `${errnoCode(err)}: ${(err as Error).message}`;
      if (this.diskError === undefined) {
        this.options.logger?.error(
          'journal step could not be written to disk; carrying on in memory: a restart now would not resume this episode',
          {
            stage: 'journal',
            episode,
            resource: this.fileOf(episode),
            errorCode: errnoCode(err),
            error: (err as Error).message,
          },
        );
      }
      this.diskError = error;
      return;
    }
    if (this.diskError !== undefined) {
      this.options.logger?.warn('journal is reaching the disk again', {
        stage: 'journal',
        episode,
        resource: this.fileOf(episode),
        previousError: this.diskError,
      });
      this.diskError = undefined;
    }
  }

  state(episode: string): EpisodeState | undefined {
    const steps = this.steps.get(episode);
    return steps ? reduceEpisode(steps) : undefined;
  }

  /** Removes the files of closed episodes beyond the newest `keep`. */
  async prune(keep: number): Promise<void> {
    const closed = [...this.steps.entries()]
      .map(([, steps]) => reduceEpisode(steps))
      .filter((s) => s.closed)
      .sort((a, b) => a.openedAt.localeCompare(b.openedAt));
    for (const s of closed.slice(0, Math.max(0, closed.length - keep))) {
      if (this.persist) await this.fs.unlink(this.fileOf(s.episode)).catch(() => undefined);
      this.steps.delete(s.episode);
    }
  }

  private fileOf(episode: string): string {
    return join(this.dir, `${episode}.json`);
  }

  private async writeAtomic(episode: string, doc: EpisodeFile): Promise<void> {
    await this.fs.mkdir(this.dir, { recursive: true, mode: 0o750 });
    const file = this.fileOf(episode);
    const tmp = `${file}.${process.pid}-${++this.tmpSeq}.tmp`;
    try {
      const handle = await this.fs.open(tmp, 'w', 0o600);
      try {
        await handle.writeFile(`${JSON.stringify(doc, null, 2)}\n`, 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      await this.fs.rename(tmp, file);
    } catch (err) {
      // A full disk must not also keep the half-written temp file.
      await this.fs.unlink(tmp).catch(() => undefined);
      throw err;
    }
    // The rename is durable only once the directory entry is on disk.
    const dir = await this.fs.open(this.dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}

function errnoCode(err: unknown): string {
  return (err as NodeJS.ErrnoException)?.code ?? (err as Error)?.name ?? 'Error';
}
