import type { EC2Client } from '@aws-sdk/client-ec2';
import { errorCodeOf } from '../aws/errors';
import { Clock } from '../clock';
import { cloudInstanceOf, Config } from '../config/schema';
import { loxilbTagValues } from '../discovery/ec2-reads';
import { Logger } from '../log';
import { analyzeOrphans, Candidate, OrphanFacts } from './orphans';
import { buildOrphanPlan } from './orphan-plan';
import { discoverCluster } from '../discovery/sweep';
import { SweepMode, SweepReport, writeSweepReport } from './report';
import { FirstSeenStore } from './state';
import { CallContext, CallCounter } from '../aws/call';
import { TokenBucket } from '../aws/pacer';
import { applyOrphanPlan } from './apply';
import { sweepResults } from './results';

/**
 * The sweeper: finds the loxilb resources of this cluster whose owner is gone and reports them, or —
 * in apply mode — removes them with the engine's executor (bounded concurrency, retries, NotFound =
 * done, the planner's safety check before every call). One pass, in the order sweepOnce runs it:
 * discover (lib/discovery/sweep.ts), judge (./orphans.ts, the grace clock in ./state.ts), plan
 * (./orphan-plan.ts), apply (./apply.ts), the results per candidate (./results.ts), the report.
 *
 *   sweepOnce(deps, opts): Promise<SweepReport>   one region, one pass; never throws for AWS trouble
 *   sweepRegions(deps, opts)                        every region, reports written to reports.dir
 * The daemon sweeps on its schedule in a short-lived child (daemon/sweeper-service.ts).
 *
 * Several sweepers may run at once (every host of a cluster runs one) and must not fight: every
 * action is idempotent (NotFound/already disassociated = done), schedules are jittered, and right
 * before each mutating call the resource is read again (one Describe) and the orphan rule re-applied;
 * one that is no longer an orphan is skipped with the reason. Report mode makes zero mutating calls:
 * it discovers, judges and writes the report, nothing else.
 */

// daemon/ takes the mode's type from here, with the entry points.
export type { SweepMode } from './report';

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
  const orphanPlan = buildOrphanPlan(facts, analysis, config, sweeperId);
  for (const c of analysis.candidates.filter((x) => x.verdict === 'orphan')) {
    logger.info(`orphan ${c.kind} ${c.resource}: ${c.reason}`, {
      ...log,
      resource: c.resource,
      kind: c.kind,
    });
  }

  const applied =
    opts.mode === 'apply' && orphanPlan.plan.actions.some((a) => a.status === 'planned')
      ? await applyOrphanPlan(ctx, orphanPlan, facts, { sweeperId, episode, deadlineAt, signal: opts.signal })
      : { records: [], preflightSkipped: new Set<string>() };
  const { candidates, left, counts, outcome } = sweepResults(
    analysis,
    orphanPlan,
    opts.mode,
    applied.records,
    applied.preflightSkipped,
  );
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
