import type { Clock } from '../clock';
import type { Config } from '../config/schema';
import type { RememberedFacts } from '../discovery/inventory';
import type { EngineEvent } from '../execute/executor';
import type { GateDecision } from '../gate/gate';
import type { Logger } from '../log';
import type { LifecycleRef, TerminationNotice } from '../notice';
import type { TeardownReport } from '../report/report';
import type { MessageDecision } from '../sources/sqs-messages';
import type { CompletionRecord, EpisodeState, Journal } from './journal';

/**
 * What the episode coordinator is handed: the engine, report writing, shipping, lifecycle completion
 * and the SQS messages, each as a port. Types only: the coordinator loads none of their code, so the
 * daemon can load the engine, AWS clients and shipping lazily and pass them in.
 */

/** One run of the engine (lib/episode/engine.ts `runTeardown`, bound to its deps). */
export interface EpisodeTeardownRequest {
  instanceId: string;
  episode: string;
  trigger?: TerminationNotice;
  /** The gate decision journaled earlier in this episode: reused on resume. */
  gateDecision?: GateDecision;
  /** What earlier runs of this episode discovered (journal): a resumed run does not forget it. */
  remembered?: RememberedFacts;
  /** Set when this run re-examines an earlier `handover` of the episode. */
  redecided?: TeardownReport['redecided'];
  dryRun: boolean;
  deadlineAt?: number;
  signal?: AbortSignal;
  /** The engine waits for the promise returned for `discovered` before its first change. */
  onEvent?: (event: EngineEvent) => void | Promise<void>;
}

export interface EpisodeTeardown {
  run(req: EpisodeTeardownRequest): Promise<TeardownReport>;
  /** Writes the report locally; returns its path. Called again with `completion` filled in. */
  writeReport(report: TeardownReport): Promise<string>;
  /** 0 clean, 1 something left behind. */
  exitCode(report: TeardownReport): 0 | 1;
  /** Reads a written report back (after a restart), to ship it and add the completion. */
  readReport?(path: string): Promise<TeardownReport>;
}

/** What one shipment did, as the journal keeps it (lib/report/shipping.ts ShipResult fits). */
export interface ShipOutcome {
  /** False when a configured destination did not get the report (failed, or cut by the bound). */
  ok: boolean;
  durationMs: number;
  /** One line: where the report went, or why not. */
  summary: string;
}

/**
 * Report shipping (S3 / CloudWatch Logs). Never throws; bounded by reports.shipTimeoutMs on its own
 * (the one place the bound is applied) and ends when `signal` aborts.
 */
export type ShipReport = (
  report: TeardownReport,
  ctx: { episode: string; instanceId: string; signal: AbortSignal },
) => Promise<ShipOutcome>;

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
}

/**
 * The SQS source as the coordinator sees it, attached after both exist (the source feeds `accept`,
 * the coordinator acts on the source's messages): its held messages, and the end of an episode.
 */
export interface MessagePort extends HeldMessages {
  /**
   * Told once an episode is closed (after the lifecycle completion and message deletion), with its
   * final state; the per-host queue is retired here. Awaited, so `idle()` covers it; never throws.
   */
  episodeClosed(state: EpisodeState): Promise<void>;
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

/** Everything the coordinator is handed (the SQS source is attached later: MessagePort). */
export interface CoordinatorDeps {
  instanceId: string;
  /** Kernel boot id: episodes of an earlier boot are never resumed (the instance came back). */
  bootId: string;
  config: Config;
  dryRun: boolean;
  clock: Clock;
  logger: Logger;
  journal: Journal;
  teardown: EpisodeTeardown;
  completion: CompletionPort;
  shipReport?: ShipReport;
}
