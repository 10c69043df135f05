import { randomBytes } from 'node:crypto';
import * as nodeFs from 'node:fs/promises';
import { Candidate, CandidateKind, Verdict } from './orphans';
import { ActionName, PlannedStatus } from '../plan/actions';
import { ActionOutcome, ReportFs, writeJsonAtomic } from '../report/report';
import { TagValues } from '../discovery/ec2-reads';

/**
 * The sweep report: one JSON document per region and sweep, in reports.dir as
 * `sweep-<region>-<UTC timestamp>-<4 hex>.json` (the suffix keeps two sweeps of one host apart, e.g.
 * the daemon's and one run by hand in the same millisecond). Every loxilb resource of the cluster is
 * a candidate with its verdict (orphan | in-use | uncertain), the evidence, and what happened to it:
 *   kept              not an orphan (in use or uncertain): never touched
 *   reported          an orphan, report mode: left as is, listed in `left` with the commands to remove it
 *   removed           apply mode: every action ended done or already done
 *   no-longer-orphan  apply mode: the re-check right before the call found it in use again (skipped)
 *   left              apply mode: an action failed, was blocked or was not allowed (safety, stage switch)
 */

/** Report mode changes nothing; apply mode removes the orphans. */
export type SweepMode = 'report' | 'apply';

export type CandidateResult = 'kept' | 'reported' | 'removed' | 'no-longer-orphan' | 'left';

export interface SweepActionRecord {
  id: string;
  action: ActionName;
  resource: string;
  summary: string;
  manualCommand: string;
  /** Report mode: the plan's status (planned | blocked | skipped). */
  status?: PlannedStatus;
  /** Apply mode: how it ended. */
  outcome?: ActionOutcome;
  message?: string;
  errorCode?: string;
  attempts?: number;
  durationMs?: number;
}

export interface SweepCandidate extends Candidate {
  result: CandidateResult;
  actions: SweepActionRecord[];
}

export interface SweepLeftOver {
  resource: string;
  kind: CandidateKind;
  reason: string;
  /** The `aws ec2 …` commands that would remove it, in order. */
  manualCommands: string[];
}

export type SweepOutcome = 'clean' | 'cleaned' | 'orphans-found' | 'left-behind' | 'failed';

export interface SweepReport {
  schemaVersion: 1;
  kind: 'sweep';
  region: string;
  mode: SweepMode;
  /** The sweeping host (when known). */
  sweeperInstanceId: string | null;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  graceMs: number;
  cluster: {
    tagKey: string;
    cloudInstance: string;
    tagValues: TagValues;
    ownerTagKey: string;
    enis: string[];
    liveMembers: string[];
    /** Why the shared resources stay, when they do. */
    sharedKeptBecause: { verdict: Verdict; reason: string } | null;
  };
  counts: Record<Verdict, number> & { removed: number; left: number };
  candidates: SweepCandidate[];
  /** Orphans still there after this sweep. */
  left: SweepLeftOver[];
  calls: { read: number; mutate: number };
  warnings: string[];
  error?: { stage: string; message: string; errorCode?: string };
  outcome: SweepOutcome;
}

/** 0 when nothing orphaned is left, 1 when orphans remain (or could not be removed, or the sweep failed). */
export function sweepExitCode(reports: Pick<SweepReport, 'outcome'>[]): 0 | 1 {
  return reports.some(
    (r) => r.outcome === 'orphans-found' || r.outcome === 'left-behind' || r.outcome === 'failed',
  )
    ? 1
    : 0;
}

export function sweepReportFileName(
  report: Pick<SweepReport, 'region' | 'startedAt'>,
  suffix?: string,
): string {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '_');
  const ts = report.startedAt.replace(/[-:.]/g, '');
  return `sweep-${safe(report.region)}-${ts}-${suffix ?? randomBytes(2).toString('hex')}.json`;
}

/** Atomic (see writeJsonAtomic). Returns the final path. */
export function writeSweepReport(dir: string, report: SweepReport, fs: ReportFs = nodeFs): Promise<string> {
  return writeJsonAtomic(dir, sweepReportFileName(report), report, fs);
}

/** A short human summary (CLI output). */
export function summarizeSweep(report: SweepReport): string {
  const c = report.counts;
  const lines = [
    `sweep ${report.region} (${report.mode}): ${report.outcome} — ${c.orphan} orphan, ${c['in-use']} in use, ${c.uncertain} uncertain` +
      (report.mode === 'apply' ? `, ${c.removed} removed` : '') +
      `; ${report.calls.read} read + ${report.calls.mutate} mutating AWS calls; ${report.durationMs} ms`,
  ];
  for (const cand of report.candidates) {
    if (cand.verdict === 'in-use') continue;
    lines.push(`  ${cand.verdict} ${cand.kind} ${cand.resource} → ${cand.result}: ${cand.reason}`);
  }
  for (const l of report.left) {
    lines.push(`  left: ${l.resource} (${l.kind}) — ${l.reason}`);
    for (const cmd of l.manualCommands) lines.push(`    ${cmd}`);
  }
  for (const w of report.warnings) lines.push(`  warning: ${w}`);
  if (report.error) lines.push(`  error: ${report.error.stage}: ${report.error.message}`);
  return lines.join('\n');
}
