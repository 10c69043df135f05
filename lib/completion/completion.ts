import { CompleteLifecycleActionCommand } from '@aws-sdk/client-auto-scaling';
import { awsCall } from '../aws/call';
import { errorCodeOf, isNoActiveLifecycleAction } from '../aws/errors';
import type { CompletionPort } from '../episode/ports';
import { CompletionRecord } from '../episode/journal';
import { LifecycleRef } from '../notice';
import { Heartbeater } from './heartbeat';
import {
  actionParams,
  asgCallContext,
  CompletionDeps,
  describeAsgInstance,
  LifecycleTarget,
  resolveLifecycleTarget,
  ResolveResult,
} from './target';

/**
 * Auto Scaling lifecycle completion (reference §3): find the action (./target.ts), heartbeat it while
 * the teardown makes progress (./heartbeat.ts), then CompleteLifecycleAction — retrying through the
 * "No active Lifecycle Action found" propagation race while the group still says Terminating:Wait.
 */

/** States after which the instance no longer waits on any hook: completion is moot. */
const DONE_STATES = new Set([
  'Terminating:Proceed',
  'Terminated',
  'Terminating:Retained',
  'Detached',
  'Detaching',
]);
/** States in which Auto Scaling may still be propagating the action we are about to complete. */
const WAITING_STATES = new Set(['Terminating', 'Terminating:Wait']);

export async function completeLifecycleAction(
  deps: CompletionDeps,
  target: LifecycleTarget,
  instanceId: string,
  result: 'CONTINUE' | 'ABANDON',
  signal?: AbortSignal,
): Promise<CompletionRecord> {
  const { config, clock, logger } = deps;
  const deadlineAt = clock.now() + config.lifecycle.completeTimeoutMs;
  const base: CompletionRecord = {
    result: 'failed',
    lifecycleActionResult: result,
    autoScalingGroupName: target.autoScalingGroupName,
    hookName: target.hookName,
    by: target.token ? 'token' : 'instance-id',
    ...(target.token ? { token: target.token } : {}),
  };
  const log = {
    instanceId,
    stage: 'completion',
    action: 'CompleteLifecycleAction',
    resource: `${target.autoScalingGroupName}/${target.hookName}`,
  };
  for (let attempt = 1; ; attempt++) {
    const started = clock.now();
    try {
      await awsCall(
        asgCallContext(deps, signal, deadlineAt),
        deps.autoScaling,
        new CompleteLifecycleActionCommand({
          ...actionParams(target, instanceId),
          LifecycleActionResult: result,
        }),
        { mutating: true },
      );
      logger.info('lifecycle action completed', { ...log, durationMs: clock.now() - started, result });
      return { ...base, result: 'completed' };
    } catch (err) {
      const errorCode = errorCodeOf(err);
      if (!isNoActiveLifecycleAction(err)) {
        logger.error('CompleteLifecycleAction failed', { ...log, errorCode, error: (err as Error).message });
        return { ...base, result: 'failed', errorCode, detail: (err as Error).message };
      }
      let state: string;
      try {
        state = (await describeAsgInstance(deps, instanceId, signal, deadlineAt))?.lifecycleState ?? 'gone';
      } catch (describeErr) {
        state = `unknown (${errorCodeOf(describeErr)})`;
      }
      if (DONE_STATES.has(state) || state === 'gone') {
        logger.info('lifecycle action already over', { ...log, errorCode, lifecycleState: state });
        return { ...base, result: 'already-done', detail: `instance is ${state}` };
      }
      if (!WAITING_STATES.has(state) && !state.startsWith('unknown')) {
        logger.info('no lifecycle action pending for this instance', {
          ...log,
          errorCode,
          lifecycleState: state,
        });
        return { ...base, result: 'not-needed', detail: `instance is ${state}` };
      }
      if (clock.now() + config.lifecycle.completeRetryIntervalMs >= deadlineAt || signal?.aborted) {
        logger.error('gave up completing the lifecycle action', {
          ...log,
          errorCode,
          lifecycleState: state,
          attempt,
        });
        return { ...base, result: 'failed', errorCode, detail: `still ${state} after ${attempt} attempts` };
      }
      // Propagation race: the group already says Terminating:Wait but the action is not visible yet.
      logger.info('lifecycle action not visible yet; retrying', {
        ...log,
        errorCode,
        lifecycleState: state,
        attempt,
      });
      try {
        await clock.sleep(config.lifecycle.completeRetryIntervalMs, signal);
      } catch {
        return { ...base, result: 'failed', errorCode: 'Aborted', detail: 'aborted while retrying' };
      }
    }
  }
}

/**
 * The coordinator's view of completion for one instance: resolves the target once per lifecycle
 * ref (token or instance id) and reuses it for heartbeats and completion.
 */
export function completionPort(deps: CompletionDeps, instanceId: string): CompletionPort {
  const resolved = new Map<string, Promise<ResolveResult>>();
  const resolve = (ref: LifecycleRef | undefined, signal: AbortSignal) => {
    const key = ref ? `${ref.autoScalingGroupName}/${ref.hookName}/${ref.token ?? ''}` : '(by instance id)';
    let r = resolved.get(key);
    if (!r) {
      r = resolveLifecycleTarget(deps, instanceId, ref, signal);
      resolved.set(key, r);
      // A failed lookup is not cached: the next attempt asks again.
      void r.then((x) => x.target === null && x.reason === 'lookup-failed' && resolved.delete(key));
    }
    return r;
  };
  /** The target, or why there is none — said once in the log, naming what it was wanted for. */
  const targetFor = async (
    what: string,
    episode: string,
    ref: LifecycleRef | undefined,
    signal: AbortSignal,
  ) => {
    const r = await resolve(ref, signal);
    if (r.target === null) {
      deps.logger.info(`no lifecycle action to ${what}`, {
        instanceId,
        episode,
        stage: 'completion',
        reason: r.reason,
        detail: r.detail,
      });
    }
    return r;
  };
  return {
    async startHeartbeat({ episode, lifecycle, lastProgressAt, signal }) {
      const r = await targetFor('heartbeat', episode, lifecycle, signal);
      if (r.target === null) return null;
      const hb = new Heartbeater(deps, r.target, { instanceId, episode, lastProgressAt, signal });
      hb.start();
      return hb;
    },
    async complete({ episode, lifecycle, result, signal }) {
      const r = await targetFor('complete', episode, lifecycle, signal);
      if (r.target === null) {
        return { result: r.reason === 'lookup-failed' ? 'failed' : 'not-needed', detail: r.detail };
      }
      return completeLifecycleAction(deps, r.target, instanceId, result, signal);
    },
  };
}
