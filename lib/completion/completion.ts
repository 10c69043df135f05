import {
  AutoScalingClient,
  CompleteLifecycleActionCommand,
  DescribeAutoScalingInstancesCommand,
  DescribeAutoScalingInstancesCommandOutput,
  DescribeLifecycleHooksCommand,
  DescribeLifecycleHooksCommandOutput,
  RecordLifecycleActionHeartbeatCommand,
} from '@aws-sdk/client-auto-scaling';
import { AwsCommand, awsCall } from '../aws/call';
import { errorCodeOf, isNoActiveLifecycleAction } from '../aws/errors';
import { Clock } from '../clock';
import { Config } from '../config/schema';
import type { CompletionPort } from '../episode/coordinator';
import { CompletionRecord } from '../episode/journal';
import { Logger } from '../log';
import { LifecycleRef } from '../notice';

/**
 * Auto Scaling lifecycle completion (reference §3): find the action (by token from a queue message,
 * or by instance id from config or DescribeAutoScalingInstances + DescribeLifecycleHooks), heartbeat
 * it while the teardown makes progress, then CompleteLifecycleAction — retrying through the
 * "No active Lifecycle Action found" propagation race while the group still says Terminating:Wait.
 */

export const TERMINATING_TRANSITION = 'autoscaling:EC2_INSTANCE_TERMINATING';

export interface CompletionDeps {
  autoScaling: AutoScalingClient;
  config: Config;
  clock: Clock;
  logger: Logger;
}

export interface LifecycleTarget {
  autoScalingGroupName: string;
  hookName: string;
  /** Absent: heartbeat and complete by instance id. */
  token?: string;
  heartbeatTimeoutSeconds: number;
  globalTimeoutSeconds?: number;
}

export type ResolveResult =
  | { target: LifecycleTarget }
  | { target: null; reason: 'not-in-asg' | 'no-hook' | 'ambiguous-hook' | 'lookup-failed'; detail: string };

/** ⅓ of the hook's HeartbeatTimeout: two heartbeats can be lost before the hook times out. */
export function heartbeatIntervalMs(heartbeatTimeoutSeconds: number): number {
  return Math.max(100, Math.floor((heartbeatTimeoutSeconds * 1000) / 3));
}

/** One Auto Scaling call through the one call path (lib/aws/call.ts). */
async function asgCall<O>(
  deps: CompletionDeps,
  command: AwsCommand,
  mutating: boolean,
  signal?: AbortSignal,
  deadlineAt?: number,
): Promise<O> {
  const ctx = { clock: deps.clock, config: deps.config, logger: deps.logger, signal, deadlineAt };
  return (await awsCall<O>(ctx, deps.autoScaling, command, { mutating })).output;
}

/** The instance's group and lifecycle state, or null when it is in no group (or gone). */
export async function describeAsgInstance(
  deps: CompletionDeps,
  instanceId: string,
  signal?: AbortSignal,
  deadlineAt?: number,
): Promise<{ autoScalingGroupName: string; lifecycleState: string } | null> {
  const out = await asgCall<DescribeAutoScalingInstancesCommandOutput>(
    deps,
    new DescribeAutoScalingInstancesCommand({ InstanceIds: [instanceId] }),
    false,
    signal,
    deadlineAt,
  );
  const row = out.AutoScalingInstances?.find((i) => i.InstanceId === instanceId);
  if (!row?.AutoScalingGroupName) return null;
  return { autoScalingGroupName: row.AutoScalingGroupName, lifecycleState: row.LifecycleState ?? 'Unknown' };
}

/**
 * Which lifecycle action to heartbeat and complete. Names come from the notice (queue message),
 * else config `lifecycle.*`, else AWS. The hook's HeartbeatTimeout comes from DescribeLifecycleHooks,
 * else `lifecycle.fallbackHeartbeatTimeoutSeconds`.
 */
export async function resolveLifecycleTarget(
  deps: CompletionDeps,
  instanceId: string,
  ref?: LifecycleRef,
  signal?: AbortSignal,
): Promise<ResolveResult> {
  const cfg = deps.config.lifecycle;
  let group = ref?.autoScalingGroupName ?? cfg.autoScalingGroupName;
  try {
    if (!group) {
      const row = await describeAsgInstance(deps, instanceId, signal);
      if (!row)
        return { target: null, reason: 'not-in-asg', detail: `${instanceId} is in no Auto Scaling group` };
      group = row.autoScalingGroupName;
    }
  } catch (err) {
    return {
      target: null,
      reason: 'lookup-failed',
      detail: `DescribeAutoScalingInstances: ${errorCodeOf(err)}: ${(err as Error).message}`,
    };
  }
  const hookName = ref?.hookName ?? cfg.hookName;
  let hooks: Array<{
    LifecycleHookName?: string;
    LifecycleTransition?: string;
    HeartbeatTimeout?: number;
    GlobalTimeout?: number;
  }> = [];
  let hooksError: unknown;
  try {
    const out = await asgCall<DescribeLifecycleHooksCommandOutput>(
      deps,
      new DescribeLifecycleHooksCommand({
        AutoScalingGroupName: group,
        LifecycleHookNames: hookName ? [hookName] : undefined,
      }),
      false,
      signal,
    );
    hooks = out.LifecycleHooks ?? [];
  } catch (err) {
    hooksError = err;
  }
  let hook = hookName ? hooks.find((h) => h.LifecycleHookName === hookName) : undefined;
  if (!hookName) {
    if (hooksError) {
      return {
        target: null,
        reason: 'lookup-failed',
        detail: `DescribeLifecycleHooks ${group}: ${errorCodeOf(hooksError)}: ${(hooksError as Error).message}`,
      };
    }
    const terminating = hooks.filter((h) => h.LifecycleTransition === TERMINATING_TRANSITION);
    if (terminating.length === 0)
      return { target: null, reason: 'no-hook', detail: `group ${group} has no terminating lifecycle hook` };
    if (terminating.length > 1) {
      // Completing someone else's hook would cut their drain short: ask for lifecycle.hookName.
      const names = terminating.map((h) => h.LifecycleHookName).join(', ');
      return {
        target: null,
        reason: 'ambiguous-hook',
        detail: `group ${group} has several terminating hooks (${names}); set lifecycle.hookName`,
      };
    }
    hook = terminating[0];
  }
  if (hooksError) {
    deps.logger.warn('DescribeLifecycleHooks failed; using lifecycle.fallbackHeartbeatTimeoutSeconds', {
      instanceId,
      stage: 'completion',
      resource: `${group}/${hookName}`,
      errorCode: errorCodeOf(hooksError),
    });
  }
  return {
    target: {
      autoScalingGroupName: group,
      hookName: hookName ?? hook!.LifecycleHookName!,
      token: ref?.token,
      heartbeatTimeoutSeconds: hook?.HeartbeatTimeout ?? cfg.fallbackHeartbeatTimeoutSeconds,
      globalTimeoutSeconds: hook?.GlobalTimeout,
    },
  };
}

function actionParams(target: LifecycleTarget, instanceId: string) {
  return {
    AutoScalingGroupName: target.autoScalingGroupName,
    LifecycleHookName: target.hookName,
    ...(target.token ? { LifecycleActionToken: target.token } : { InstanceId: instanceId }),
  };
}

export interface HeartbeaterOptions {
  instanceId: string;
  episode: string;
  /** Epoch ms of the teardown's last progress (an action finished, the gate decided…). */
  lastProgressAt: () => number;
  signal?: AbortSignal;
}

/**
 * Heartbeats a lifecycle action while the teardown runs. Stops when told to, when the action is
 * gone (ValidationError), and after `lifecycle.maxStalledHeartbeats` intervals without progress —
 * a stuck teardown must not hold a dying instance for the hook's 48 h global timeout.
 */
export class Heartbeater {
  readonly intervalMs: number;
  beats = 0;
  stoppedBecause?: 'stopped' | 'action-gone' | 'stalled' | 'failed';
  private readonly abort = new AbortController();
  private loop?: Promise<void>;

  constructor(
    private readonly deps: CompletionDeps,
    private target: LifecycleTarget,
    private readonly options: HeartbeaterOptions,
  ) {
    this.intervalMs = heartbeatIntervalMs(target.heartbeatTimeoutSeconds);
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Switches to a token that arrived later (completion by token is exact). */
  useToken(token: string): void {
    this.target = { ...this.target, token };
  }

  async stop(): Promise<void> {
    this.stoppedBecause ??= 'stopped';
    this.abort.abort();
    await this.loop;
  }

  private get signal(): AbortSignal {
    return this.options.signal
      ? AbortSignal.any([this.options.signal, this.abort.signal])
      : this.abort.signal;
  }

  private async run(): Promise<void> {
    const { deps, options } = this;
    const log = {
      instanceId: options.instanceId,
      episode: options.episode,
      stage: 'completion',
      action: 'RecordLifecycleActionHeartbeat',
    };
    const signal = this.signal;
    const maxStalledMs = deps.config.lifecycle.maxStalledHeartbeats * this.intervalMs;
    for (;;) {
      try {
        await deps.clock.sleep(this.intervalMs, signal);
      } catch {
        return;
      }
      const idleMs = deps.clock.now() - options.lastProgressAt();
      if (idleMs > maxStalledMs) {
        this.stoppedBecause = 'stalled';
        deps.logger.warn('teardown made no progress; stopping heartbeats so the instance is not held', {
          ...log,
          resource: `${this.target.autoScalingGroupName}/${this.target.hookName}`,
          durationMs: idleMs,
        });
        return;
      }
      const started = deps.clock.now();
      try {
        // Bounded by the next beat: a retry that outlives the interval only delays that one.
        await asgCall(
          deps,
          new RecordLifecycleActionHeartbeatCommand(actionParams(this.target, options.instanceId)),
          true,
          signal,
          deps.clock.now() + this.intervalMs,
        );
        this.beats++;
        deps.logger.info('lifecycle heartbeat sent', {
          ...log,
          resource: `${this.target.autoScalingGroupName}/${this.target.hookName}`,
          durationMs: deps.clock.now() - started,
        });
      } catch (err) {
        if (signal.aborted) return;
        const errorCode = errorCodeOf(err);
        if (errorCode === 'ValidationError') {
          this.stoppedBecause = 'action-gone';
          deps.logger.info('lifecycle action no longer active; heartbeats stopped', {
            ...log,
            errorCode,
            error: (err as Error).message,
          });
          return;
        }
        // Keep trying on the next interval: one lost heartbeat of three is within the timeout.
        deps.logger.warn('lifecycle heartbeat failed', { ...log, errorCode, error: (err as Error).message });
      }
    }
  }
}

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
      await asgCall(
        deps,
        new CompleteLifecycleActionCommand({
          ...actionParams(target, instanceId),
          LifecycleActionResult: result,
        }),
        true,
        signal,
        deadlineAt,
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
  return {
    async startHeartbeat({ episode, lifecycle, lastProgressAt, signal }) {
      const r = await resolve(lifecycle, signal);
      if (r.target === null) {
        deps.logger.info('no lifecycle action to heartbeat', {
          instanceId,
          episode,
          stage: 'completion',
          reason: r.reason,
          detail: r.detail,
        });
        return null;
      }
      const hb = new Heartbeater(deps, r.target, { instanceId, episode, lastProgressAt, signal });
      hb.start();
      return hb;
    },
    async complete({ episode, lifecycle, result, signal }) {
      const r = await resolve(lifecycle, signal);
      if (r.target === null) {
        deps.logger.info('no lifecycle action to complete', {
          instanceId,
          episode,
          stage: 'completion',
          reason: r.reason,
          detail: r.detail,
        });
        return { result: r.reason === 'lookup-failed' ? 'failed' : 'not-needed', detail: r.detail };
      }
      return completeLifecycleAction(deps, r.target, instanceId, result, signal);
    },
  };
}
