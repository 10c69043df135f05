import { manualCommand } from '../execute/teardown';
import { ActionRecord } from '../report/report';
import { REMOVED } from './apply';
import { OrphanPlan } from './orphan-plan';
import { Candidate, OrphanAnalysis } from './orphans';
import {
  CandidateResult,
  SweepActionRecord,
  SweepCandidate,
  SweepLeftOver,
  SweepMode,
  SweepOutcome,
  SweepReport,
} from './report';

/**
 * What came of one sweep, per candidate (lib/sweeper/report.ts says what each result means): its
 * verdict, evidence, actions and their outcomes, what is left with the commands to remove it by hand,
 * the counts and the sweep's outcome.
 */

export type SweepResults = Pick<SweepReport, 'candidates' | 'left' | 'counts' | 'outcome'>;

export function sweepResults(
  analysis: OrphanAnalysis,
  { plan, actionsOf }: OrphanPlan,
  mode: SweepMode,
  records: ActionRecord[],
  preflightSkipped: ReadonlySet<string>,
): SweepResults {
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
      if (mode === 'apply' && r) {
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
    return { ...c, result: resultOf(c, mode, ids, recordById, noLongerOrphan), actions };
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
    orphan: candidates.filter((c) => c.verdict === 'orphan').length,
    'in-use': candidates.filter((c) => c.verdict === 'in-use').length,
    uncertain: candidates.filter((c) => c.verdict === 'uncertain').length,
    removed: candidates.filter((c) => c.result === 'removed').length,
    left: left.length,
  };
  let outcome: SweepOutcome;
  if (left.length) outcome = mode === 'report' ? 'orphans-found' : 'left-behind';
  else if (counts.removed) outcome = 'cleaned';
  else outcome = 'clean';
  return { candidates, left, counts, outcome };
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
