import type { EC2Client } from '@aws-sdk/client-ec2';
import { errorCodeOf } from '../aws/errors';
import { Clock } from '../clock';
import { cloudInstanceOf, Config } from '../config/schema';
import { executePlan, PreflightVerdict } from '../execute/executor';
import { loxilbTagValues } from '../discovery/ec2-reads';
import { Logger } from '../log';
import { analyzeOrphans, Candidate, OrphanFacts } from './orphans';
import { buildOrphanPlan, recheckCidr, recheckEni, recheckShared } from './orphan-plan';
import { PlannedAction } from '../plan/actions';
import { ActionRecord } from '../report/report';
import { JitteredSchedule, CronApi } from './scheduler';
import { describeCidrState, describeClusterEnis, describeEni, discoverCluster } from '../discovery/sweep';
import {
  CandidateResult,
  SweepActionRecord,
  SweepCandidate,
  SweepLeftOver,
  SweepOutcome,
  SweepReport,
  summarizeSweep,
  writeSweepReport,
} from './report';
import { FirstSeenStore } from './state';
import { manualCommand } from '../execute/teardown';
import { CallContext, CallCounter } from '../aws/call';
import { TokenBucket } from '../aws/pacer';

/**
 * The sweeper: finds the loxilb resources of this cluster whose owner is gone (lib/sweeper/orphans.ts) and
 * reports them, or — in apply mode — removes them with the engine's executor (bounded concurrency,
 * retries, NotFound = done, the planner's safety check before every call).
 *
 *   sweepOnce(deps, opts): Promise<SweepReport>   one region, one pass; never throws for AWS trouble
 *   sweepRegions(deps, opts)                        every region, reports written to reports.dir
 *   startSweeper(deps): { stop(), sweepNow() }      the same on a jittered node-cron schedule
 *
 * Several sweepers may run at once (every host of a cluster runs one) and must not fight: every
 * action is idempotent (NotFound/already disassociated = done), schedules are jittered, and right
 * before each mutating call the resource is read again (one Describe) and the orphan rule re-applied;
 * one that is no longer an orphan is skipped with the reason. Report mode makes zero mutating calls:
 * it discovers, judges and writes the report, nothing else.
 */

export type SweepMode = 'report' | 'apply';

export interface SweepDeps {
  ec2: EC2Client;
  config: Config;
  clock: Clock;
  logger: Logger;
  /** The grace-period clock (lib/sweeper/state.ts). */
  firstSeen: FirstSeenStore;
  /** The per-process pacer of mutating EC2 calls (apply mode). */
  pacer?: TokenBucket;
  random?: () => number;
}

export interface SweepOptions {
  region: string;
  mode: SweepMode;
  /** The sweeping host when it is a member of this cluster (the daemon): keeps shared resources alive. */
  memberInstanceId?: string;
  /** The sweeping host for logs and the report (the daemon's instance id), if known. */
  sweeperInstanceId?: string;
  signal?: AbortSignal;
}

const REMOVED = new Set(['done', 'already-done']);

export async function sweepOnce(deps: SweepDeps, opts: SweepOptions): Promise<SweepReport> {
  const { clock, config, logger } = deps;
  const startedAt = clock.now();
  const counter: CallCounter = { read: 0, mutate: 0 };
  const deadlineAt = startedAt + config.executor.defaultDeadlineMs;
  const ctx: CallContext = {
    ec2: deps.ec2,
    clock,
    config,
    logger,
    signal: opts.signal,
    deadlineAt,
    pacer: deps.pacer,
    counter,
    random: deps.random,
  };
  const sweeperId = opts.sweeperInstanceId ?? 'sweeper';
  const episode = `sweep-${opts.region}-${new Date(startedAt).toISOString().replace(/[-:.]/g, '')}`;
  const log = { instanceId: opts.sweeperInstanceId, episode, stage: 'sweep', region: opts.region };
  const warnings: string[] = [];

  const loaded = await deps.firstSeen.load(opts.region).catch((err: Error) => ({
    firstSeen: {} as Record<string, number>,
    warning: `cannot read the grace-period records: ${err.message}`,
  }));
  if (loaded.warning) warnings.push(loaded.warning);

  const base = (): Omit<
    SweepReport,
    'candidates' | 'left' | 'counts' | 'outcome' | 'finishedAt' | 'durationMs'
  > => ({
    schemaVersion: 1,
    kind: 'sweep',
    region: opts.region,
    mode: opts.mode,
    sweeperInstanceId: opts.sweeperInstanceId ?? null,
    startedAt: new Date(startedAt).toISOString(),
    graceMs: config.sweeper.graceMs,
    cluster: {
      tagKey: config.ownership.tagKey,
      cloudInstance: cloudInstanceOf(config),
      tagValues: loxilbTagValues(config),
      ownerTagKey: config.ownership.ownerTagKey,
      enis: [],
      liveMembers: [],
      sharedKeptBecause: null,
    },
    calls: counter,
    warnings,
  });

  let facts: OrphanFacts;
  try {
    const found = await discoverCluster(ctx);
    facts = {
      now: clock.now(),
      graceMs: config.sweeper.graceMs,
      takeoverGraceMs: config.sweeper.takeoverGraceMs,
      tagKey: config.ownership.tagKey,
      ownerTagKey: config.ownership.ownerTagKey,
      tagValues: loxilbTagValues(config),
      cloudCidrBlock: config.cloud.cidrBlock,
      memberInstanceIds: opts.memberInstanceId ? [opts.memberInstanceId] : [],
      firstSeen: loaded.firstSeen,
      ...found,
    };
  } catch (err) {
    const finishedAt = clock.now();
    const report: SweepReport = {
      ...base(),
      finishedAt: new Date(finishedAt).toISOString(),
      durationMs: finishedAt - startedAt,
      counts: { orphan: 0, 'in-use': 0, uncertain: 0, removed: 0, left: 0 },
      candidates: [],
      left: [],
      calls: { ...counter },
      error: {
        stage: 'discovery',
        message: (err as Error)?.message ?? String(err),
        errorCode: errorCodeOf(err),
      },
      outcome: 'failed',
    };
    logger.warn('sweep failed: discovery did not complete, nothing was changed', {
      ...log,
      errorCode: report.error!.errorCode,
      error: report.error!.message,
    });
    return report;
  }

  const analysis = analyzeOrphans(facts);
  await saveGraceClock(deps.firstSeen, opts.region, analysis.candidates, analysis.graceClock).catch(
    (err: Error) => warnings.push(`cannot write the grace-period records: ${err.message}`),
  );
  const { plan, actionsOf } = buildOrphanPlan(facts, analysis, config, sweeperId);
  const orphans = analysis.candidates.filter((c) => c.verdict === 'orphan');
  for (const c of orphans) {
    logger.info(`orphan ${c.kind} ${c.resource}: ${c.reason}`, {
      ...log,
      resource: c.resource,
      kind: c.kind,
    });
  }

  // Apply: the engine's executor, with the orphan re-check right before every mutating call.
  let records: ActionRecord[] = [];
  const preflightSkipped = new Set<string>();
  if (opts.mode === 'apply' && plan.actions.some((a) => a.status === 'planned')) {
    const ownerOf = new Map<string, string>();
    for (const [owner, ids] of Object.entries(actionsOf)) for (const id of ids) ownerOf.set(id, owner);
    const removedEnis = new Set<string>();
    const preflight = async (a: PlannedAction): Promise<PreflightVerdict | undefined> => {
      const verdict = await recheck(
        ctx,
        a,
        ownerOf.get(a.id) ?? a.resource,
        { ...facts, now: clock.now() },
        removedEnis,
      );
      if (verdict?.outcome === 'skipped') preflightSkipped.add(a.id);
      return verdict;
    };
    records = await executePlan(ctx, plan, {
      instanceId: sweeperId,
      episode,
      dryRun: false,
      deadlineAt,
      signal: opts.signal,
      preflight,
      onEvent: (e) => {
        if (e.type === 'action-finished' && e.action === 'DeleteNetworkInterface' && REMOVED.has(e.outcome)) {
          removedEnis.add(e.resource);
        }
      },
    });
  }

  // One record per candidate: verdict, evidence, actions and what came of them.
  const recordById = new Map(records.map((r) => [r.id, r]));
  const planned = new Map(plan.actions.map((a) => [a.id, a]));
  /** Skipped by the re-check, or blocked only because something it depends on was. */
  const noLongerOrphan = (id: string, seen = new Set<string>()): boolean => {
    if (preflightSkipped.has(id)) return true;
    const r = recordById.get(id);
    if (r?.outcome !== 'blocked' || r.errorCode || seen.has(id)) return false;
    seen.add(id);
    const deps = planned.get(id)?.dependsOn ?? [];
    const notOk = deps.filter((d) => !REMOVED.has(recordById.get(d)?.outcome ?? ''));
    return notOk.length > 0 && notOk.every((d) => noLongerOrphan(d, seen));
  };
  const candidates: SweepCandidate[] = analysis.candidates.map((c) => {
    const ids = actionsOf[c.resource] ?? [];
    const actions: SweepActionRecord[] = ids.map((id) => {
      const a = planned.get(id)!;
      const r = recordById.get(id);
      const rec: SweepActionRecord = {
        id,
        action: a.action,
        resource: a.resource,
        summary: a.summary,
        manualCommand: manualCommand(a.params),
      };
      if (opts.mode === 'report') {
        rec.status = a.status;
        if (a.reason) rec.message = a.reason;
      } else if (r) {
        rec.outcome = r.outcome;
        rec.attempts = r.attempts;
        rec.durationMs = r.durationMs;
        if (r.message) rec.message = r.message;
        if (r.errorCode) rec.errorCode = r.errorCode;
      } else {
        rec.status = a.status;
        if (a.reason) rec.message = a.reason;
      }
      return rec;
    });
    return { ...c, result: resultOf(c, opts.mode, ids, recordById, noLongerOrphan), actions };
  });

  const left: SweepLeftOver[] = candidates
    .filter((c) => c.result === 'reported' || c.result === 'left')
    .map((c) => ({
      resource: c.resource,
      kind: c.kind,
      reason:
        c.result === 'reported'
          ? `orphan (report mode): ${c.reason}`
          : c.actions
              .filter((a) => (a.outcome !== undefined ? !REMOVED.has(a.outcome) : true))
              .map(
                (a) =>
                  `${a.action} ${a.resource} ${a.outcome ?? a.status}${a.message ? `: ${a.message}` : ''}`,
              )
              .join('; '),
      manualCommands: c.actions.map((a) => a.manualCommand),
    }));
  const counts = {
    orphan: orphans.length,
    'in-use': candidates.filter((c) => c.verdict === 'in-use').length,
    uncertain: candidates.filter((c) => c.verdict === 'uncertain').length,
    removed: candidates.filter((c) => c.result === 'removed').length,
    left: left.length,
  };
  let outcome: SweepOutcome;
  if (left.length) outcome = opts.mode === 'report' ? 'orphans-found' : 'left-behind';
  else if (counts.removed) outcome = 'cleaned';
  else outcome = 'clean';
  const finishedAt = clock.now();
  const report: SweepReport = {
    ...base(),
    cluster: {
      ...base().cluster,
      enis: analysis.cluster.enis,
      liveMembers: analysis.cluster.liveMembers,
      sharedKeptBecause: analysis.cluster.sharedKeptBecause ?? null,
    },
    finishedAt: new Date(finishedAt).toISOString(),
    durationMs: finishedAt - startedAt,
    counts,
    candidates,
    left,
    calls: { ...counter },
    outcome,
  };
  const fields = { ...log, outcome, ...counts, durationMs: report.durationMs, calls: report.calls };
  if (left.length) logger.warn(`sweep ${opts.region}: ${outcome}, ${left.length} orphan(s) left`, fields);
  else logger.info(`sweep ${opts.region}: ${outcome}`, fields);
  return report;
}

function resultOf(
  c: Candidate,
  mode: SweepMode,
  ids: string[],
  records: Map<string, ActionRecord>,
  noLongerOrphan: (id: string) => boolean,
): CandidateResult {
  if (c.verdict !== 'orphan') return 'kept';
  if (mode === 'report') return 'reported';
  if (!ids.length) return 'left';
  const outcomes = ids.map((id) => ({ id, outcome: records.get(id)?.outcome }));
  if (outcomes.every((o) => o.outcome && REMOVED.has(o.outcome))) return 'removed';
  const bad = outcomes.filter((o) => !o.outcome || !REMOVED.has(o.outcome));
  if (bad.every((o) => noLongerOrphan(o.id))) return 'no-longer-orphan';
  return 'left';
}

/** The fresh re-check before one mutating call (see lib/sweeper/orphan-plan.ts recheck*). */
async function recheck(
  ctx: CallContext,
  a: PlannedAction,
  owner: string,
  facts: OrphanFacts,
  removedEnis: ReadonlySet<string>,
): Promise<PreflightVerdict | undefined> {
  switch (a.kind) {
    case 'eni':
    case 'eip-association':
    case 'eip':
      return recheckEni(await describeEni(ctx, owner), facts);
    case 'vpc-cidr': {
      const shared = recheckShared(await describeClusterEnis(ctx), removedEnis);
      if (shared || a.params.action !== 'DisassociateVpcCidrBlock') return shared;
      return recheckCidr(await describeCidrState(ctx, a.params.vpcId, a.params.associationId));
    }
    default:
      return recheckShared(await describeClusterEnis(ctx), removedEnis);
  }
}

async function saveGraceClock(
  store: FirstSeenStore,
  region: string,
  candidates: Candidate[],
  clock: Record<string, number>,
): Promise<void> {
  const kinds = new Map(candidates.map((c) => [c.resource, c.kind]));
  const records: Record<string, { kind: string; firstSeenMs: number }> = {};
  for (const [id, ms] of Object.entries(clock))
    records[id] = { kind: kinds.get(id) ?? 'unknown', firstSeenMs: ms };
  await store.save(region, records);
}

// ---------------------------------------------------------------- every region, and the schedule

export interface RegionSweepDeps extends Omit<SweepDeps, 'ec2'> {
  /** The EC2 client of a region (built once per region by the caller). */
  ec2For(region: string): EC2Client;
  /** Writes one report; default: writeSweepReport into config.reports.dir. */
  writeReport?(report: SweepReport): Promise<string>;
}

export interface RegionSweepOptions extends Omit<SweepOptions, 'region'> {
  regions: string[];
}

export interface RegionSweepResult {
  report: SweepReport;
  /** Where the report was written. */
  path?: string;
  writeError?: string;
}

/** Sweeps the regions one after the other (one region's failure does not stop the others). */
export async function sweepRegions(
  deps: RegionSweepDeps,
  opts: RegionSweepOptions,
): Promise<RegionSweepResult[]> {
  const out: RegionSweepResult[] = [];
  const write = deps.writeReport ?? ((r: SweepReport) => writeSweepReport(deps.config.reports.dir, r));
  for (const region of opts.regions) {
    if (opts.signal?.aborted) break;
    const report = await sweepOnce({ ...deps, ec2: deps.ec2For(region) }, { ...opts, region });
    try {
      out.push({ report, path: await write(report) });
    } catch (err) {
      const writeError = `could not write the sweep report to ${deps.config.reports.dir}: ${(err as Error).message}`;
      deps.logger.error(writeError, { stage: 'sweep', region, instanceId: opts.sweeperInstanceId });
      out.push({ report, writeError });
    }
  }
  return out;
}

/** The regions to sweep: sweeper.regions, or the host's own region when that list is empty. */
export function sweepRegionList(config: Config, ownRegion: string): string[] {
  return config.sweeper.regions.length ? [...new Set(config.sweeper.regions)] : [ownRegion];
}

export interface SweeperServiceDeps extends RegionSweepDeps {
  regions: string[];
  mode: SweepMode;
  memberInstanceId?: string;
  sweeperInstanceId?: string;
  cron?: CronApi;
  /** Runs before each scheduled sweep (the daemon re-marks its own ENIs). */
  beforeSweep?: (signal: AbortSignal) => Promise<void>;
  /** Runs after each scheduled sweep (the daemon sweeps the per-host queues of gone hosts, lib/sweeper/queue-sweep.ts). */
  afterSweep?: (signal: AbortSignal) => Promise<void>;
  onSweep?: (results: RegionSweepResult[]) => void;
}

export interface RunningSweeper {
  /** Ends the schedule promptly: a pending jitter delay is cancelled, a running sweep aborted. */
  stop(): Promise<void>;
  /** One sweep now, outside the schedule (no jitter); skipped when one is already running. */
  sweepNow(): Promise<'ran' | 'failed' | 'overlap' | 'stopped'>;
}

/** The sweeper on its node-cron schedule (sweeper.schedule, jitter sweeper.jitterMs). */
export function startSweeper(deps: SweeperServiceDeps): RunningSweeper {
  const { config, logger } = deps;
  const run = async (signal: AbortSignal) => {
    await deps.beforeSweep?.(signal);
    const results = await sweepRegions(deps, {
      regions: deps.regions,
      mode: deps.mode,
      memberInstanceId: deps.memberInstanceId,
      sweeperInstanceId: deps.sweeperInstanceId,
      signal,
    });
    for (const r of results) {
      logger.debug(summarizeSweep(r.report), { stage: 'sweep', region: r.report.region, path: r.path });
    }
    await deps.afterSweep?.(signal);
    deps.onSweep?.(results);
  };
  const schedule = new JitteredSchedule({
    name: 'sweep',
    expression: config.sweeper.schedule,
    field: 'sweeper.schedule',
    jitterMs: config.sweeper.jitterMs,
    clock: deps.clock,
    logger,
    random: deps.random,
    cron: deps.cron,
    run,
  });
  schedule.start();
  return {
    stop: () => schedule.stop(),
    sweepNow: () => schedule.tick({ jitter: false }),
  };
}
