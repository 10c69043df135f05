import pLimit from 'p-limit';
import { classifyAwsError, errorCodeOf } from '../aws/errors';
import type { GateDecision } from '../gate/gate';
import type { RememberedFacts } from '../discovery/inventory';
import { Plan, PlannedAction, safetyViolation, STAGE_ORDER } from '../plan/actions';
import { ActionOutcome, ActionRecord } from '../report/report';
import { CallContext } from '../aws/call';
import { AttemptedError } from '../aws/retry';
import { DetachTimeoutError, DetachWaiter } from './teardown/eni';
import { handlerFor } from './teardown';
import { ActionHandler, runAction } from './teardown/handler';

/**
 * Runs a plan: stages in order (eip → eni → route-table → subnet → cidr); inside a stage every action
 * starts as soon as the actions it depends on are done, and at most executor.concurrency AWS calls are
 * in flight (executor.eipConcurrency in the EIP stage; waiting for a dependency or for a detach does
 * not hold a slot). So the critical path is:
 * all EIP disassociations in parallel, then all detaches in parallel, one batched wait, each delete
 * the moment its ENI is available, and so on.
 *
 * Before each mutating call the planner's safety check runs again (with the freshest facts the
 * executor has: the detach poll's view of the ENI). Dry-run makes no mutating call at all.
 * A deadline stops new work (what is not started is reported as `deadline`); the abort signal stops
 * it too (reported as skipped, aborted).
 */

export type EngineEvent =
  /** Carries the decision's own fields beside `type`, so the event minus `type` is the GateDecision. */
  | ({ type: 'gate-decided' } & GateDecision)
  /** What discovery found (with the earlier runs' record), before the first change: to journal. */
  | { type: 'discovered'; facts: RememberedFacts }
  | { type: 'plan-built'; planned: number; blocked: number; skipped: number }
  | { type: 'action-started'; id: string; stage: string; action: string; resource: string }
  | {
      type: 'action-finished';
      id: string;
      stage: string;
      action: string;
      resource: string;
      outcome: ActionOutcome;
      record: ActionRecord;
    };

export interface ExecuteOptions {
  instanceId: string;
  episode: string;
  dryRun: boolean;
  /** Epoch ms: no action starts after it, no retry sleeps past it. */
  deadlineAt: number;
  signal?: AbortSignal;
  onEvent?: (e: EngineEvent) => void;
  /**
   * Called inside the concurrency slot right before each mutating call (after the deadline check,
   * before the safety check). An answer ends the action without the call: `skipped` (no longer
   * wanted) or `already-done`. The sweeper re-checks here that the resource is still an orphan.
   */
  preflight?: (a: PlannedAction) => Promise<PreflightVerdict | undefined>;
}

export interface PreflightVerdict {
  outcome: 'skipped' | 'already-done';
  message: string;
}

const OK_OUTCOMES = new Set<ActionOutcome>(['done', 'already-done', 'dry-run']);

export async function executePlan(
  ctx: CallContext,
  plan: Plan,
  opts: ExecuteOptions,
): Promise<ActionRecord[]> {
  const { clock, logger, config } = ctx;
  const limit = pLimit(config.executor.concurrency);
  // loxilb puts every VIP on one ENI (up to 49 EIPs): at the general bound they would take 7 waves of
  // the critical path. The EIP stage is bounded by its own key; the pacer keeps the account's bucket safe.
  const eipLimit = pLimit(config.executor.eipConcurrency);
  const callCtx: CallContext = { ...ctx, deadlineAt: opts.deadlineAt, signal: opts.signal };
  const waiter = new DetachWaiter(callCtx, config.executor.detachPollIntervalMs, opts.instanceId);
  const results = new Map<string, Promise<ActionRecord>>();
  const records: ActionRecord[] = [];
  const base = { instanceId: opts.instanceId, episode: opts.episode };

  const finish = (
    a: PlannedAction,
    startedAt: number,
    outcome: ActionOutcome,
    extra: Partial<ActionRecord> = {},
  ) => {
    const record: ActionRecord = {
      id: a.id,
      stage: a.stage,
      action: a.action,
      resource: a.resource,
      kind: a.kind,
      startedAt: new Date(startedAt).toISOString(),
      durationMs: Math.max(0, clock.now() - startedAt),
      outcome,
      attempts: 0,
      summary: a.summary,
      ...extra,
    };
    const fields = {
      ...base,
      stage: record.stage,
      resource: record.resource,
      action: record.action,
      durationMs: record.durationMs,
      errorCode: record.errorCode,
      outcome,
      attempts: record.attempts,
      ...(record.message ? { detail: record.message } : {}),
      ...(record.blockers ? { blockers: record.blockers } : {}),
    };
    const level = outcome === 'failed' || outcome === 'blocked' || outcome === 'deadline' ? 'warn' : 'info';
    logger.log(level, `${record.action} ${record.resource}: ${outcome}`, fields);
    opts.onEvent?.({
      type: 'action-finished',
      id: a.id,
      stage: a.stage,
      action: a.action,
      resource: a.resource,
      outcome,
      record,
    });
    return record;
  };

  const started = (a: PlannedAction) =>
    opts.onEvent?.({
      type: 'action-started',
      id: a.id,
      stage: a.stage,
      action: a.action,
      resource: a.resource,
    });

  const notStarted = (a: PlannedAction, startedAt: number): ActionRecord | undefined => {
    if (opts.signal?.aborted) {
      return finish(a, startedAt, 'skipped', { aborted: true, message: `aborted: ${reasonOf(opts.signal)}` });
    }
    if (clock.now() >= opts.deadlineAt) {
      return finish(a, startedAt, 'deadline', { message: 'not started: the teardown deadline has passed' });
    }
    return undefined;
  };

  const runOne = async (a: PlannedAction): Promise<ActionRecord> => {
    // Let the whole stage register its promises before looking up dependencies.
    await Promise.resolve();
    const deps = await Promise.all(a.dependsOn.map((id) => results.get(id)).filter((p) => p !== undefined));
    const startedAt = clock.now();
    if (a.status === 'blocked') {
      return finish(a, startedAt, 'blocked', { message: a.reason, blockers: a.blockers });
    }
    if (a.status === 'skipped') return finish(a, startedAt, 'skipped', { message: a.reason });
    const failedDep = deps.find((d) => !OK_OUTCOMES.has(d.outcome));
    if (failedDep) {
      return finish(a, startedAt, 'blocked', {
        message: `depends on ${failedDep.action} ${failedDep.resource}, which ended ${failedDep.outcome}`,
        blockers: [failedDep.resource],
      });
    }
    const early = notStarted(a, startedAt);
    if (early) return early;
    if (opts.dryRun) {
      started(a);
      return finish(a, startedAt, 'dry-run', { message: `would ${a.summary}` });
    }

    const fields = { ...base, stage: a.stage, resource: a.resource, action: a.action };
    let facts = a.facts;
    let attempts = 0;
    if (a.params.action === 'DeleteNetworkInterface' && a.params.waitForDetach) {
      try {
        const seen = await waiter.wait(a.params.networkInterfaceId, {
          timeoutMs: config.executor.detachTimeoutMs,
          deadlineAt: opts.deadlineAt,
        });
        if (seen.gone) return finish(a, startedAt, 'already-done', { message: 'the ENI was already gone' });
        // A fresh view of the attachment: if someone re-attached it elsewhere, the check below refuses.
        const fresh = seen.eni.attachment;
        if (fresh?.instanceId && fresh.status !== 'detached') facts = { ...facts, eniAttachment: fresh };
      } catch (err) {
        if (err instanceof DetachTimeoutError) {
          return finish(a, startedAt, err.reason === 'deadline' ? 'deadline' : 'failed', {
            errorCode: err.code,
            message: err.message,
          });
        }
        return finishError(a, startedAt, err, attempts);
      }
    }
    return (a.stage === 'eip' ? eipLimit : limit)(async () => {
      const late = notStarted(a, startedAt);
      if (late) return late;
      if (opts.preflight) {
        try {
          const verdict = await opts.preflight({ ...a, facts });
          if (verdict) return finish(a, startedAt, verdict.outcome, { message: verdict.message });
        } catch (err) {
          return finishError(a, startedAt, err, 0);
        }
      }
      // The planner's safety invariants, once more, right before the mutating call.
      const unsafe = safetyViolation({ ...a, facts }, opts.instanceId);
      if (unsafe) return finish(a, startedAt, 'skipped', { message: unsafe });
      started(a);
      try {
        const handler = handlerFor(a.params.action) as ActionHandler;
        const r = await runAction(callCtx, handler, a.params as never, fields);
        attempts = r.attempts;
        return finish(a, startedAt, 'done', { attempts });
      } catch (err) {
        return finishError(a, startedAt, err, (err as AttemptedError)?.attempts ?? attempts);
      }
    });
  };

  const finishError = (a: PlannedAction, startedAt: number, err: unknown, attempts: number): ActionRecord => {
    const errorCode = errorCodeOf(err);
    const message = (err as Error)?.message ?? String(err);
    if (opts.signal?.aborted) {
      return finish(a, startedAt, 'skipped', {
        aborted: true,
        attempts,
        errorCode,
        message: `aborted: ${message}`,
      });
    }
    switch (classifyAwsError(err)) {
      case 'done':
        return finish(a, startedAt, 'already-done', { attempts, errorCode, message });
      case 'blocked':
        return finish(a, startedAt, 'blocked', { attempts, errorCode, message });
      case 'retry': {
        // A retryable error surfaces when the deadline stops the retries (in flight, in a backoff or
        // waiting for a pacing token); only a call without a deadline runs out of attempts.
        const outcome = (err as AttemptedError)?.gaveUp === 'max-attempts' ? 'failed' : 'deadline';
        return finish(a, startedAt, outcome, { attempts, errorCode, message });
      }
      default:
        return finish(a, startedAt, 'failed', { attempts, errorCode, message });
    }
  };

  for (const stage of STAGE_ORDER) {
    const stageActions = plan.actions.filter((a) => a.stage === stage);
    for (const a of stageActions) results.set(a.id, runOne(a));
    const done = await Promise.all(stageActions.map((a) => results.get(a.id)!));
    records.push(...done);
  }
  return records;
}

function reasonOf(signal: AbortSignal): string {
  const r = signal.reason as unknown;
  if (r instanceof Error) return r.message;
  return r === undefined ? 'signal' : String(r);
}
