import { randomUUID } from 'node:crypto';
import { EmulatorContext } from './context';
import { xmlEscape } from './render';
import { EmulatorError, EmulatorRequest, EmulatorResponse, ServiceHandler } from './types';

/**
 * Auto Scaling lifecycle hooks over the Query protocol, with the semantics completion must respect
 * (shared/reference/aws-wire-formats.md §3): a token per lifecycle action, heartbeats that restart
 * the timeout (deadline = now + HeartbeatTimeout, capped by the global timeout), the hook's
 * DefaultResult applied on timeout, "No active Lifecycle Action found" for used/unknown tokens, and
 * a propagation-race window in which Complete is refused although the instance already shows
 * Terminating:Wait.
 *
 * Programmatic API (`emulator.autoscaling`):
 *   putHook({asgName, hookName, heartbeatTimeoutSeconds, defaultResult?, globalTimeoutSeconds?, notificationQueueUrl?})
 *     (heartbeatTimeoutSeconds is not held to the real 30 s minimum here, so tests run in seconds)
 *   addInstance(asgName, instanceId)                          → InService
 *   startTermination(instanceId, {hookName?}) → {token, body}   Terminating:Wait; posts the ASG-direct body
 *                                                                to the hook's notification queue if it has one
 *   raceWindowMs                                               Complete refused this long after the wait starts
 *   onInstanceTerminated(cb), state(instanceId), history()
 */
export interface HookSpec {
  asgName: string;
  hookName: string;
  heartbeatTimeoutSeconds: number;
  defaultResult?: 'CONTINUE' | 'ABANDON';
  globalTimeoutSeconds?: number;
  notificationQueueUrl?: string;
}

export interface LifecycleEvent {
  action: 'RecordLifecycleActionHeartbeat' | 'CompleteLifecycleAction' | 'Timeout';
  instanceId: string;
  token?: string;
  result?: string;
  at: number;
  ok: boolean;
  error?: string;
}

interface PendingAction {
  token: string;
  hook: HookSpec;
  startedAt: number;
  deadline: number;
  globalDeadline: number;
  timer?: NodeJS.Timeout;
}

interface AsgInstance {
  instanceId: string;
  asgName: string;
  state: string;
  pending?: PendingAction;
}

const XMLNS = 'http://autoscaling.amazonaws.com/doc/2011-01-01/';

export class AutoScalingService implements ServiceHandler {
  readonly service = 'autoscaling' as const;
  private hooks: HookSpec[] = [];
  private instances = new Map<string, AsgInstance>();
  private events: LifecycleEvent[] = [];
  private timers = new Set<NodeJS.Timeout>();
  private terminatedCallbacks: Array<(instanceId: string) => void> = [];
  /** Posts a body to a queue (wired by the server to the SQS service). */
  sendToQueue?: (queueUrl: string, body: string) => void;
  raceWindowMs = 0;
  /** Delay between Terminating:Proceed and Terminated. */
  terminateDelayMs = 50;

  constructor(readonly ctx: EmulatorContext) {}

  putHook(spec: HookSpec): void {
    this.hooks = this.hooks.filter((h) => !(h.asgName === spec.asgName && h.hookName === spec.hookName));
    this.hooks.push({ defaultResult: 'ABANDON', ...spec });
  }

  addInstance(asgName: string, instanceId: string): void {
    this.instances.set(instanceId, { instanceId, asgName, state: 'InService' });
  }

  onInstanceTerminated(cb: (instanceId: string) => void): void {
    this.terminatedCallbacks.push(cb);
  }

  state(instanceId: string): string | undefined {
    return this.instances.get(instanceId)?.state;
  }

  history(): LifecycleEvent[] {
    return [...this.events];
  }

  startTermination(instanceId: string, opts: { hookName?: string } = {}): { token: string; body: string } {
    const inst = this.instances.get(instanceId);
    if (!inst) throw new Error(`emulator: ${instanceId} is not in an Auto Scaling group`);
    const hook = this.hooks.find(
      (h) => h.asgName === inst.asgName && (!opts.hookName || h.hookName === opts.hookName),
    );
    if (!hook) throw new Error(`emulator: no lifecycle hook on ${inst.asgName}`);
    const now = this.ctx.now();
    const heartbeatMs = hook.heartbeatTimeoutSeconds * 1000;
    const pending: PendingAction = {
      token: randomUUID(),
      hook,
      startedAt: now,
      deadline: now + heartbeatMs,
      globalDeadline: now + this.globalTimeoutSeconds(hook) * 1000,
    };
    inst.state = 'Terminating:Wait';
    inst.pending = pending;
    this.armTimeout(inst);
    const body = JSON.stringify({
      Origin: 'AutoScalingGroup',
      LifecycleHookName: hook.hookName,
      Destination: 'EC2',
      AccountId: '123456789012',
      RequestId: randomUUID(),
      LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
      AutoScalingGroupName: inst.asgName,
      Service: 'AWS Auto Scaling',
      Time: new Date(now).toISOString(),
      EC2InstanceId: instanceId,
      LifecycleActionToken: pending.token,
    });
    if (hook.notificationQueueUrl) this.sendToQueue?.(hook.notificationQueueUrl, body);
    return { token: pending.token, body };
  }

  snapshot(): unknown {
    return {
      hooks: this.hooks,
      instances: [...this.instances.values()].map((i) => ({
        instanceId: i.instanceId,
        asgName: i.asgName,
        state: i.state,
      })),
      history: this.events,
    };
  }

  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  handle(req: EmulatorRequest): EmulatorResponse {
    const f = req.form;
    switch (req.action) {
      case 'DescribeLifecycleHooks': {
        const asg = f.get('AutoScalingGroupName') ?? '';
        const names = memberList(f, 'LifecycleHookNames');
        const hooks = this.hooks.filter(
          (h) => h.asgName === asg && (!names.length || names.includes(h.hookName)),
        );
        const members = hooks
          .map(
            (h) =>
              `<member><LifecycleHookName>${xmlEscape(h.hookName)}</LifecycleHookName><AutoScalingGroupName>${xmlEscape(h.asgName)}</AutoScalingGroupName>` +
              `<LifecycleTransition>autoscaling:EC2_INSTANCE_TERMINATING</LifecycleTransition>` +
              (h.notificationQueueUrl
                ? `<NotificationTargetARN>${xmlEscape(queueArn(h.notificationQueueUrl))}</NotificationTargetARN>`
                : '') +
              `<HeartbeatTimeout>${h.heartbeatTimeoutSeconds}</HeartbeatTimeout><GlobalTimeout>${this.globalTimeoutSeconds(h)}</GlobalTimeout>` +
              `<DefaultResult>${h.defaultResult}</DefaultResult></member>`,
          )
          .join('');
        return this.xml('DescribeLifecycleHooks', `<LifecycleHooks>${members}</LifecycleHooks>`);
      }
      case 'DescribeAutoScalingInstances': {
        const ids = memberList(f, 'InstanceIds');
        const list = [...this.instances.values()].filter((i) => !ids.length || ids.includes(i.instanceId));
        const members = list
          .map(
            (i) =>
              `<member><InstanceId>${i.instanceId}</InstanceId><AutoScalingGroupName>${xmlEscape(i.asgName)}</AutoScalingGroupName>` +
              `<AvailabilityZone>us-east-1a</AvailabilityZone><LifecycleState>${i.state}</LifecycleState><HealthStatus>HEALTHY</HealthStatus>` +
              `<ProtectedFromScaleIn>false</ProtectedFromScaleIn></member>`,
          )
          .join('');
        return this.xml(
          'DescribeAutoScalingInstances',
          `<AutoScalingInstances>${members}</AutoScalingInstances>`,
        );
      }
      case 'RecordLifecycleActionHeartbeat': {
        const inst = this.findAction(f, 'RecordLifecycleActionHeartbeat');
        const p = inst.pending!;
        p.deadline = Math.min(this.ctx.now() + p.hook.heartbeatTimeoutSeconds * 1000, p.globalDeadline);
        this.armTimeout(inst);
        this.events.push({
          action: 'RecordLifecycleActionHeartbeat',
          instanceId: inst.instanceId,
          token: p.token,
          at: this.ctx.now(),
          ok: true,
        });
        return this.xml('RecordLifecycleActionHeartbeat', '');
      }
      case 'CompleteLifecycleAction': {
        const result = f.get('LifecycleActionResult') ?? '';
        if (result !== 'CONTINUE' && result !== 'ABANDON') {
          throw new EmulatorError(
            'ValidationError',
            `1 validation error detected: Value '${result}' at 'lifecycleActionResult' failed to satisfy constraint`,
          );
        }
        const inst = this.findAction(f, 'CompleteLifecycleAction');
        const p = inst.pending!;
        if (this.ctx.now() - p.startedAt < this.raceWindowMs) {
          // Auto Scaling's own eventual consistency: the action exists but Complete cannot see it yet.
          this.events.push({
            action: 'CompleteLifecycleAction',
            instanceId: inst.instanceId,
            token: p.token,
            result,
            at: this.ctx.now(),
            ok: false,
            error: 'race',
          });
          throw noActive(f);
        }
        this.events.push({
          action: 'CompleteLifecycleAction',
          instanceId: inst.instanceId,
          token: p.token,
          result,
          at: this.ctx.now(),
          ok: true,
        });
        this.proceed(inst);
        return this.xml('CompleteLifecycleAction', '');
      }
      default:
        throw new EmulatorError('InvalidAction', `${req.action} is not implemented by the emulator`, 400);
    }
  }

  private globalTimeoutSeconds(h: HookSpec): number {
    return h.globalTimeoutSeconds ?? Math.min(172800, 100 * h.heartbeatTimeoutSeconds);
  }

  /** The instance whose pending action the request names (by token or instance id), or ValidationError. */
  private findAction(f: URLSearchParams, action: LifecycleEvent['action']): AsgInstance {
    const token = f.get('LifecycleActionToken');
    const instanceId = f.get('InstanceId');
    const asg = f.get('AutoScalingGroupName');
    const hookName = f.get('LifecycleHookName');
    const inst = token
      ? [...this.instances.values()].find((i) => i.pending?.token === token)
      : instanceId
        ? this.instances.get(instanceId)
        : undefined;
    const ok = inst?.pending && inst.asgName === asg && inst.pending.hook.hookName === hookName;
    if (!ok) {
      this.events.push({
        action,
        instanceId: instanceId ?? inst?.instanceId ?? '',
        token: token ?? undefined,
        at: this.ctx.now(),
        ok: false,
        error: 'ValidationError',
      });
      throw noActive(f);
    }
    return inst!;
  }

  private armTimeout(inst: AsgInstance): void {
    const p = inst.pending!;
    if (p.timer) {
      clearTimeout(p.timer);
      this.timers.delete(p.timer);
    }
    const timer = setTimeout(
      () => {
        this.timers.delete(timer);
        if (inst.pending !== p) return;
        this.events.push({
          action: 'Timeout',
          instanceId: inst.instanceId,
          token: p.token,
          result: p.hook.defaultResult,
          at: this.ctx.now(),
          ok: true,
        });
        this.proceed(inst);
      },
      Math.max(0, p.deadline - this.ctx.now()),
    );
    p.timer = timer;
    this.timers.add(timer);
  }

  private proceed(inst: AsgInstance): void {
    if (inst.pending?.timer) {
      clearTimeout(inst.pending.timer);
      this.timers.delete(inst.pending.timer);
    }
    inst.pending = undefined;
    inst.state = 'Terminating:Proceed';
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      inst.state = 'Terminated';
      this.instances.delete(inst.instanceId);
      for (const cb of this.terminatedCallbacks) cb(inst.instanceId);
    }, this.terminateDelayMs);
    this.timers.add(timer);
  }

  private xml(action: string, result: string): EmulatorResponse {
    return {
      status: 200,
      headers: { 'content-type': 'text/xml' },
      body: `<${action}Response xmlns="${XMLNS}"><${action}Result>${result}</${action}Result><ResponseMetadata><RequestId>${this.ctx.requestId()}</RequestId></ResponseMetadata></${action}Response>`,
    };
  }
}

function memberList(f: URLSearchParams, name: string): string[] {
  const out: string[] = [];
  for (let i = 1; f.has(`${name}.member.${i}`); i++) out.push(f.get(`${name}.member.${i}`)!);
  return out;
}

function noActive(f: URLSearchParams): EmulatorError {
  const token = f.get('LifecycleActionToken');
  return new EmulatorError(
    'ValidationError',
    token
      ? `No active Lifecycle Action found with token ${token}`
      : `No active Lifecycle Action found with instance ID ${f.get('InstanceId') ?? ''}`,
    400,
  );
}

function queueArn(url: string): string {
  const parts = url.split('/');
  return `arn:aws:sqs:us-east-1:${parts[parts.length - 2]}:${parts[parts.length - 1]}`;
}
