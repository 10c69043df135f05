import { randomBytes } from 'node:crypto';
import * as nodeFs from 'node:fs/promises';
import { join } from 'node:path';
import { GateDecision } from '../gate/gate';
import { TerminationNotice } from '../notice';
import { Plan, PlannedAction } from '../plan/actions';
import { escapeControl } from './render';
import { manualCommand } from '../execute/teardown';
import type { ActionOutcome, ActionRecord, LeftBehind, ReportOutcome, TeardownReport } from './report-schema';

/**
 * Builds and writes the teardown report (its one definition, a zod schema with the types derived, is
 * ./report-schema.ts; ./source.ts reads it back). An operator reads it after the host is gone (the
 * daemon also ships it to S3 / CloudWatch Logs).
 */

export type { ActionOutcome, ActionRecord, LeftBehind, ReportOutcome, TeardownReport };

const LEFT_OUTCOMES = new Set<ActionOutcome>(['blocked', 'failed', 'deadline']);

/** Skipped because a safety rule (planner or executor re-check) or a disabled stage refused it. */
export function isRefused(r: ActionRecord): boolean {
  return r.outcome === 'skipped' && !r.aborted && /^(safety:|stage disabled)/.test(r.message ?? '');
}

/**
 * What is still standing, by construction from the action outcomes (no final read: every loxilb
 * resource in scope has an action in the plan — or is blocked with its reason — so "every action ended
 * done or already-done" is "everything in scope is gone"). A refused action counts: one the safety
 * rules or a disabled stage skipped (e.g. `cloud.cidrBlock` naming the VPC's primary CIDR) leaves its
 * resource behind. Actions a scope skips on purpose (`none`: observe only) are not "behind".
 */
export function leftBehindOf(actions: ActionRecord[], plan: Plan | undefined): LeftBehind[] {
  const planned = new Map<string, PlannedAction>((plan?.actions ?? []).map((a) => [a.id, a]));
  const out: LeftBehind[] = [];
  for (const r of actions) {
    const refusal = isRefused(r);
    if (!LEFT_OUTCOMES.has(r.outcome) && !r.aborted && !refusal) continue;
    const p = planned.get(r.id);
    const how = refusal ? 'refused' : r.outcome;
    out.push({
      resource: r.resource,
      kind: r.kind,
      reason: `${r.action} ${how}${r.message ? `: ${r.message}` : ''}`,
      errorCode: r.errorCode,
      manualCommand: p ? manualCommand(p.params) : `# ${r.action} ${r.resource}`,
    });
  }
  return out;
}

export interface BuildReportInput {
  episode: string;
  instanceId: string;
  trigger?: TerminationNotice;
  startedAt: number;
  finishedAt: number;
  dryRun: boolean;
  gate: GateDecision;
  deadlineAt?: number;
  plan?: Plan;
  actions: ActionRecord[];
  calls: { read: number; mutate: number };
  warnings?: string[];
  error?: TeardownReport['error'];
  /** Extra left-behind entries (e.g. when discovery failed). */
  leftBehind?: LeftBehind[];
  redecided?: TeardownReport['redecided'];
}

export function buildReport(input: BuildReportInput): TeardownReport {
  const leftBehind = [...(input.leftBehind ?? []), ...leftBehindOf(input.actions, input.plan)];
  const scope = input.gate.scope;
  let outcome: ReportOutcome;
  if (input.dryRun) outcome = 'dry-run';
  else if (leftBehind.length > 0) outcome = 'left-behind';
  else if (scope === 'none') outcome = 'scope-none';
  else if (scope === 'handover') outcome = 'handover';
  else if (!input.actions.some((a) => a.outcome === 'done' || a.outcome === 'already-done'))
    outcome = 'nothing-to-do';
  else outcome = 'clean';
  const report: TeardownReport = {
    schemaVersion: 1,
    episode: input.episode,
    instanceId: input.instanceId,
    startedAt: new Date(input.startedAt).toISOString(),
    finishedAt: new Date(input.finishedAt).toISOString(),
    durationMs: input.finishedAt - input.startedAt,
    dryRun: input.dryRun,
    gate: input.gate,
    scope,
    actions: input.actions,
    leftBehind,
    untouched: input.plan?.untouched ?? [],
    warnings: [...new Set([...(input.plan?.warnings ?? []), ...(input.warnings ?? [])])],
    calls: input.calls,
    outcome,
  };
  if (input.trigger) report.trigger = input.trigger;
  if (input.deadlineAt !== undefined) report.deadlineAt = new Date(input.deadlineAt).toISOString();
  if (input.error) report.error = input.error;
  if (input.redecided) report.redecided = input.redecided;
  return report;
}

/** 0 when nothing was left behind, 1 otherwise (the CLI's exit code). */
export function reportExitCode(report: TeardownReport): 0 | 1 {
  return report.outcome === 'left-behind' ? 1 : 0;
}

export function reportFileName(report: Pick<TeardownReport, 'instanceId' | 'episode'>): string {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '_');
  return `${safe(report.instanceId)}-${safe(report.episode)}.json`;
}

export interface ReportFs {
  mkdir(path: string, opts: { recursive: true; mode: number }): Promise<unknown>;
  writeFile(path: string, data: string, opts: { mode: number }): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  rm?(path: string, opts: { force: true }): Promise<void>;
}

/** Writes JSON atomically: a temp file in the same directory, then a rename. Returns the final path. */
export async function writeJsonAtomic(
  dir: string,
  fileName: string,
  value: unknown,
  fs: ReportFs = nodeFs,
): Promise<string> {
  // 0750 explicitly: under umask 000 the default would be a world-writable reports dir.
  await fs.mkdir(dir, { recursive: true, mode: 0o750 });
  const path = join(dir, fileName);
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await fs.writeFile(tmp, JSON.stringify(value, null, 2) + '\n', { mode: 0o640 });
    await fs.rename(tmp, path);
  } catch (err) {
    await fs.rm?.(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
  return path;
}

/** Atomic (see writeJsonAtomic). Returns the final path. */
export function writeReport(dir: string, report: TeardownReport, fs: ReportFs = nodeFs): Promise<string> {
  return writeJsonAtomic(dir, reportFileName(report), report, fs);
}

/** A short human summary (CLI output). */
export function summarizeReport(report: TeardownReport): string {
  const counts = new Map<ActionOutcome, number>();
  for (const a of report.actions) counts.set(a.outcome, (counts.get(a.outcome) ?? 0) + 1);
  const parts = [...counts].map(([k, v]) => `${v} ${k}`);
  const lines = [
    `teardown ${report.outcome}: instance ${report.instanceId}, scope ${report.scope} (${report.gate.source}: ${report.gate.reason})`,
    `  actions: ${parts.length ? parts.join(', ') : 'none'}; ${report.calls.read} read + ${report.calls.mutate} mutating AWS calls; ${report.durationMs} ms`,
  ];
  for (const p of report.gate.peers ?? [])
    lines.push(
      `  peer ${[p.ip, p.instanceId].filter(Boolean).join(' ')}: ${p.alive ? 'can take over' : 'cannot take over'} — ${p.why}`,
    );
  if (report.gate.observation && !report.gate.observation.live)
    lines.push(
      `  decided from loxilb's last observation (${report.gate.observation.observedAt}, ${Math.round(report.gate.observation.ageMs / 1000)} s old)`,
    );
  for (const l of report.leftBehind)
    lines.push(`  left behind: ${l.resource} (${l.kind}) — ${l.reason}\n    ${l.manualCommand}`);
  for (const w of report.warnings) lines.push(`  warning: ${w}`);
  if (report.error) lines.push(`  error: ${report.error.stage}: ${report.error.message}`);
  // Each line's fields may carry AWS error text: no control character reaches the terminal.
  return lines.map((l) => l.split('\n').map(escapeControl).join('\n')).join('\n');
}
