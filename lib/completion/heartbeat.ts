import { RecordLifecycleActionHeartbeatCommand } from '@aws-sdk/client-auto-scaling';
import { awsCall } from '../aws/call';
import { errorCodeOf, isAsgValidationError } from '../aws/errors';
import { actionParams, asgCallContext, CompletionDeps, LifecycleTarget } from './target';

/** ⅓ of the hook's HeartbeatTimeout: two heartbeats can be lost before the hook times out. */
export function heartbeatIntervalMs(heartbeatTimeoutSeconds: number): number {
  return Math.max(100, Math.floor((heartbeatTimeoutSeconds * 1000) / 3));
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
        await awsCall(
          asgCallContext(deps, signal, deps.clock.now() + this.intervalMs),
          deps.autoScaling,
          new RecordLifecycleActionHeartbeatCommand(actionParams(this.target, options.instanceId)),
          { mutating: true },
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
        if (isAsgValidationError(err)) {
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
