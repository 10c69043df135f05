import { randomUUID } from 'node:crypto';
import { asgResponse, fields, memberList, members, required } from './autoscaling-xml';
import { EmulatorContext } from './context';
import { EmulatorError, EmulatorRequest, EmulatorResponse, ServiceHandler } from './types';

/**
 * Auto Scaling lifecycle hooks over the Query protocol, with the semantics completion must respect
 * (shared/reference/aws-wire-formats.md §3): a fresh token per lifecycle action; heartbeats (by
 * token or instance id) restart the timeout — deadline = now + HeartbeatTimeout, capped by the
 * global timeout; the hook's DefaultResult applied by a real timer when the deadline passes;
 * Complete (CONTINUE|ABANDON) moves the instance Terminating:Wait → Terminating:Proceed →
 * Terminated; an unknown, used or expired token, or an instance with no pending action, answers
 * ValidationError "No active Lifecycle Action found with token <t>" / "… with instance ID <id>";
 * and a propagation race in which Complete is refused although DescribeAutoScalingInstances already
 * says Terminating:Wait.
 *
 * Programmatic API (`emulator.autoscaling`):
 *   createGroup(name, {availabilityZones?}) / addInstance(asgName, instanceId, {availabilityZone?, lifecycleState?}) → InService
 *   putHook({asgName, hookName, heartbeatTimeoutSeconds, defaultResult?, globalTimeoutSeconds?,
 *            notificationQueueUrl?, notificationMetadata?, testNotification?})
 *   startTermination(instanceId, {hookName?, raceWindowMs?, raceCount?})
 *     → {token, body, eventBridgeBody, hookName, asgName, queued}: Terminating:Wait; the ASG-direct
 *       body is posted to the hook's notification queue when it has one (else post `body` or
 *       `eventBridgeBody` yourself)
 *   terminate(instanceId)          no hook: straight to Terminating:Proceed → Terminated
 *   setLifecycleState(instanceId, state)   any member state (Standby, Warmed:*, Pending…) set directly
 *   state(instanceId), pendingAction(instanceId), history() (every heartbeat/complete/timeout, timed)
 *   onInstanceTerminating(cb) (at Terminating:Proceed), onInstanceTerminated(cb) (at Terminated)
 *   raceWindowMs / raceCount: Complete is refused for that long after the wait starts / that many times
 *   terminateDelayMs: Terminating:Proceed → Terminated (default 50 ms)
 *   timeScale: multiplies every hook timeout (default 1)
 *
 * Time: real hooks need HeartbeatTimeout ≥ 30 s. Programmatic hooks take any positive value
 * (fractions too; DescribeLifecycleHooks reports it as given) so tests see several heartbeats in a
 * second or two; PutLifecycleHook over the wire keeps the real 30–7200 s range. Alternatively set
 * `timeScale` (e.g. 0.01 makes a 30 s hook time out after 300 ms while Describe still says 30).
 */
export interface AutoScalingServiceOptions {
  timeScale?: number;
  raceWindowMs?: number;
  raceCount?: number;
  terminateDelayMs?: number;
  accountId?: string;
  region?: string;
}

export type LifecycleResult = 'CONTINUE' | 'ABANDON';

/** `LifecycleState` values of DescribeAutoScalingInstances (SDK enum, see aws-wire-formats.md §3.4). */
export type LifecycleState =
  | 'Pending'
  | 'Pending:Wait'
  | 'Pending:Proceed'
  | 'Quarantined'
  | 'InService'
  | 'Terminating'
  | 'Terminating:Wait'
  | 'Terminating:Proceed'
  | 'Terminating:Retained'
  | 'Terminated'
  | 'Detaching'
  | 'Detached'
  | 'EnteringStandby'
  | 'Standby'
  | 'Warmed:Pending'
  | 'Warmed:Pending:Wait'
  | 'Warmed:Pending:Proceed'
  | 'Warmed:Terminating'
  | 'Warmed:Terminating:Wait'
  | 'Warmed:Terminating:Proceed'
  | 'Warmed:Terminated'
  | 'Warmed:Stopped'
  | 'Warmed:Running'
  | 'Warmed:Hibernated';
const TERMINATING = 'autoscaling:EC2_INSTANCE_TERMINATING';
const LAUNCHING = 'autoscaling:EC2_INSTANCE_LAUNCHING';

export interface HookSpec {
  asgName: string;
  hookName: string;
  heartbeatTimeoutSeconds: number;
  defaultResult?: LifecycleResult;
  globalTimeoutSeconds?: number;
  /** URL, ARN or name of an emulator queue. */
  notificationQueueUrl?: string;
  notificationMetadata?: string;
  lifecycleTransition?: typeof TERMINATING | typeof LAUNCHING;
  roleArn?: string;
  /** Post Auto Scaling's TEST_NOTIFICATION to the queue now, as AWS does when a target is set. */
  testNotification?: boolean;
}

export interface LifecycleEvent {
  action: 'RecordLifecycleActionHeartbeat' | 'CompleteLifecycleAction' | 'Timeout';
  instanceId: string;
  token?: string;
  hookName?: string;
  /** Complete: the result asked for; Timeout: the hook's DefaultResult applied. */
  result?: string;
  at: number;
  ok: boolean;
  /** 'race' (refused inside the race window) or the error code. */
  error?: string;
  /** How the call named the action. */
  by?: 'token' | 'instanceId';
  /** Heartbeat: the new deadline (epoch ms). Timeout: 'heartbeat' or 'global'. */
  deadline?: number;
  reason?: 'heartbeat' | 'global';
}

export interface PendingActionView {
  token: string;
  hookName: string;
  asgName: string;
  startedAt: number;
  deadline: number;
  globalDeadline: number;
  heartbeats: number;
}

export interface TerminationStart {
  token: string;
  /** The ASG-direct SQS body (§2.7). */
  body: string;
  /** The same action as an EventBridge event (§2.2). */
  eventBridgeBody: string;
  hookName: string;
  asgName: string;
  /** True when the body was posted to the hook's notification queue. */
  queued: boolean;
}

interface Hook extends HookSpec {
  defaultResult: LifecycleResult;
  lifecycleTransition: typeof TERMINATING | typeof LAUNCHING;
}

interface PendingAction extends PendingActionView {
  hook: Hook;
  raceUntil: number;
  raceRemaining: number;
  timer?: NodeJS.Timeout;
}

interface Group {
  name: string;
  availabilityZones: string[];
  createdAt: number;
}

interface AsgInstance {
  instanceId: string;
  asgName: string;
  availabilityZone: string;
  state: string;
  pending?: PendingAction;
}

type InstanceCallback = (instanceId: string) => void;

export class AutoScalingService implements ServiceHandler {
  readonly service = 'autoscaling' as const;
  raceWindowMs: number;
  raceCount: number;
  terminateDelayMs: number;
  timeScale: number;
  /** Posts a body to a queue (wired by the server to the SQS service). */
  sendToQueue?: (queueUrl: string, body: string) => void;
  private readonly accountId: string;
  private readonly region: string;
  private readonly groups = new Map<string, Group>();
  private hooks: Hook[] = [];
  private readonly instances = new Map<string, AsgInstance>();
  private readonly events: LifecycleEvent[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly terminating: InstanceCallback[] = [];
  private readonly terminated: InstanceCallback[] = [];

  constructor(
    readonly ctx: EmulatorContext,
    options: AutoScalingServiceOptions = {},
  ) {
    this.raceWindowMs = options.raceWindowMs ?? 0;
    this.raceCount = options.raceCount ?? 0;
    this.terminateDelayMs = options.terminateDelayMs ?? 50;
    this.timeScale = options.timeScale ?? 1;
    this.accountId = options.accountId ?? '123456789012';
    this.region = options.region ?? 'us-east-1';
  }

  configure(input: Omit<AutoScalingServiceOptions, 'accountId' | 'region'>): void {
    if (input.raceWindowMs !== undefined) this.raceWindowMs = input.raceWindowMs;
    if (input.raceCount !== undefined) this.raceCount = input.raceCount;
    if (input.terminateDelayMs !== undefined) this.terminateDelayMs = input.terminateDelayMs;
    if (input.timeScale !== undefined) {
      if (!(input.timeScale > 0)) throw new Error('emulator autoscaling: timeScale must be > 0');
      this.timeScale = input.timeScale;
    }
  }

  // ---- programmatic API -------------------------------------------------------------------

  createGroup(name: string, opts: { availabilityZones?: string[] } = {}): void {
    if (this.groups.has(name)) return;
    this.groups.set(name, {
      name,
      availabilityZones: opts.availabilityZones ?? [`${this.region}a`],
      createdAt: this.ctx.now(),
    });
  }

  addInstance(
    asgName: string,
    instanceId: string,
    opts: { availabilityZone?: string; lifecycleState?: LifecycleState } = {},
  ): void {
    this.createGroup(asgName);
    this.instances.set(instanceId, {
      instanceId,
      asgName,
      availabilityZone: opts.availabilityZone ?? this.groups.get(asgName)!.availabilityZones[0],
      state: opts.lifecycleState ?? 'InService',
    });
  }

  putHook(spec: HookSpec): void {
    if (!(spec.heartbeatTimeoutSeconds > 0)) {
      throw new Error(`emulator: heartbeatTimeoutSeconds must be > 0 (got ${spec.heartbeatTimeoutSeconds})`);
    }
    this.createGroup(spec.asgName);
    this.hooks = this.hooks.filter((h) => !(h.asgName === spec.asgName && h.hookName === spec.hookName));
    const hook: Hook = {
      ...spec,
      defaultResult: spec.defaultResult ?? 'ABANDON',
      lifecycleTransition: spec.lifecycleTransition ?? TERMINATING,
    };
    this.hooks.push(hook);
    if (spec.testNotification && hook.notificationQueueUrl) {
      this.sendToQueue?.(hook.notificationQueueUrl, this.testNotificationBody(hook));
    }
  }

  /** Called at Terminating:Proceed (EC2 would now be shutting the instance down); returns an unsubscribe. */
  onInstanceTerminating(cb: InstanceCallback): () => void {
    return subscribe(this.terminating, cb);
  }

  /** Called at Terminated; returns an unsubscribe. */
  onInstanceTerminated(cb: InstanceCallback): () => void {
    return subscribe(this.terminated, cb);
  }

  /**
   * Sets a member's lifecycle state as another actor would (`Standby`, `Warmed:Running`,
   * `Terminating:Wait`, `Pending`…), without a lifecycle action or notification. DescribeAutoScaling*
   * report it; `Terminated` removes the member from them, as on AWS.
   */
  setLifecycleState(instanceId: string, state: LifecycleState): void {
    const inst = this.instances.get(instanceId);
    if (!inst) throw new Error(`emulator: ${instanceId} is not in an Auto Scaling group`);
    inst.state = state;
  }

  state(instanceId: string): string | undefined {
    return this.instances.get(instanceId)?.state;
  }

  pendingAction(instanceId: string): PendingActionView | undefined {
    const p = this.instances.get(instanceId)?.pending;
    if (!p) return undefined;
    const { token, hookName, asgName, startedAt, deadline, globalDeadline, heartbeats } = p;
    return { token, hookName, asgName, startedAt, deadline, globalDeadline, heartbeats };
  }

  history(): LifecycleEvent[] {
    return this.events.map((e) => ({ ...e }));
  }

  startTermination(
    instanceId: string,
    opts: { hookName?: string; raceWindowMs?: number; raceCount?: number } = {},
  ): TerminationStart {
    const inst = this.instances.get(instanceId);
    if (!inst) throw new Error(`emulator: ${instanceId} is not in an Auto Scaling group`);
    if (inst.state !== 'InService')
      throw new Error(`emulator: ${instanceId} is ${inst.state}, not InService`);
    const hook = this.hooks.find(
      (h) =>
        h.asgName === inst.asgName &&
        h.lifecycleTransition === TERMINATING &&
        (!opts.hookName || h.hookName === opts.hookName),
    );
    if (!hook) {
      throw new Error(
        `emulator: no terminate lifecycle hook${opts.hookName ? ` ${opts.hookName}` : ''} on ${inst.asgName} (use terminate())`,
      );
    }
    const now = this.ctx.now();
    const pending: PendingAction = {
      token: randomUUID(),
      hook,
      hookName: hook.hookName,
      asgName: inst.asgName,
      startedAt: now,
      deadline: now + this.ms(hook.heartbeatTimeoutSeconds),
      globalDeadline: now + this.ms(this.globalTimeoutSeconds(hook)),
      heartbeats: 0,
      raceUntil: now + (opts.raceWindowMs ?? this.raceWindowMs),
      raceRemaining: opts.raceCount ?? this.raceCount,
    };
    inst.state = 'Terminating:Wait';
    inst.pending = pending;
    this.armTimeout(inst);
    const body = this.directBody(inst, pending, now);
    const queued = hook.notificationQueueUrl !== undefined && this.sendToQueue !== undefined;
    if (queued) this.sendToQueue!(hook.notificationQueueUrl!, body);
    return {
      token: pending.token,
      body,
      eventBridgeBody: this.eventBridgeBody(inst, pending, now),
      hookName: hook.hookName,
      asgName: inst.asgName,
      queued,
    };
  }

  /** Termination with no lifecycle hook: Terminating:Proceed, then Terminated. */
  terminate(instanceId: string): void {
    const inst = this.instances.get(instanceId);
    if (!inst) throw new Error(`emulator: ${instanceId} is not in an Auto Scaling group`);
    this.proceed(inst);
  }

  snapshot(): unknown {
    return {
      groups: [...this.groups.values()],
      hooks: this.hooks,
      instances: [...this.instances.values()].map((i) => ({
        instanceId: i.instanceId,
        asgName: i.asgName,
        state: i.state,
        pending: this.pendingAction(i.instanceId),
      })),
      history: this.events,
    };
  }

  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  // ---- wire -------------------------------------------------------------------------------

  handle(req: EmulatorRequest): EmulatorResponse {
    const f = req.form;
    switch (req.action) {
      case 'DescribeLifecycleHooks':
        return this.describeLifecycleHooks(f);
      case 'DescribeAutoScalingInstances':
        return this.describeInstances(f);
      case 'DescribeAutoScalingGroups':
        return this.describeGroups(f);
      case 'PutLifecycleHook':
        this.putHookFromWire(f);
        return this.xml('PutLifecycleHook', '');
      case 'DeleteLifecycleHook': {
        const asg = required(f, 'AutoScalingGroupName');
        const name = required(f, 'LifecycleHookName');
        if (!this.hooks.some((h) => h.asgName === asg && h.hookName === name)) {
          throw new EmulatorError('ValidationError', `No Lifecycle Hook found for ${name}`);
        }
        this.hooks = this.hooks.filter((h) => !(h.asgName === asg && h.hookName === name));
        return this.xml('DeleteLifecycleHook', '');
      }
      case 'RecordLifecycleActionHeartbeat':
        this.heartbeat(f);
        return this.xml('RecordLifecycleActionHeartbeat', '');
      case 'CompleteLifecycleAction':
        this.complete(f);
        return this.xml('CompleteLifecycleAction', '');
      default:
        throw new EmulatorError('InvalidAction', `${req.action} is not implemented by the emulator`, 400);
    }
  }

  private heartbeat(f: URLSearchParams): void {
    required(f, 'AutoScalingGroupName');
    required(f, 'LifecycleHookName');
    const inst = this.findAction(f, 'RecordLifecycleActionHeartbeat');
    const p = inst.pending!;
    const now = this.ctx.now();
    p.deadline = Math.min(now + this.ms(p.hook.heartbeatTimeoutSeconds), p.globalDeadline);
    p.heartbeats++;
    this.armTimeout(inst);
    this.record({
      action: 'RecordLifecycleActionHeartbeat',
      instanceId: inst.instanceId,
      token: p.token,
      hookName: p.hookName,
      at: now,
      ok: true,
      by: f.get('LifecycleActionToken') ? 'token' : 'instanceId',
      deadline: p.deadline,
    });
  }

  private complete(f: URLSearchParams): void {
    required(f, 'AutoScalingGroupName');
    required(f, 'LifecycleHookName');
    const result = required(f, 'LifecycleActionResult');
    if (result !== 'CONTINUE' && result !== 'ABANDON') {
      throw new EmulatorError(
        'ValidationError',
        `1 validation error detected: Value '${result}' at 'lifecycleActionResult' failed to satisfy constraint: Member must satisfy enum value set: [CONTINUE, ABANDON]`,
      );
    }
    const inst = this.findAction(f, 'CompleteLifecycleAction', result);
    const p = inst.pending!;
    const now = this.ctx.now();
    const by = f.get('LifecycleActionToken') ? ('token' as const) : ('instanceId' as const);
    if (now < p.raceUntil || p.raceRemaining > 0) {
      // Auto Scaling's own eventual consistency: the action exists but Complete cannot see it yet.
      if (p.raceRemaining > 0) p.raceRemaining--;
      this.record({
        action: 'CompleteLifecycleAction',
        instanceId: inst.instanceId,
        token: p.token,
        hookName: p.hookName,
        result,
        at: now,
        ok: false,
        error: 'race',
        by,
      });
      throw noActive(f);
    }
    this.record({
      action: 'CompleteLifecycleAction',
      instanceId: inst.instanceId,
      token: p.token,
      hookName: p.hookName,
      result,
      at: now,
      ok: true,
      by,
    });
    this.proceed(inst);
  }

  /** The instance whose pending action the request names (by token or instance id), or ValidationError. */
  private findAction(f: URLSearchParams, action: LifecycleEvent['action'], result?: string): AsgInstance {
    const token = f.get('LifecycleActionToken');
    const instanceId = f.get('InstanceId');
    if (!token && !instanceId) {
      throw new EmulatorError(
        'ValidationError',
        'Either LifecycleActionToken or InstanceId must be specified',
      );
    }
    const inst = token
      ? [...this.instances.values()].find((i) => i.pending?.token === token)
      : this.instances.get(instanceId!);
    const p = inst?.pending;
    const ok =
      p !== undefined &&
      inst!.asgName === f.get('AutoScalingGroupName') &&
      p.hookName === f.get('LifecycleHookName') &&
      (!token || !instanceId || inst!.instanceId === instanceId);
    if (!ok) {
      this.record({
        action,
        instanceId: instanceId ?? inst?.instanceId ?? '',
        token: token ?? undefined,
        hookName: f.get('LifecycleHookName') ?? undefined,
        result,
        at: this.ctx.now(),
        ok: false,
        error: 'ValidationError',
        by: token ? 'token' : 'instanceId',
      });
      throw noActive(f);
    }
    return inst!;
  }

  private putHookFromWire(f: URLSearchParams): void {
    const asgName = required(f, 'AutoScalingGroupName');
    const hookName = required(f, 'LifecycleHookName');
    const existing = this.hooks.find((h) => h.asgName === asgName && h.hookName === hookName);
    if (!this.groups.has(asgName)) {
      throw new EmulatorError('ValidationError', `Group ${asgName} not found`);
    }
    const transition = f.get('LifecycleTransition') ?? existing?.lifecycleTransition;
    if (transition !== TERMINATING && transition !== LAUNCHING) {
      throw new EmulatorError(
        'ValidationError',
        transition
          ? `Invalid Lifecycle Transition: ${transition}`
          : 'A lifecycle transition must be specified when creating a lifecycle hook',
      );
    }
    const heartbeat = f.has('HeartbeatTimeout')
      ? Number(f.get('HeartbeatTimeout'))
      : (existing?.heartbeatTimeoutSeconds ?? 3600);
    if (!Number.isInteger(heartbeat) || heartbeat < 30 || heartbeat > 7200) {
      throw new EmulatorError(
        'ValidationError',
        `Heartbeat timeout must be between 30 and 7200 seconds (got ${f.get('HeartbeatTimeout')})`,
      );
    }
    const defaultResult = f.get('DefaultResult') ?? existing?.defaultResult ?? 'ABANDON';
    if (defaultResult !== 'CONTINUE' && defaultResult !== 'ABANDON') {
      throw new EmulatorError('ValidationError', `Invalid default result: ${defaultResult}`);
    }
    const target = f.get('NotificationTargetARN') ?? existing?.notificationQueueUrl;
    this.putHook({
      asgName,
      hookName,
      heartbeatTimeoutSeconds: heartbeat,
      defaultResult,
      lifecycleTransition: transition,
      notificationQueueUrl: target || undefined,
      notificationMetadata: f.get('NotificationMetadata') ?? existing?.notificationMetadata,
      roleArn: f.get('RoleARN') ?? existing?.roleArn,
      testNotification: Boolean(f.get('NotificationTargetARN')),
    });
  }

  private describeLifecycleHooks(f: URLSearchParams): EmulatorResponse {
    const asg = required(f, 'AutoScalingGroupName');
    const names = memberList(f, 'LifecycleHookNames');
    const hooks = this.hooks.filter(
      (h) => h.asgName === asg && (!names.length || names.includes(h.hookName)),
    );
    const items = hooks.map((h) =>
      fields([
        ['LifecycleHookName', h.hookName],
        ['AutoScalingGroupName', h.asgName],
        ['LifecycleTransition', h.lifecycleTransition],
        ['NotificationTargetARN', h.notificationQueueUrl ? this.queueArn(h.notificationQueueUrl) : undefined],
        ['RoleARN', h.roleArn],
        ['NotificationMetadata', h.notificationMetadata],
        ['HeartbeatTimeout', h.heartbeatTimeoutSeconds],
        ['GlobalTimeout', this.globalTimeoutSeconds(h)],
        ['DefaultResult', h.defaultResult],
      ]),
    );
    return this.xml('DescribeLifecycleHooks', `<LifecycleHooks>${members(items)}</LifecycleHooks>`);
  }

  /** Terminated instances have left their group, as on AWS. */
  private describeInstances(f: URLSearchParams): EmulatorResponse {
    const ids = memberList(f, 'InstanceIds');
    const list = [...this.instances.values()].filter(
      (i) => i.state !== 'Terminated' && (!ids.length || ids.includes(i.instanceId)),
    );
    const items = list.map((i) =>
      fields([
        ['InstanceId', i.instanceId],
        ['InstanceType', 'c6i.large'],
        ['AutoScalingGroupName', i.asgName],
        ['AvailabilityZone', i.availabilityZone],
        ['LifecycleState', i.state],
        ['HealthStatus', 'HEALTHY'],
        ['ProtectedFromScaleIn', false],
      ]),
    );
    return this.xml(
      'DescribeAutoScalingInstances',
      `<AutoScalingInstances>${members(items)}</AutoScalingInstances>`,
    );
  }

  private describeGroups(f: URLSearchParams): EmulatorResponse {
    const names = memberList(f, 'AutoScalingGroupNames');
    const groups = [...this.groups.values()].filter((g) => !names.length || names.includes(g.name));
    const items = groups.map((g) => {
      const insts = [...this.instances.values()].filter(
        (i) => i.asgName === g.name && i.state !== 'Terminated',
      );
      const instanceXml = insts.map((i) =>
        fields([
          ['InstanceId', i.instanceId],
          ['InstanceType', 'c6i.large'],
          ['AvailabilityZone', i.availabilityZone],
          ['LifecycleState', i.state],
          ['HealthStatus', 'Healthy'],
          ['ProtectedFromScaleIn', false],
        ]),
      );
      return (
        fields([
          ['AutoScalingGroupName', g.name],
          ['AutoScalingGroupARN', this.groupArn(g.name)],
          ['MinSize', 0],
          ['MaxSize', Math.max(insts.length, 1)],
          ['DesiredCapacity', insts.filter((i) => i.state === 'InService').length],
          ['DefaultCooldown', 300],
        ]) +
        `<AvailabilityZones>${members(g.availabilityZones.map((z) => z))}</AvailabilityZones>` +
        fields([
          ['HealthCheckType', 'EC2'],
          ['CreatedTime', new Date(g.createdAt).toISOString()],
        ]) +
        `<Instances>${members(instanceXml)}</Instances>`
      );
    });
    return this.xml('DescribeAutoScalingGroups', `<AutoScalingGroups>${members(items)}</AutoScalingGroups>`);
  }

  // ---- timers and transitions --------------------------------------------------------------

  private armTimeout(inst: AsgInstance): void {
    const p = inst.pending!;
    this.clearTimer(p);
    const fireAt = Math.min(p.deadline, p.globalDeadline);
    const timer = setTimeout(
      () => {
        this.timers.delete(timer);
        if (inst.pending !== p) return;
        this.record({
          action: 'Timeout',
          instanceId: inst.instanceId,
          token: p.token,
          hookName: p.hookName,
          result: p.hook.defaultResult,
          at: this.ctx.now(),
          ok: true,
          reason: p.deadline >= p.globalDeadline ? 'global' : 'heartbeat',
        });
        this.proceed(inst);
      },
      Math.max(0, fireAt - this.ctx.now()),
    );
    p.timer = timer;
    this.timers.add(timer);
  }

  private clearTimer(p: PendingAction): void {
    if (!p.timer) return;
    clearTimeout(p.timer);
    this.timers.delete(p.timer);
    p.timer = undefined;
  }

  private proceed(inst: AsgInstance): void {
    if (inst.pending) this.clearTimer(inst.pending);
    inst.pending = undefined;
    inst.state = 'Terminating:Proceed';
    for (const cb of [...this.terminating]) cb(inst.instanceId);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      inst.state = 'Terminated';
      for (const cb of [...this.terminated]) cb(inst.instanceId);
    }, this.terminateDelayMs);
    this.timers.add(timer);
  }

  private record(e: LifecycleEvent): void {
    for (const k of Object.keys(e) as Array<keyof LifecycleEvent>) if (e[k] === undefined) delete e[k];
    this.events.push(e);
  }

  // ---- bodies, names, time -------------------------------------------------------------------

  private directBody(inst: AsgInstance, p: PendingAction, now: number): string {
    const body: Record<string, string> = {
      Origin: 'AutoScalingGroup',
      LifecycleHookName: p.hookName,
      Destination: 'EC2',
      AccountId: this.accountId,
      RequestId: randomUUID(),
      LifecycleTransition: TERMINATING,
      AutoScalingGroupName: inst.asgName,
      Service: 'AWS Auto Scaling',
      Time: new Date(now).toISOString(),
      EC2InstanceId: inst.instanceId,
    };
    if (p.hook.notificationMetadata !== undefined) body.NotificationMetadata = p.hook.notificationMetadata;
    body.LifecycleActionToken = p.token;
    return JSON.stringify(body);
  }

  private eventBridgeBody(inst: AsgInstance, p: PendingAction, now: number): string {
    const detail: Record<string, string> = {
      LifecycleActionToken: p.token,
      AutoScalingGroupName: inst.asgName,
      LifecycleHookName: p.hookName,
      EC2InstanceId: inst.instanceId,
      LifecycleTransition: TERMINATING,
      Origin: 'AutoScalingGroup',
      Destination: 'EC2',
    };
    if (p.hook.notificationMetadata !== undefined) detail.NotificationMetadata = p.hook.notificationMetadata;
    return JSON.stringify({
      version: '0',
      id: randomUUID(),
      'detail-type': 'EC2 Instance-terminate Lifecycle Action',
      source: 'aws.autoscaling',
      account: this.accountId,
      time: new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      region: this.region,
      resources: [this.groupArn(inst.asgName)],
      detail,
    });
  }

  private testNotificationBody(h: Hook): string {
    return JSON.stringify({
      AccountId: this.accountId,
      RequestId: randomUUID(),
      AutoScalingGroupARN: this.groupArn(h.asgName),
      AutoScalingGroupName: h.asgName,
      Service: 'AWS Auto Scaling',
      Event: 'autoscaling:TEST_NOTIFICATION',
      Time: new Date(this.ctx.now()).toISOString(),
    });
  }

  private groupArn(name: string): string {
    // A stable fake group UUID derived from the name keeps the ARN the same across calls.
    const hex = Buffer.from(name).toString('hex').padEnd(32, '0').slice(0, 32);
    const uuid = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
    return `arn:aws:autoscaling:${this.region}:${this.accountId}:autoScalingGroup:${uuid}:autoScalingGroupName/${name}`;
  }

  private queueArn(ref: string): string {
    if (ref.startsWith('arn:')) return ref;
    const parts = ref.replace(/\/+$/, '').split('/');
    const name = parts[parts.length - 1];
    const account =
      parts.length >= 2 && /^\d{12}$/.test(parts[parts.length - 2])
        ? parts[parts.length - 2]
        : this.accountId;
    return `arn:aws:sqs:${this.region}:${account}:${name}`;
  }

  private globalTimeoutSeconds(h: HookSpec): number {
    return h.globalTimeoutSeconds ?? Math.min(172800, 100 * h.heartbeatTimeoutSeconds);
  }

  private ms(seconds: number): number {
    return seconds * 1000 * this.timeScale;
  }

  private xml(action: string, result: string): EmulatorResponse {
    return asgResponse(action, result, this.ctx.requestId());
  }
}

function subscribe(list: InstanceCallback[], cb: InstanceCallback): () => void {
  list.push(cb);
  return () => {
    const i = list.indexOf(cb);
    if (i >= 0) list.splice(i, 1);
  };
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
