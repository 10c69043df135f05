import type { GateDecision } from '../gate/gate';
import type { TerminationNotice } from '../notice';
import { EpisodeDriver, journaled } from './episode-driver';
import { handoverPending, MachineSettings, needsWork, reexamination, startup } from './episode-machine';
import { acceptNotice, NoticeNote } from './episode-notices';
import { EpisodeState, newEpisodeId } from './journal';
import type { AcceptResult, CoordinatorDeps, MessagePort } from './ports';

export type {
  AcceptResult,
  AcceptStatus,
  CompletionPort,
  CoordinatorDeps,
  EpisodeTeardown,
  EpisodeTeardownRequest,
  HeartbeatHandle,
  HeldMessages,
  MessagePort,
  ShipOutcome,
  ShipReport,
} from './ports';

/**
 * One teardown per termination of this instance, however many sources report it. Every notice goes
 * through `accept`; the episode state machine (episode-notices.ts, episode-machine.ts) says what to
 * journal and whether to drive, and the driver (episode-driver.ts) performs the episode's steps —
 * teardown, report, ship, complete, delete messages, close — one drive at a time. Because each step
 * is journaled, a restarted daemon drives the same way and picks up where the last one stopped, with
 * the same episode id, gate decision and lifecycle token. Loads no engine, report, shipping or AWS
 * code: those are ports (ports.ts), handed in.
 */

export class Coordinator {
  private current?: string;
  private driving?: Promise<void>;
  private again = false;
  private readonly stopController = new AbortController();
  private readonly advisoryLogged = new Set<string>();
  private readonly machine: MachineSettings;
  private readonly driver: EpisodeDriver;

  constructor(private readonly deps: CoordinatorDeps) {
    const { instanceId, bootId, dryRun, config } = deps;
    this.machine = { instanceId, bootId, dryRun, config };
    this.driver = new EpisodeDriver(deps, this.machine);
  }

  /** The SQS source, attached once it exists (it feeds `accept`; the episode acts on its messages). */
  attachMessages(port: MessagePort): void {
    this.driver.messages = port;
  }

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

  /** The episode's journaled gate decision (the one a `handover` was made under). */
  get gateDecision(): GateDecision | undefined {
    const s = this.state();
    return s && journaled(s).gateDecision;
  }

  /** True when this boot's episode ended in `handover`: the host waits to die, a peer takes over. */
  get handoverPending(): boolean {
    return handoverPending(this.state(), this.busy);
  }

  /**
   * Loads the journal. An unfinished episode of this boot is resumed at once; one of an earlier
   * boot is closed without action (the instance was stopped and started again: it is alive).
   */
  async start(): Promise<EpisodeState | undefined> {
    const { journal, logger, instanceId } = this.deps;
    const loaded = await journal.load();
    for (const u of loaded.unreadable) {
      logger.error('journal file unreadable; ignoring it', {
        instanceId,
        stage: 'journal',
        resource: u.file,
        error: u.error,
      });
    }
    const { current, closeUnacted } = startup(this.machine, loaded.episodes);
    this.current = current?.episode;
    for (const ep of closeUnacted) {
      logger.warn('closing an unfinished episode of an earlier boot or another mode without acting on it', {
        instanceId,
        episode: ep.episode,
        stage: 'journal',
        bootId: ep.bootId,
        dryRun: ep.dryRun,
      });
      await this.driver.record(ep, { type: 'closed', at: this.deps.clock.now() });
    }
    await journal.prune(50);
    const state = this.state();
    if (state && needsWork(state)) {
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
    const { journal, clock } = this.deps;
    const at = clock.now();
    const accepted = acceptNotice(this.machine, this.state(), this.busy, {
      notice,
      messageId: message?.messageId,
      at,
      newEpisode: newEpisodeId(at),
    });
    const { result } = accepted;
    // Claimed before the first await: a notice from another source arriving while the journal
    // write lands joins this episode instead of opening a second one.
    if (result.status === 'opened') this.current = result.episode;
    for (const step of accepted.journal) await journal.append(result.episode!, step);
    this.logNotice(accepted.note, notice, message?.messageId, result.episode);
    if (accepted.useToken) this.driver.useToken(accepted.useToken);
    if (accepted.drive) this.schedule();
    return result;
  }

  private logNotice(note: NoticeNote, notice: TerminationNotice, messageId?: string, episode?: string): void {
    const { logger, instanceId, dryRun } = this.deps;
    const { kind, source, sourceId, deadline } = notice;
    const fields = { instanceId, stage: 'coordinator', kind, source, sourceId, messageId };
    /** True the first time a key is seen: advisory lines are logged once, not on every IMDS poll. */
    const once = (key: string): boolean => {
      const first = !this.advisoryLogged.has(key);
      this.advisoryLogged.add(key);
      return first;
    };
    switch (note.about) {
      case 'other-instance':
        return void logger.warn('notice about another instance ignored', {
          ...fields,
          noticeInstanceId: notice.instanceId,
        });
      case 'advisory':
        if (once(note.once)) logger.info(note.text, { ...fields, deadline });
        return;
      case 'not-due':
        if (once(note.once))
          logger.info('scheduled event noted; teardown starts when it is due', {
            ...fields,
            deadline,
            dueAt: new Date(note.dueAt).toISOString(),
          });
        return;
      case 'opened':
        return void logger.info('episode opened', { ...fields, episode, deadline, dryRun });
      case 'merged':
        return void logger.info(`notice merged into the ${note.into} episode`, {
          ...fields,
          episode,
          lifecycleToken: notice.lifecycle?.token,
        });
      case 'duplicate':
        return;
    }
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

  /**
   * A `handover` is not final (both nodes of a pair can be reclaimed at once, and during a spot
   * window both still look alive): when the situation changed, or at the SIGTERM probe, the gate
   * decides again and the teardown runs again. Resolves once it is journaled and scheduled; false
   * when the episode did not end in `handover`.
   */
  async reexamine(reason: string): Promise<boolean> {
    await this.idle();
    if (this.stopController.signal.aborted) return false;
    const s = this.state();
    const step = reexamination(s, reason, this.deps.clock.now());
    if (!s || !step) return false;
    await this.deps.journal.append(s.episode, step);
    this.driver.forgetReport();
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
          await this.driver.drive(this.current!, this.stopController.signal);
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
}
