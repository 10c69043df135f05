/**
 * The teardown engine: gate → inventory → planner → executor → report, for one instance.
 *
 *   runTeardown(deps, req): Promise<TeardownReport>
 *     Decides the scope (reusing req.gateDecision when the episode already has one; else CLI
 *     req.scopeOverride, config override/static, or loxilb's REST API), discovers what loxilb left
 *     for this instance, plans, executes (dry-run: zero mutating calls) and returns the report. It
 *     does not write the report (callers add completion details first, then `writeReport`), and it
 *     does not throw for AWS trouble: a failed discovery is a report with `error` and outcome
 *     `left-behind` where nothing was changed.
 *   buildPlanFor(deps, req): Promise<{ gate, inventory, plan }>
 *     The same gate, discovery and plan without executing anything (`teardownd plan`). Throws when
 *     discovery fails.
 *
 * Deadline: (req.deadlineAt ?? start + executor.defaultDeadlineMs) − executor.deadlineReserveMs, or the
 * source's deadline itself when it is closer than the reserve (late is better than nothing);
 * nothing starts after it and no retry sleeps past it. req.signal aborts in-flight calls.
 * Events (req.onEvent): 'gate-decided', 'plan-built', 'action-started', 'action-finished' — the
 * daemon journals them and counts progress for lifecycle heartbeats.
 */
import type { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import type { EC2Client } from '@aws-sdk/client-ec2';
import { errorCodeOf } from '../aws/errors';
import { Clock } from '../clock';
import { Config, Scope } from '../config/schema';
import { EngineEvent, executePlan } from '../execute/executor';
import {
  AwsPeerView,
  decideScope,
  GateDecision,
  LoxilbAnswer,
  needsLoxilbApi,
  peerQuestions,
} from '../gate/gate';
import { gatherPeerFacts } from '../gate/ha-facts';
import { HaObserver } from '../gate/ha-observer';
import { awaitOwnTakeover } from '../gate/own-takeover';
import { planStaleEnis, STALE_ENI } from '../gate/stale-eni';
import { loxilbTagFilter, TagValues } from '../discovery/ec2-reads';
import { discoverInventory, Inventory, RememberedFacts } from '../discovery/inventory';
import { Logger } from '../log';
import { LoxilbApi, LoxilbApiError } from '../gate/loxilb-api';
import { TerminationNotice } from '../notice';
import { Plan } from '../plan/actions';
import { buildPlan, planCounts } from '../plan/planner';
import { ActionRecord, buildReport, TeardownReport } from '../report/report';
import { CallContext, CallCounter } from '../aws/call';
import { TokenBucket } from '../aws/pacer';

export type { EngineEvent } from '../execute/executor';
export type { GateDecision } from '../gate/gate';
export type { TeardownReport } from '../report/report';

export interface EngineDeps {
  ec2: EC2Client;
  config: Config;
  clock: Clock;
  logger: Logger;
  loxilb: LoxilbApi;
  /** The per-process pacer of mutating EC2 calls (daemon/wiring.ts). */
  pacer?: TokenBucket;
  /** For AWS's view of the peers (Auto Scaling lifecycle states, group members). */
  autoScaling?: AutoScalingClient;
  /**
   * The daemon's observer: a decision reads loxilb live and falls back to the last observation it
   * kept. Without it (CLI), only a live read counts.
   */
  observer?: HaObserver;
  /** Randomness for retry jitter (tests pin it). */
  random?: () => number;
}

export interface TeardownRequest {
  instanceId: string;
  /** Id of the termination episode (daemon) or a fresh one (CLI). */
  episode: string;
  trigger?: TerminationNotice;
  /** CLI --scope. */
  scopeOverride?: Scope;
  /** Decided earlier in this episode (journal): reused, loxilb is not asked again. */
  gateDecision?: GateDecision;
  /** What earlier runs of this episode discovered (journal): a resumed run does not forget it. */
  remembered?: RememberedFacts;
  /** Set when an earlier `handover` of this episode is being re-examined (copied into the report). */
  redecided?: { at: string; reason: string; previous?: unknown };
  dryRun: boolean;
  /** Epoch ms. */
  deadlineAt?: number;
  signal?: AbortSignal;
  /**
   * Progress events. For `discovered` the engine waits for the returned promise before the first
   * change, so the record is on disk before anything it describes is touched.
   */
  onEvent?: (e: EngineEvent) => void | Promise<void>;
}

function callContext(
  deps: EngineDeps,
  counter: CallCounter,
  signal?: AbortSignal,
  deadlineAt?: number,
): CallContext {
  return {
    ec2: deps.ec2,
    clock: deps.clock,
    config: deps.config,
    logger: deps.logger,
    signal,
    deadlineAt,
    pacer: deps.pacer,
    counter,
    random: deps.random,
  };
}

/** loxilb's answer: the observer's (live, else the last kept) or a bare live read. Never throws. */
async function askLoxilb(deps: EngineDeps, signal?: AbortSignal): Promise<LoxilbAnswer> {
  if (deps.observer) return deps.observer.observeOnce(signal);
  try {
    const view = await deps.loxilb.haView(signal);
    return {
      url: deps.loxilb.baseUrl,
      live: true,
      observation: { observedAt: deps.clock.now(), url: deps.loxilb.baseUrl, view },
    };
  } catch (err) {
    const e = err as LoxilbApiError;
    return {
      url: deps.loxilb.baseUrl,
      live: false,
      error: e.message ?? String(err),
      errorCode: e.code ?? 'Unknown',
    };
  }
}

/**
 * The gate for this request: reused from the episode, or decided now — loxilb's HA state (asked only
 * if needed), then AWS's view of the peers that state names (asked only if the decision hinges on it).
 */
export async function decideGate(
  deps: EngineDeps,
  req: TeardownRequest,
  /** The episode's call counter, so the report's calls include the gate's reads. */
  counter: CallCounter = { read: 0, mutate: 0 },
): Promise<GateDecision> {
  if (req.scopeOverride === undefined && req.gateDecision) return req.gateDecision;
  const { config, clock } = deps;
  const loxilb = needsLoxilbApi(config, req.scopeOverride) ? await askLoxilb(deps, req.signal) : undefined;
  const asked = { config, cliScope: req.scopeOverride, loxilb, now: clock.now() };
  const questions = peerQuestions(asked);
  let aws: AwsPeerView | undefined;
  if (questions) {
    aws = deps.autoScaling
      ? await gatherPeerFacts(
          {
            ec2: callContext(deps, counter, req.signal, req.deadlineAt),
            autoScaling: deps.autoScaling,
          },
          req.instanceId,
          questions,
        )
      : { error: 'no Auto Scaling client to read the cluster with' };
  }
  return decideScope({ ...asked, aws, now: clock.now() });
}

/**
 * A `full` decision for a node promoted to MASTER within gate.takeover.recentMs waits for its own
 * loxilb takeover to settle first (lib/gate/own-takeover.ts), for up to gate.takeover.waitMs and
 * never more than half the time left. Not settled: `handover` — the leak is reported, and loxilb's
 * next MASTER wipes the cluster's ENIs and subnets by tag in its own takeover.
 */
async function afterOwnTakeover(
  deps: EngineDeps,
  req: TeardownRequest,
  gate: GateDecision,
  counter: CallCounter,
  deadlineAt: number | undefined,
): Promise<GateDecision> {
  const { clock, config, logger } = deps;
  const t = config.gate.takeover;
  if (gate.scope !== 'full' || !gate.takeover || gate.takeover.settled) return gate;
  const now = clock.now();
  const promotedAt = Date.parse(gate.takeover.promotedAt);
  if (now - promotedAt > t.recentMs) return gate;
  const until = Math.min(now + t.waitMs, deadlineAt === undefined ? Infinity : now + (deadlineAt - now) / 2);
  const log = { instanceId: req.instanceId, episode: req.episode, stage: 'gate' };
  logger.info(
    'this node became MASTER recently: waiting for its own loxilb takeover to settle before the teardown',
    {
      ...log,
      promotedAt: gate.takeover.promotedAt,
      durationMs: Math.max(0, until - now),
    },
  );
  const r = await awaitOwnTakeover(callContext(deps, counter, req.signal, deadlineAt), {
    instanceId: req.instanceId,
    until,
    quietMs: t.quietMs,
    pollMs: t.pollMs,
    signal: req.signal,
  });
  const takeover = { ...gate.takeover, ...r };
  logger[r.settled === 'timeout' ? 'warn' : 'info'](`own loxilb takeover: ${r.settled}`, {
    ...log,
    durationMs: r.waitedMs,
    seen: r.seen,
  });
  if (r.settled !== 'timeout') return { ...gate, takeover };
  return {
    ...gate,
    scope: 'handover',
    takeover,
    reason:
      `${gate.reason} — but this node became MASTER at ${gate.takeover.promotedAt} and its own loxilb takeover ` +
      `had not settled after ${Math.round(r.waitedMs / 1000)} s (${r.seen}): a teardown now would race it and miss ` +
      `what it creates, so nothing is changed; loxilb's next MASTER wipes the cluster's ENIs and subnets by tag, ` +
      `the sweeper takes what is left`,
  };
}

function effectiveDeadline(deps: EngineDeps, req: TeardownRequest, startedAt: number): number {
  const { defaultDeadlineMs, deadlineReserveMs } = deps.config.executor;
  const target = req.deadlineAt ?? startedAt + defaultDeadlineMs;
  // A notice that leaves less time than the reserve (a late scheduled event, a slow restart) still
  // deserves the attempt: skipping everything protects nothing, the host is going away regardless.
  // Then the reserve is given up and the work runs until the source's own deadline.
  return target - deadlineReserveMs > startedAt ? target - deadlineReserveMs : target;
}

async function gateAndPlan(
  deps: EngineDeps,
  req: TeardownRequest,
  counter: CallCounter,
  deadlineAt?: number,
): Promise<{ gate: GateDecision; inventory?: Inventory; plan?: Plan; error?: unknown }> {
  const log = { instanceId: req.instanceId, episode: req.episode };
  const gate = await afterOwnTakeover(deps, req, await decideGate(deps, req, counter), counter, deadlineAt);
  deps.logger.info(`gate: scope ${gate.scope}`, {
    ...log,
    stage: 'gate',
    scope: gate.scope,
    source: gate.source,
    reason: gate.reason,
  });
  req.onEvent?.({ type: 'gate-decided', ...gate });
  if (gate.scope === 'handover') return handoverPlan(deps, req, gate, counter, deadlineAt);
  let inventory: Inventory;
  try {
    inventory = await discoverInventory(callContext(deps, counter, req.signal, deadlineAt), {
      instanceId: req.instanceId,
      depth: gate.scope === 'full' ? 'full' : 'instance',
      remembered: req.remembered,
    });
  } catch (error) {
    return { gate, error };
  }
  await req.onEvent?.({ type: 'discovered', facts: inventory.remembered });
  const plan = buildPlan(inventory, gate.scope, deps.config);
  const counts = planCounts(plan);
  deps.logger.info(`plan: ${counts.planned} planned, ${counts.blocked} blocked, ${counts.skipped} skipped`, {
    ...log,
    stage: 'plan',
    scope: plan.scope,
    describeCalls: inventory.describeCalls,
    ...counts,
  });
  for (const w of plan.warnings) deps.logger.warn(w, { ...log, stage: 'plan' });
  req.onEvent?.({ type: 'plan-built', ...counts });
  return { gate, inventory, plan };
}

/**
 * `handover` changes nothing the takeover does. A MASTER handing over discovers nothing at all (the
 * read budget is the takeover's too); a node that is not the MASTER looks for a stale loxilb ENI of
 * its own (lib/gate/stale-eni.ts) and, when discovery fails, simply keeps it.
 */
async function handoverPlan(
  deps: EngineDeps,
  req: TeardownRequest,
  gate: GateDecision,
  counter: CallCounter,
  deadlineAt?: number,
): Promise<{ gate: GateDecision; inventory?: Inventory; plan: Plan }> {
  const none: Plan = {
    instanceId: req.instanceId,
    scope: 'handover',
    actions: [],
    untouched: [],
    warnings: [],
  };
  if (!gate.staleEni) return { gate, plan: none };
  try {
    const inventory = await discoverInventory(callContext(deps, counter, req.signal, deadlineAt), {
      instanceId: req.instanceId,
      depth: 'instance',
    });
    const plan = planStaleEnis(inventory, deps.config);
    for (const a of plan.actions)
      deps.logger.info(a.summary, {
        instanceId: req.instanceId,
        episode: req.episode,
        stage: 'plan',
        resource: a.resource,
      });
    return { gate, inventory, plan };
  } catch (err) {
    return {
      gate,
      plan: {
        ...none,
        warnings: [
          `${STALE_ENI}: discovery failed, nothing changed: ${(err as Error)?.message ?? String(err)}`,
        ],
      },
    };
  }
}

export async function buildPlanFor(
  deps: EngineDeps,
  req: TeardownRequest,
): Promise<{ gate: GateDecision; inventory?: Inventory; plan: Plan }> {
  const counter = { read: 0, mutate: 0 };
  const r = await gateAndPlan(deps, req, counter, req.deadlineAt);
  if (r.error !== undefined) throw r.error;
  return { gate: r.gate, inventory: r.inventory, plan: r.plan! };
}

export async function runTeardown(deps: EngineDeps, req: TeardownRequest): Promise<TeardownReport> {
  const { clock, logger } = deps;
  const startedAt = clock.now();
  const deadlineAt = effectiveDeadline(deps, req, startedAt);
  const counter: CallCounter = { read: 0, mutate: 0 };
  const log = { instanceId: req.instanceId, episode: req.episode };
  const dryRun = req.dryRun || deps.config.dryRun;

  const { gate, plan, error, inventory } = await gateAndPlan(deps, req, counter, deadlineAt);
  let actions: ActionRecord[] = [];
  if (plan) {
    actions = await executePlan(callContext(deps, counter), plan, {
      instanceId: req.instanceId,
      episode: req.episode,
      dryRun,
      deadlineAt,
      signal: req.signal,
      onEvent: req.onEvent,
    });
  }
  const report = buildReport({
    episode: req.episode,
    instanceId: req.instanceId,
    trigger: req.trigger,
    startedAt,
    finishedAt: clock.now(),
    dryRun,
    gate,
    deadlineAt,
    plan,
    actions,
    calls: { ...counter },
    error: error !== undefined ? discoveryError(error) : undefined,
    redecided: req.redecided,
    leftBehind:
      error !== undefined
        ? discoveryLeftBehind(deps.config, req.instanceId, error)
        : inventory?.vpcUnknown && vpcUnknownLeftBehind(deps.config, req.instanceId, inventory.vpcUnknown),
  });
  const fields = {
    ...log,
    outcome: report.outcome,
    durationMs: report.durationMs,
    leftBehind: report.leftBehind.length,
  };
  if (report.outcome === 'left-behind') logger.warn('teardown finished: something was left behind', fields);
  else logger.info(`teardown finished: ${report.outcome}`, fields);
  return report;
}

function discoveryError(err: unknown): TeardownReport['error'] {
  return { stage: 'inventory', message: (err as Error)?.message ?? String(err), errorCode: errorCodeOf(err) };
}

/**
 * A `full` teardown that cannot tell this host's VPC leaves the shared part (subnet, route table,
 * CIDR association) alone: that is not "clean", it is a leak to look at — with whatever the
 * cluster's tags show in the region.
 */
/** Discovery's filter for one kind of this cluster's loxilb resources, as the AWS CLI takes it. */
function byTag(config: Config, kind: keyof TagValues): string {
  const f = loxilbTagFilter(config, kind);
  return `Name=${f.Name},Values=${(f.Values ?? []).join(',')}`;
}

function vpcUnknownLeftBehind(
  config: Config,
  instanceId: string,
  found: NonNullable<Inventory['vpcUnknown']>,
): TeardownReport['leftBehind'] {
  const tagged = [...found.subnetIds, ...found.routeTableIds];
  return [
    {
      resource: instanceId,
      kind: 'inventory',
      reason:
        `cannot tell the VPC of ${instanceId} (EC2 no longer knows the instance, no loxilb ENI and no journal names it): ` +
        `its loxilb subnet, route table and CIDR association were not looked at` +
        (tagged.length
          ? `; the cluster's tagged ones in this region: ${tagged.join(', ')}`
          : `; no subnet or route table with the cluster's tags is left in this region`),
      manualCommand:
        `aws ec2 describe-subnets --filters ${byTag(config, 'subnet')}` +
        ` && aws ec2 describe-route-tables --filters ${byTag(config, 'routeTable')}`,
    },
  ];
}

function discoveryLeftBehind(config: Config, instanceId: string, err: unknown): TeardownReport['leftBehind'] {
  return [
    {
      resource: instanceId,
      kind: 'inventory',
      reason: `discovery failed, nothing was changed: ${(err as Error)?.message ?? String(err)}`,
      errorCode: errorCodeOf(err),
      manualCommand:
        `aws ec2 describe-network-interfaces --filters ${byTag(config, 'eni')} Name=attachment.instance-id,Values=${instanceId}` +
        ` && aws ec2 describe-subnets --filters ${byTag(config, 'subnet')}`,
    },
  ];
}
