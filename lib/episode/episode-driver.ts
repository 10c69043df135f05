import type { RememberedFacts } from '../discovery/inventory';
import type { GateDecision } from '../gate/gate';
import type { LifecycleRef } from '../notice';
import type { TeardownReport } from '../report/report';
import {
  engineEventStep,
  heldMessageIds,
  journalStepFor,
  MachineSettings,
  nextStep,
  PassFacts,
  reportCompletion,
  Step,
  StepDone,
} from './episode-machine';
import type { EpisodeState, JournalStep } from './journal';
import type { CoordinatorDeps, HeartbeatHandle, MessagePort, ShipOutcome } from './ports';

/**
 * Performs an episode's steps for the coordinator: asks the state machine (episode-machine.ts) for
 * the next step, does it — engine run, report write, ship, complete, delete messages, close — and
 * journals what it did, until the machine says rest. Keeps the lifecycle action alive (heartbeats)
 * and the held SQS messages invisible while it works.
 */
export class EpisodeDriver {
  /** The SQS source, once attached. */
  messages?: MessagePort;
  private heartbeat?: HeartbeatHandle | null;
  private heartbeatStarting?: Promise<void>;
  private lastProgressAt = 0;
  /** This run's report, in memory for shipping and for adding the completion. */
  private lastReport?: TeardownReport;

  constructor(
    private readonly deps: CoordinatorDeps,
    private readonly settings: MachineSettings,
  ) {}

  /** A lifecycle token that arrived later: the running heartbeat switches to it. */
  useToken(token: string): void {
    this.heartbeat?.useToken(token);
  }

  /** A re-examined handover runs the engine again: the report in memory is no longer this run's. */
  forgetReport(): void {
    this.lastReport = undefined;
  }

  /** One pass: the machine's next step, performed and journaled, until it says rest. */
  async drive(episode: string, stop: AbortSignal): Promise<void> {
    const pass: PassFacts = {
      report: this.lastReport ? 'held' : 'missing',
      shipping: !!this.deps.shipReport,
      messages: !!this.messages,
      messagesTried: false,
    };
    let state = this.deps.journal.state(episode)!;
    const extender = this.startExtender(episode, stop);
    try {
      for (;;) {
        const step = nextStep(this.settings, state, pass, this.deps.clock.now());
        if (step.do === 'rest') return;
        stop.throwIfAborted();
        // The lifecycle action is no longer kept alive once the work it waited for is done.
        if (step.do !== 'teardown' && step.do !== 'read-report' && step.do !== 'ship')
          await this.stopHeartbeat();
        state = await this.perform(state, step, pass, stop);
      }
    } finally {
      extender.abort();
      await this.stopHeartbeat();
    }
  }

  private async perform(
    state: EpisodeState,
    step: Step,
    pass: PassFacts,
    stop: AbortSignal,
  ): Promise<EpisodeState> {
    const { logger, instanceId, clock, teardown } = this.deps;
    const episode = state.episode;
    const log = { instanceId, episode, stage: 'coordinator' };
    switch (step.do) {
      case 'teardown': {
        this.lastProgressAt = clock.now();
        if (step.heartbeat) this.ensureHeartbeat(episode, state.lifecycle, stop);
        const report = await this.runTeardown(state, step.deadlineAt, stop);
        stop.throwIfAborted();
        const exitCode = teardown.exitCode(report);
        this.lastReport = report;
        pass.report = 'held';
        const written = await this.writeReportOrLog(episode, report);
        const at = clock.now();
        return this.record(state, {
          type: 'teardown-finished',
          at,
          outcome: report.outcome,
          exitCode,
          written,
        });
      }
      case 'read-report': {
        this.lastReport = await teardown.readReport?.(step.path).catch((err: Error) => {
          logger.warn('could not read the written report back', {
            ...log,
            resource: step.path,
            error: err.message,
          });
          return undefined;
        });
        pass.report = this.lastReport ? 'held' : 'unreadable';
        return state;
      }
      case 'ship': {
        const outcome = await this.ship(episode, this.lastReport!, stop);
        // Cut by stop(), not by the destination: the next start ships it again.
        stop.throwIfAborted();
        return this.record(state, { type: 'shipped', at: clock.now(), outcome });
      }
      case 'complete':
      case 'skip-completion': {
        let done: StepDone;
        if (step.do === 'complete') {
          const { lifecycle, result } = step;
          const record = await this.deps.completion.complete({ episode, lifecycle, result, signal: stop });
          done = { type: 'completed', at: clock.now(), lifecycle, record };
        } else {
          const lifecycleToken = step.lifecycle?.token;
          logger.info('dry-run: lifecycle action not completed', {
            ...log,
            stage: 'completion',
            lifecycleToken,
          });
          done = { type: 'completion-skipped', at: clock.now(), lifecycle: step.lifecycle };
        }
        const after = await this.record(state, done);
        if (this.lastReport && after.report?.path) {
          this.lastReport.completion = reportCompletion(after);
          await teardown
            .writeReport(this.lastReport)
            .catch((err: Error) =>
              logger.warn('could not add the completion to the local report', { ...log, error: err.message }),
            );
        }
        return after;
      }
      case 'delete-messages': {
        pass.messagesTried = true;
        const deleted = await this.messages!.delete(step.messageIds);
        if (deleted.length > 0)
          logger.info('episode messages deleted', {
            ...log,
            stage: 'sqs',
            action: 'DeleteMessage',
            messageIds: deleted,
          });
        return this.record(state, { type: 'messages-deleted', at: clock.now(), messageIds: deleted });
      }
      case 'close': {
        const closed = await this.record(state, { type: 'closed', at: clock.now() });
        logger.info('episode closed', {
          ...log,
          outcome: closed.report?.outcome,
          completion: closed.completions.map((c) => c.result),
          durationMs: clock.now() - Date.parse(closed.openedAt),
        });
        await this.messages
          ?.episodeClosed(closed)
          .catch((err: Error) => logger.warn('after-episode step failed', { ...log, error: err.message }));
        return closed;
      }
      case 'rest':
        return state;
    }
  }

  /**
   * The local report never gates the episode: a reports dir that is read-only or full is logged
   * loudly, with the whole report in the log line (journald keeps it), and the episode goes on to
   * ship the report and complete the lifecycle action.
   */
  private async writeReportOrLog(
    episode: string,
    report: TeardownReport,
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

  private async runTeardown(
    state: EpisodeState,
    deadlineAt: number | undefined,
    signal: AbortSignal,
  ): Promise<TeardownReport> {
    const { journal, clock, logger } = this.deps;
    await this.record(state, { type: 'teardown-started', at: clock.now(), deadlineAt });
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
    const write = (step: JournalStep): Promise<void> => {
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
        ...journaled(state),
        redecided: state.redecisions.at(-1),
        dryRun: this.deps.dryRun,
        deadlineAt,
        signal,
        onEvent: (event) => {
          this.lastProgressAt = clock.now();
          const step = engineEventStep(state, event, clock.now());
          const landed = step && write(step);
          // The engine waits for the discovery record before its first change.
          if (event.type === 'discovered') return landed ?? undefined;
        },
      });
    } finally {
      await writes;
    }
  }

  /** Ships within the shipper's own bound; a failure is journaled and the episode goes on to complete. */
  private async ship(episode: string, report: TeardownReport, stop: AbortSignal): Promise<ShipOutcome> {
    const { logger, clock, instanceId } = this.deps;
    const started = clock.now();
    // The port never throws; should one anyway, that is a failed shipment, not a stuck episode.
    const outcome = await this.deps.shipReport!(report, { episode, instanceId, signal: stop }).catch(
      (err: Error): ShipOutcome => ({ ok: false, durationMs: clock.now() - started, summary: err.message }),
    );
    const fields = { instanceId, episode, stage: 'report', durationMs: outcome.durationMs };
    if (outcome.ok) logger.info('report shipped', fields);
    else if (!stop.aborted)
      logger.error('report shipping failed; completing the lifecycle action anyway', {
        ...fields,
        error: outcome.summary,
      });
    return outcome;
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

  /** Keeps the episode's messages invisible while it runs (renewed at half the visibility timeout). */
  private startExtender(episode: string, stop: AbortSignal): AbortController {
    const ctl = new AbortController();
    const { clock, config, journal, logger } = this.deps;
    const messages = this.messages;
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
        const ids = heldMessageIds(journal.state(episode));
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

  async record(state: EpisodeState, done: StepDone): Promise<EpisodeState> {
    const step = journalStepFor(state, done);
    return step ? this.deps.journal.append(state.episode, step) : state;
  }
}

/**
 * What the engine gave earlier runs of the episode, as the journal keeps it (journal.ts stores the
 * engine's records without their types): reused on resume.
 */
export function journaled(s: EpisodeState): { gateDecision?: GateDecision; remembered?: RememberedFacts } {
  return {
    gateDecision: s.gateDecision as GateDecision | undefined,
    remembered: s.discovered as RememberedFacts | undefined,
  };
}
