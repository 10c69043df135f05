import { Clock } from '../clock';
import { Config } from '../config/schema';
import { CompletionRecord, EpisodeState, Journal, JournalStep, newEpisodeId } from './journal';
import { Logger } from '../log';
import { isDestructive, isStop, LifecycleRef, NoticeKind, TerminationNotice } from '../notice';
import { MessageDecision } from '../sources/sqs-messages';

/**
 * One teardown per termination of this instance, however many sources report it. Every notice goes
 * through `accept`; the first destructive one opens an episode (journaled before anything else), the
 * rest are merged into it. `drive` then does whatever the journal says is still missing, in order:
 * teardown → report written → report shipped → lifecycle completed → SQS messages deleted → closed.
 * Because each step is journaled, a restarted daemon calls the same `drive` and picks up where the
 * last one stopped, with the same episode id, gate decision and lifecycle token.
 */

/** What the coordinator asks of the engine (lib/episode/engine.ts `runTeardown`, bound to its deps). */
export interface EpisodeTeardownRequest {
  instanceId: string;
  episode: string;
  trigger?: TerminationNotice;
  /** The gate decision journaled earlier in this episode: reused on resume. */
  gateDecision?: unknown;
  /** What earlier runs of this episode discovered (journal): a resumed run does not forget it. */
  remembered?: unknown;
  /** Set when this run re-examines an earlier `handover` of the episode. */
  redecided?: { at: string; reason: string; previous?: unknown };
  dryRun: boolean;
  deadlineAt?: number;
  signal?: AbortSignal;
  /** The engine waits for the promise returned for `discovered` before its first change. */
  onEvent?: (event: EngineEventLike) => void | Promise<void>;
}
export interface EngineEventLike {
  type: string;
  [key: string]: unknown;
}
export interface ReportLike {
  outcome: string;
  completion?: unknown;
}

export interface EpisodeTeardown<R extends ReportLike = ReportLike> {
  /** Runs the engine; `gateDecision` is the one journaled earlier in this episode, if any. */
  run(req: EpisodeTeardownRequest): Promise<R>;
  /** Writes the report locally; returns its path. Called again with `completion` filled in. */
  writeReport(report: R): Promise<string>;
  /** 0 clean, 1 something left behind. */
  exitCode(report: R): 0 | 1;
  /** Reads a written report back (after a restart), to ship it and add the completion. */
  readReport?(path: string): Promise<R>;
  /** The gate decision carried by a `gate-decided` event, to journal and reuse on resume. */
  gateDecisionOf?(event: EngineEventLike): unknown;
}

/** Seam for report shipping (S3 / CloudWatch Logs); bounded by reports.shipTimeoutMs. */
export type ShipReport<R extends ReportLike = ReportLike> = (
  report: R,
  ctx: { episode: string; instanceId: string; signal: AbortSignal },
) => Promise<void>;

/** Lifecycle completion, as the coordinator uses it (lib/completion/completion.ts behind it). */
export interface CompletionPort {
  /**
   * Starts heartbeating the action (resolving group/hook/timeout first). Returns a handle, or null
   * when there is nothing to heartbeat (not in a group, no hook…).
   */
  startHeartbeat(args: {
    episode: string;
    lifecycle?: LifecycleRef;
    lastProgressAt: () => number;
    signal: AbortSignal;
  }): Promise<HeartbeatHandle | null>;
  complete(args: {
    episode: string;
    lifecycle?: LifecycleRef;
    result: 'CONTINUE' | 'ABANDON';
    signal: AbortSignal;
  }): Promise<CompletionRecord>;
}
export interface HeartbeatHandle {
  useToken(token: string): void;
  stop(): Promise<void>;
}

/** SQS messages an episode holds; the consumer keeps their receipt handles. */
export interface HeldMessages {
  extend(messageIds: string[], visibilitySeconds: number): Promise<void>;
  /** Deletes those it has a receipt handle for; returns their ids. */
  delete(messageIds: string[]): Promise<string[]>;
  release(messageIds: string[]): Promise<string[]>;
}

export interface CoordinatorDeps<R extends ReportLike = ReportLike> {
  instanceId: string;
  /** Kernel boot id: episodes of an earlier boot are never resumed (the instance came back). */
  bootId: string;
  config: Config;
  dryRun: boolean;
  clock: Clock;
  logger: Logger;
  journal: Journal;
  teardown: EpisodeTeardown<R>;
  completion: CompletionPort;
  messages?: HeldMessages;
  shipReport?: ShipReport<R>;
  /**
   * Told once an episode is closed (after the lifecycle completion and message deletion), with its
   * final state; the per-host queue is retired here. Awaited, so `idle()` covers it; never throws.
   */
  onEpisodeClosed?: (state: EpisodeState) => Promise<void>;
}

export type AcceptStatus =
  /** A new episode was opened and its teardown started. */
  | 'opened'
  /** Joined the running or finished episode; any new work (a token to complete) is scheduled. */
  | 'merged'
  /** Already known: nothing new. */
  | 'duplicate'
  /** Logged only (rebalance without sources.teardownOnRebalance, scheduled reboot). */
  | 'advisory'
  /** A scheduled stop/retirement that is not due yet; ask again later. */
  | 'not-due'
  | 'wrong-instance';

export interface AcceptResult {
  status: AcceptStatus;
  episode?: string;
  /** For a notice that came with an SQS message: what the consumer does with it now. */
  message?: MessageDecision;
}

/** Identity of a notice inside an episode. */
function noticeId(n: TerminationNotice): string {
  return `${n.source}|${n.kind}|${n.sourceId ?? ''}|${n.deadline ?? ''}`;
}

const SCHEDULED_KINDS = new Set<NoticeKind>(['scheduled-stop', 'scheduled-retire']);
/** SQS caps a message's visibility timeout at 12 h. */
const MAX_VISIBILITY_SECONDS = 43200;

export class Coordinator<R extends ReportLike = ReportLike> {
  private current?: string;
  private driving?: Promise<void>;
  private again = false;
  private readonly stopController = new AbortController();
  private heartbeat?: HeartbeatHandle | null;
  private heartbeatStarting?: Promise<void>;
  private lastProgressAt = 0;
  private readonly advisoryLogged = new Set<string>();
  private lastReport?: R;

  constructor(private readonly deps: CoordinatorDeps<R>) {}

  get activeEpisode(): string | undefined {
    return this.current;
  }

  /** True while an episode is being driven (teardown, completion, message deletion). */
  get busy(): boolean {
    return this.driving !== undefined;
  }

  state(): EpisodeState | undefined {
    return this.current ? this.deps.journal.state(this.current) : undefined;
  }

  /**
   * Loads the journal. An unfinished episode of this boot is resumed at once; one of an earlier
   * boot is closed without action (the instance was stopped and started again: it is alive).
   */
  async start(): Promise<EpisodeState | undefined> {
    const { journal, logger, instanceId, bootId } = this.deps;
    const loaded = await journal.load();
    for (const u of loaded.unreadable) {
      logger.error('journal file unreadable; ignoring it', {
        instanceId,
        stage: 'journal',
        resource: u.file,
        error: u.error,
      });
    }
    for (const ep of loaded.episodes) {
      if (ep.instanceId === instanceId && ep.bootId === bootId && ep.dryRun === this.deps.dryRun) {
        this.current = ep.episode;
      } else if (!ep.closed) {
        logger.warn('closing an unfinished episode of an earlier boot or another mode without acting on it', {
          instanceId,
          episode: ep.episode,
          stage: 'journal',
          bootId: ep.bootId,
          dryRun: ep.dryRun,
        });
        await journal.append(ep.episode, { type: 'closed', at: this.iso() });
      }
    }
    await journal.prune(50);
    const state = this.state();
    if (state && this.needsWork(state)) {
      logger.info('resuming episode from the journal', {
        instanceId,
        episode: state.episode,
        stage: 'coordinator',
        gateDecided: state.gateDecision !== undefined,
        actionsFinished: state.actionsFinished.length,
        reportWritten: !!state.report,
        lifecycleToken: state.lifecycle?.token,
      });
      this.schedule();
    }
    return state;
  }

  /** Hands a notice in. Resolves once it is journaled (so an SQS message id is never lost). */
  async accept(notice: TerminationNotice, message?: { messageId: string }): Promise<AcceptResult> {
    const { config, logger, instanceId } = this.deps;
    const fields = {
      instanceId,
      stage: 'coordinator',
      kind: notice.kind,
      source: notice.source,
      sourceId: notice.sourceId,
      messageId: message?.messageId,
    };
    if (notice.instanceId !== instanceId) {
      logger.warn('notice about another instance ignored', {
        ...fields,
        noticeInstanceId: notice.instanceId,
      });
      return {
        status: 'wrong-instance',
        message: message && { action: 'release', visibilitySeconds: 0, reason: 'not this instance' },
      };
    }
    const wanted =
      (isDestructive(notice.kind) && (!isStop(notice.kind) || config.sources.teardownOnStop)) ||
      (notice.kind === 'rebalance' && config.sources.teardownOnRebalance);
    if (!wanted) {
      const key = `${notice.kind}|${notice.sourceId ?? ''}`;
      if (!this.advisoryLogged.has(key)) {
        this.advisoryLogged.add(key);
        logger.info(
          notice.kind === 'rebalance'
            ? 'rebalance recommendation noted; advisory only (sources.teardownOnRebalance is false)'
            : isStop(notice.kind)
              ? `${notice.kind} notice noted; a stop keeps the host and its ENI, and loxilb rebuilds its network on start (sources.teardownOnStop is false)`
              : `${notice.kind} notice noted; the instance does not go away`,
          { ...fields, deadline: notice.deadline },
        );
      }
      return {
        status: 'advisory',
        message: message && { action: 'delete', reason: `${notice.kind} is advisory` },
      };
    }
    const dueAt = this.dueAt(notice);
    if (dueAt !== null && !this.current) {
      const key = `not-due|${notice.sourceId ?? ''}|${notice.deadline}`;
      if (!this.advisoryLogged.has(key)) {
        this.advisoryLogged.add(key);
        logger.info('scheduled event noted; teardown starts when it is due', {
          ...fields,
          deadline: notice.deadline,
          dueAt: new Date(dueAt).toISOString(),
        });
      }
      const waitS = Math.min(
        MAX_VISIBILITY_SECONDS,
        Math.max(1, Math.ceil((dueAt - this.deps.clock.now()) / 1000)),
      );
      return {
        status: 'not-due',
        message: message && {
          action: 'release',
          visibilitySeconds: waitS,
          reason: `scheduled for ${notice.deadline}; looked at again in ${waitS} s`,
        },
      };
    }
    return this.join(notice, message, fields);
  }

  private async join(
    notice: TerminationNotice,
    message: { messageId: string } | undefined,
    fields: Record<string, unknown>,
  ): Promise<AcceptResult> {
    const { journal, logger } = this.deps;
    const held: MessageDecision = {
      action: 'retain',
      reason: 'held by the episode until teardown and completion are done',
    };
    if (!this.current) {
      const episode = newEpisodeId(this.deps.clock.now());
      // Claimed before the first await: a notice from another source arriving while the journal
      // write lands joins this episode instead of opening a second one.
      this.current = episode;
      await journal.append(episode, {
        type: 'opened',
        at: this.iso(),
        episode,
        instanceId: this.deps.instanceId,
        bootId: this.deps.bootId,
        dryRun: this.deps.dryRun,
        notice,
      });
      if (message)
        await journal.append(episode, { type: 'message', at: this.iso(), messageId: message.messageId });
      logger.info('episode opened', {
        ...fields,
        episode,
        deadline: notice.deadline,
        dryRun: this.deps.dryRun,
      });
      this.schedule();
      return { status: 'opened', episode, message: message && held };
    }
    const episode = this.current;
    const state = journal.state(episode)!;
    const knownMessage = message ? state.messageIds.includes(message.messageId) : false;
    const newToken =
      !!notice.lifecycle?.token && !state.notices.some((n) => n.lifecycle?.token === notice.lifecycle!.token);
    const sameNotice = state.notices.some(
      (n) =>
        n.kind === notice.kind &&
        n.source === notice.source &&
        n.sourceId === notice.sourceId &&
        n.deadline === notice.deadline,
    );
    if (message && !knownMessage)
      await journal.append(episode, { type: 'message', at: this.iso(), messageId: message.messageId });
    if (!sameNotice || newToken) await journal.append(episode, { type: 'notice', at: this.iso(), notice });
    const after = journal.state(episode)!;
    if (sameNotice && !newToken && knownMessage === !!message) {
      // Re-delivery of what the episode already has (an IMDS re-read, an SQS message seen again).
      if (message && after.closed && !this.busy)
        return { status: 'duplicate', episode, message: this.closedMessageDecision(after) };
      // The consumer now holds a fresh receipt handle: one more pass deletes it if the episode is ending.
      if (message) this.schedule();
      return { status: 'duplicate', episode, message: message && held };
    }
    logger.info(
      after.closed ? 'notice merged into the finished episode' : 'notice merged into the running episode',
      {
        ...fields,
        episode,
        lifecycleToken: notice.lifecycle?.token,
      },
    );
    if (newToken && this.heartbeat) this.heartbeat.useToken(notice.lifecycle!.token!);
    this.schedule();
    return { status: 'merged', episode, message: message && held };
  }

  /** A message re-delivered after its episode closed: nothing left to do with it but drop it. */
  private closedMessageDecision(state: EpisodeState): MessageDecision {
    if (state.dryRun)
      return {
        action: 'retain',
        reason: `handled by dry-run episode ${state.episode}; left for a real handler`,
      };
    return { action: 'delete', reason: `already handled by episode ${state.episode}` };
  }

  /** Scheduled stops/retirements weeks ahead must not tear down a healthy load balancer today. */
  private dueAt(notice: TerminationNotice): number | null {
    if (!SCHEDULED_KINDS.has(notice.kind) || !notice.deadline) return null;
    const e = this.deps.config.executor;
    const startAt = Date.parse(notice.deadline) - e.defaultDeadlineMs - e.deadlineReserveMs;
    return startAt > this.deps.clock.now() ? startAt : null;
  }

  /** Waits until no episode is being driven, or `timeoutMs` passes. Returns true when idle. */
  async idle(timeoutMs?: number): Promise<boolean> {
    const deadline = timeoutMs === undefined ? undefined : this.deps.clock.now() + timeoutMs;
    while (this.driving) {
      const current = this.driving;
      if (deadline === undefined) {
        await current;
        continue;
      }
      const left = deadline - this.deps.clock.now();
      if (left <= 0) return false;
      const timer = new AbortController();
      await Promise.race([current, this.deps.clock.sleep(left, timer.signal).catch(() => undefined)]);
      timer.abort();
    }
    return true;
  }

  /** True when this boot's episode ended in `handover`: the host waits to die, a peer takes over. */
  get handoverPending(): boolean {
    const s = this.state();
    return !!s && !this.busy && s.report?.outcome === 'handover';
  }

  /**
   * A `handover` is not final (both nodes of a pair can be reclaimed at once, and during a spot
   * window both still look alive): when the situation changed, or at the SIGTERM probe, the gate
   * decides again and the teardown runs again. Resolves once it is journaled and scheduled; false
   * when the episode did not end in `handover`.
   */
  async reexamine(reason: string): Promise<boolean> {
    await this.idle();
    const s = this.state();
    if (!s || s.report?.outcome !== 'handover' || this.stopController.signal.aborted) return false;
    await this.deps.journal.append(s.episode, {
      type: 'redecide',
      at: this.iso(),
      reason,
      previous: s.gateDecision,
    });
    this.lastReport = undefined;
    this.deps.logger.info('re-examining the handover', {
      instanceId: this.deps.instanceId,
      episode: s.episode,
      stage: 'coordinator',
      reason,
    });
    this.schedule();
    return true;
  }

  /** Aborts the running work (service restart): the journal lets the next start resume it. */
  async stop(): Promise<void> {
    this.stopController.abort(new Error('coordinator stopped'));
    await this.driving?.catch(() => undefined);
  }

  private schedule(): void {
    if (this.driving) {
      this.again = true;
      return;
    }
    this.driving = (async () => {
      do {
        this.again = false;
        try {
          await this.drive(this.current!);
        } catch (err) {
          if (this.stopController.signal.aborted) break;
          this.deps.logger.error('episode step failed; it will be retried on the next notice or restart', {
            instanceId: this.deps.instanceId,
            episode: this.current,
            stage: 'coordinator',
            errorCode: (err as { errorCode?: string }).errorCode ?? (err as Error).name,
            error: (err as Error).message,
          });
        }
      } while (this.again && !this.stopController.signal.aborted);
    })().finally(() => {
      this.driving = undefined;
    });
  }

  private needsWork(s: EpisodeState): boolean {
    if (!s.closed) return true;
    return this.pendingLifecycle(s) !== null;
  }

  /**
   * The lifecycle action still to complete: a token not tried yet; else, by instance id, once at
   * the end of the teardown, and again when Auto Scaling starts terminating (an `asg-terminate`
   * notice without token, e.g. IMDS target-lifecycle-state) after an attempt that found nothing.
   */
  private pendingLifecycle(s: EpisodeState): { ref?: LifecycleRef } | null {
    const tokens = [...new Set(s.notices.map((n) => n.lifecycle?.token).filter((t): t is string => !!t))];
    for (const token of tokens) {
      if (!s.completions.some((c) => c.token === token)) {
        const ref = s.notices.find((n) => n.lifecycle?.token === token)!.lifecycle!;
        return { ref };
      }
    }
    const byInstanceId = { ref: s.notices.find((n) => n.lifecycle)?.lifecycle };
    if (s.completions.length === 0) return tokens.length === 0 ? byInstanceId : null;
    if (s.completions.some((c) => c.result === 'completed' || c.result === 'already-done')) return null;
    const covered = new Set(s.completions.flatMap((c) => c.covers ?? []));
    const uncovered = s.notices.some(
      (n) => n.kind === 'asg-terminate' && !n.lifecycle?.token && !covered.has(noticeId(n)),
    );
    return uncovered ? byInstanceId : null;
  }

  private async drive(episode: string): Promise<void> {
    const { journal, logger, instanceId, clock } = this.deps;
    const stop = this.stopController.signal;
    const log = { instanceId, episode, stage: 'coordinator' };
    let state = journal.state(episode)!;
    const extender = this.startExtender(episode, stop);
    try {
      if (!state.report) {
        this.lastProgressAt = clock.now();
        // A re-examined handover already completed its lifecycle action: nothing to heartbeat.
        const completed = state.completions.some(
          (c) => c.result === 'completed' || c.result === 'already-done',
        );
        if (!this.deps.dryRun && !completed) this.ensureHeartbeat(episode, state.lifecycle, stop);
        const report = await this.runTeardown(state, stop);
        stop.throwIfAborted();
        const exitCode = this.deps.teardown.exitCode(report);
        this.lastReport = report;
        const written = await this.writeReportOrLog(episode, report);
        state = await journal.append(episode, {
          type: 'report',
          at: this.iso(),
          report: { ...written, outcome: report.outcome, exitCode },
        });
      }
      if (!this.lastReport && state.report?.path && this.deps.teardown.readReport) {
        this.lastReport = await this.deps.teardown.readReport(state.report.path).catch((err: Error) => {
          logger.warn('could not read the written report back', {
            ...log,
            resource: state.report?.path,
            error: err.message,
          });
          return undefined;
        });
      }
      if (this.deps.shipReport && state.shipped === undefined && this.lastReport) {
        state = await this.ship(episode, this.lastReport, stop);
      }
      await this.stopHeartbeat();
      for (let pending = this.pendingLifecycle(state); pending; pending = this.pendingLifecycle(state)) {
        stop.throwIfAborted();
        const completion = await this.complete(state, pending.ref, stop);
        const covers = state.notices.map(noticeId);
        state = await journal.append(episode, {
          type: 'completed',
          at: this.iso(),
          completion: { ...completion, covers },
        });
        if (this.lastReport && state.report?.path) {
          this.lastReport.completion = { lifecycle: state.completions, shipped: state.shipped ?? null };
          await this.deps.teardown
            .writeReport(this.lastReport)
            .catch((err: Error) =>
              logger.warn('could not add the completion to the local report', { ...log, error: err.message }),
            );
        }
      }
      state = await this.settleMessages(state);
      if (!state.closed) {
        state = await journal.append(episode, { type: 'closed', at: this.iso() });
        logger.info('episode closed', {
          ...log,
          outcome: state.report?.outcome,
          completion: state.completions.map((c) => c.result),
          durationMs: clock.now() - Date.parse(state.openedAt),
        });
        if (this.deps.onEpisodeClosed) {
          const closed = state;
          await this.deps
            .onEpisodeClosed(closed)
            .catch((err: Error) => logger.warn('after-episode step failed', { ...log, error: err.message }));
        }
      }
    } finally {
      extender.abort();
      await this.stopHeartbeat();
    }
  }

  /**
   * The local report never gates the episode: a reports dir that is read-only or full is logged
   * loudly, with the whole report in the log line (journald keeps it), and the episode goes on to
   * ship the report and complete the lifecycle action.
   */
  private async writeReportOrLog(
    episode: string,
    report: R,
  ): Promise<{ path?: string; writeError?: string }> {
    const { logger, instanceId } = this.deps;
    const log = { instanceId, episode, stage: 'report', outcome: report.outcome };
    try {
      const path = await this.deps.teardown.writeReport(report);
      logger.info('report written', {
        ...log,
        resource: path,
        exitCode: this.deps.teardown.exitCode(report),
      });
      return { path };
    } catch (err) {
      const errorCode = (err as NodeJS.ErrnoException).code ?? (err as Error).name;
      logger.error(
        'report could not be written to disk; shipping it and completing the lifecycle action anyway',
        {
          ...log,
          errorCode,
          error: (err as Error).message,
          report,
        },
      );
      return { writeError: `${errorCode}: ${(err as Error).message}` };
    }
  }

  private async runTeardown(state: EpisodeState, signal: AbortSignal): Promise<R> {
    const { journal, clock, logger } = this.deps;
    const deadlineAt = this.deadlineAt(state);
    await journal.append(state.episode, {
      type: 'teardown-started',
      at: this.iso(),
      deadlineAt: deadlineAt ?? null,
    });
    logger.info(state.teardownStarted ? 'teardown resumed' : 'teardown started', {
      instanceId: state.instanceId,
      episode: state.episode,
      stage: 'coordinator',
      deadline: deadlineAt ? new Date(deadlineAt).toISOString() : null,
      reusedGateDecision: state.gateDecision !== undefined,
      dryRun: this.deps.dryRun,
    });
    // Journal writes from events are chained so they land in order and are awaited before the report.
    let writes: Promise<unknown> = Promise.resolve();
    const record = (step: JournalStep): Promise<void> => {
      writes = writes.then(() => journal.append(state.episode, step)).catch(() => undefined);
      return writes.then(() => undefined);
    };
    // The chain is awaited even when the teardown rejects (stop() aborts it): `stop()` must not
    // resolve while a journal write of this episode is still landing.
    try {
      return await this.deps.teardown.run({
        instanceId: state.instanceId,
        episode: state.episode,
        trigger: state.notices[0],
        gateDecision: state.gateDecision,
        remembered: state.discovered,
        redecided: state.redecisions.at(-1),
        dryRun: this.deps.dryRun,
        deadlineAt,
        signal,
        onEvent: (event) => {
          this.lastProgressAt = clock.now();
          // Journaled before the first change: a restart after DeleteSubnet still knows the CIDR.
          if (event.type === 'discovered')
            return record({ type: 'discovered', at: this.iso(), facts: event.facts });
          if (event.type === 'gate-decided' && state.gateDecision === undefined) {
            // The engine's event carries the decision's fields beside `type`.
            const { type: _type, ...fields } = event;
            const decision = this.deps.teardown.gateDecisionOf
              ? this.deps.teardown.gateDecisionOf(event)
              : fields;
            record({ type: 'gate', at: this.iso(), decision });
          } else if (event.type === 'action-finished') {
            record({ type: 'action', at: this.iso(), event });
          }
        },
      });
    } finally {
      await writes;
    }
  }

  /** The earliest deadline any source gave that is still ahead; none → the engine's default budget. */
  private deadlineAt(state: EpisodeState): number | undefined {
    const now = this.deps.clock.now();
    const ahead = state.notices
      .map((n) => (n.deadline ? Date.parse(n.deadline) : NaN))
      .filter((t) => Number.isFinite(t) && t > now);
    return ahead.length ? Math.min(...ahead) : undefined;
  }

  private async ship(episode: string, report: R, stop: AbortSignal): Promise<EpisodeState> {
    const { journal, logger, clock, config, instanceId } = this.deps;
    const started = clock.now();
    const timeout = new AbortController();
    const signal = AbortSignal.any([stop, timeout.signal]);
    let timer: Promise<void> | undefined;
    try {
      timer = clock
        .sleep(config.reports.shipTimeoutMs, signal)
        .then(() => timeout.abort(new Error('report shipping timed out')));
      timer.catch(() => undefined);
      await Promise.race([
        this.deps.shipReport!(report, { episode, instanceId, signal }),
        new Promise<never>((_, reject) =>
          signal.addEventListener('abort', () => reject(signal.reason), { once: true }),
        ),
      ]);
      logger.info('report shipped', {
        instanceId,
        episode,
        stage: 'report',
        durationMs: clock.now() - started,
      });
      return journal.append(episode, { type: 'shipped', at: this.iso(), ok: true });
    } catch (err) {
      stop.throwIfAborted();
      logger.error('report shipping failed; completing the lifecycle action anyway', {
        instanceId,
        episode,
        stage: 'report',
        durationMs: clock.now() - started,
        errorCode: (err as Error).name,
        error: (err as Error).message,
      });
      return journal.append(episode, {
        type: 'shipped',
        at: this.iso(),
        ok: false,
        detail: (err as Error).message,
      });
    } finally {
      timeout.abort();
    }
  }

  private ensureHeartbeat(episode: string, lifecycle: LifecycleRef | undefined, signal: AbortSignal): void {
    if (this.heartbeat || this.heartbeatStarting) return;
    this.heartbeatStarting = this.deps.completion
      .startHeartbeat({ episode, lifecycle, lastProgressAt: () => this.lastProgressAt, signal })
      .then((handle) => {
        this.heartbeat = handle;
        const latest = this.deps.journal.state(episode)?.lifecycle?.token;
        if (handle && latest && latest !== lifecycle?.token) handle.useToken(latest);
      })
      .catch((err: Error) => {
        this.deps.logger.warn('could not start lifecycle heartbeats', {
          instanceId: this.deps.instanceId,
          episode,
          stage: 'completion',
          error: err.message,
        });
      });
  }

  private async stopHeartbeat(): Promise<void> {
    await this.heartbeatStarting;
    this.heartbeatStarting = undefined;
    const hb = this.heartbeat;
    this.heartbeat = undefined;
    await hb?.stop();
  }

  private async complete(
    state: EpisodeState,
    ref: LifecycleRef | undefined,
    signal: AbortSignal,
  ): Promise<CompletionRecord> {
    if (this.deps.dryRun) {
      this.deps.logger.info('dry-run: lifecycle action not completed', {
        instanceId: state.instanceId,
        episode: state.episode,
        stage: 'completion',
        lifecycleToken: ref?.token,
      });
      return { result: 'skipped-dry-run', ...(ref?.token ? { token: ref.token } : {}) };
    }
    const left = state.report?.exitCode === 1;
    const result = left ? this.deps.config.lifecycle.onFailure : 'CONTINUE';
    const record = await this.deps.completion.complete({
      episode: state.episode,
      lifecycle: ref,
      result,
      signal,
    });
    // Keep the token on the record even when completion went by instance id, so it is not retried.
    return ref?.token && !record.token ? { ...record, token: ref.token } : record;
  }

  private async settleMessages(state: EpisodeState): Promise<EpisodeState> {
    const { messages, journal, logger } = this.deps;
    const open = state.messageIds.filter((id) => !state.deletedMessageIds.includes(id));
    if (!messages || open.length === 0) return state;
    const log = { instanceId: state.instanceId, episode: state.episode, stage: 'sqs' };
    // Dry-run makes no mutating call: the messages stay in flight and come back after their
    // visibility timeout, when they are recognised as this episode's and left alone again.
    if (this.deps.dryRun) return state;
    const deleted = await messages.delete(open);
    if (deleted.length === 0) return state;
    logger.info('episode messages deleted', { ...log, action: 'DeleteMessage', messageIds: deleted });
    return journal.append(state.episode, { type: 'messages-deleted', at: this.iso(), messageIds: deleted });
  }

  /** Keeps the episode's messages invisible while it runs (renewed at half the visibility timeout). */
  private startExtender(episode: string, stop: AbortSignal): AbortController {
    const ctl = new AbortController();
    const { messages, clock, config, journal, logger } = this.deps;
    if (!messages || this.deps.dryRun) return ctl;
    const seconds = config.sources.sqs.visibilityTimeoutSeconds;
    const signal = AbortSignal.any([stop, ctl.signal]);
    void (async () => {
      for (;;) {
        try {
          await clock.sleep((seconds * 1000) / 2, signal);
        } catch {
          return;
        }
        const s = journal.state(episode);
        const ids = s ? s.messageIds.filter((id) => !s.deletedMessageIds.includes(id)) : [];
        if (ids.length === 0) continue;
        await messages.extend(ids, seconds).catch((err: Error) =>
          logger.warn('could not extend message visibility', {
            instanceId: this.deps.instanceId,
            episode,
            stage: 'sqs',
            error: err.message,
          }),
        );
      }
    })();
    return ctl;
  }

  private iso(): string {
    return new Date(this.deps.clock.now()).toISOString();
  }
}
