import type { ActionRecord, TeardownReport } from './report-schema';

/**
 * A teardown report as text for a person reading it after the host is gone: what triggered the
 * teardown, what the gate decided and why, what happened stage by stage, what failed and why, and
 * what is left behind with the command to clean it up by hand. Pure: report in, text out.
 */

export interface RenderOptions {
  /** ANSI colour for outcomes; the CLI turns it on only for a TTY without NO_COLOR. */
  color?: boolean;
}

type Paint = (text: string, style: keyof typeof ANSI) => string;

const ANSI = {
  bold: ['\x1b[1m', '\x1b[22m'],
  dim: ['\x1b[2m', '\x1b[22m'],
  red: ['\x1b[31m', '\x1b[39m'],
  green: ['\x1b[32m', '\x1b[39m'],
  yellow: ['\x1b[33m', '\x1b[39m'],
  cyan: ['\x1b[36m', '\x1b[39m'],
} as const;

/** Outcomes where the action did not do what it was for; listed again under "Failed". */
const NOT_DONE = new Set(['failed', 'deadline', 'blocked']);

const REPORT_OUTCOME_TEXT: Record<TeardownReport['outcome'], string> = {
  clean: 'CLEAN: everything this host owned was torn down',
  'left-behind': 'LEFT BEHIND: some resources still exist (see "Left behind")',
  'nothing-to-do': 'NOTHING TO DO: this host owned no loxilb resources',
  'dry-run': 'DRY RUN: nothing was changed',
  'scope-none': 'SCOPE NONE: the gate decided to change nothing',
  handover: "HANDOVER: a live peer takes over; this host changed nothing on loxilb's resources",
};

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '?';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const min = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  return `${min} min ${s} s`;
}

/** `+12.345s` from the start of the teardown. */
function offset(from: number, iso: string): string {
  const t = Date.parse(iso);
  if (!Number.isFinite(t) || !Number.isFinite(from)) return '?';
  const d = (t - from) / 1000;
  return `${d < 0 ? '-' : '+'}${Math.abs(d).toFixed(3)}s`;
}

function outcomeStyle(outcome: string): keyof typeof ANSI {
  if (outcome === 'done' || outcome === 'already-done' || outcome === 'clean' || outcome === 'nothing-to-do')
    return 'green';
  if (outcome === 'failed' || outcome === 'deadline' || outcome === 'left-behind') return 'red';
  if (outcome === 'blocked') return 'yellow';
  return 'cyan';
}

/** Pads columns to a common width; the first row is a header and is never coloured. */
function padTable(rows: string[][], paint: Paint, styleCol: number): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row, r) =>
    row
      .map((cell, i) => {
        const padded = i === row.length - 1 ? cell : cell.padEnd(widths[i]!);
        return i === styleCol && r > 0 ? paint(padded, outcomeStyle(cell)) : padded;
      })
      .join('  ')
      .trimEnd(),
  );
}

/** Stages in the order they ran (by their first action's start), actions by start time. */
function stagesInOrder(actions: ActionRecord[]): Array<{ stage: string; actions: ActionRecord[] }> {
  const byStage = new Map<string, ActionRecord[]>();
  for (const a of actions) {
    const list = byStage.get(a.stage) ?? [];
    list.push(a);
    byStage.set(a.stage, list);
  }
  const time = (a: ActionRecord) => Date.parse(a.startedAt);
  const groups = [...byStage].map(([stage, list]) => ({
    stage,
    actions: [...list].sort((x, y) => time(x) - time(y)),
  }));
  return groups.sort((x, y) => time(x.actions[0]!) - time(y.actions[0]!));
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function renderValue(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

function renderCompletion(completion: unknown, indent: string): string[] {
  if (completion === undefined || completion === null)
    return [
      `${indent}not recorded (completion happens after the report is shipped; a CLI teardown completes nothing)`,
    ];
  const entries = Array.isArray(completion) ? completion : [completion];
  const lines: string[] = [];
  entries.forEach((entry, i) => {
    if (entries.length > 1) lines.push(`${indent}#${i + 1}`);
    const pad = entries.length > 1 ? `${indent}  ` : indent;
    if (entry && typeof entry === 'object') {
      for (const [k, v] of Object.entries(entry as Record<string, unknown>))
        lines.push(`${pad}${k}: ${renderValue(v)}`);
    } else {
      lines.push(`${pad}${renderValue(entry)}`);
    }
  });
  return lines;
}

/**
 * C0/C1 control characters, DEL, and the Unicode line/paragraph separators and bidi controls: a
 * report field holding them (an AWS error message, a tag-derived id, a forged trigger) could move
 * the cursor, recolour or rewrite the operator's terminal, or reorder what the line seems to say.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE_CHARS = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;

const NAMED_ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** `ESC[31m` → `\u001b[31m`: the text stays readable and can no longer act on the terminal. */
export function escapeControl(text: string): string {
  return text.replace(
    UNSAFE_CHARS,
    (c) => NAMED_ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** Every string in the document (keys included) escaped, before any of it reaches the output. */
function escapeDeep<T>(value: T): T {
  if (typeof value === 'string') return escapeControl(value) as T;
  if (Array.isArray(value)) return value.map((v) => escapeDeep(v)) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => [escapeControl(k), escapeDeep(v)]),
    ) as T;
  }
  return value;
}

export function renderReport(untrusted: TeardownReport, options: RenderOptions = {}): string {
  const report = escapeDeep(untrusted);
  const paint: Paint = options.color
    ? (text, style) => `${ANSI[style][0]}${text}${ANSI[style][1]}`
    : (t) => t;
  const start = Date.parse(report.startedAt);
  const out: string[] = [];
  const section = (title: string) => {
    out.push('');
    out.push(paint(title, 'bold'));
  };

  out.push(paint(`teardownd report: ${report.instanceId}, episode ${report.episode}`, 'bold'));
  const t = report.trigger;
  const header: string[][] = [];
  if (t) {
    const deadline = t.deadline
      ? `deadline ${t.deadline} (${offset(start, t.deadline)} from start)`
      : 'no deadline given by the source';
    header.push([
      'Trigger',
      `${t.kind} via ${t.source}${t.sourceId ? ` (${t.sourceId})` : ''}, received ${t.receivedAt}`,
    ]);
    header.push(['', deadline]);
    if (t.lifecycle)
      header.push([
        '',
        `lifecycle hook ${t.lifecycle.hookName} of group ${t.lifecycle.autoScalingGroupName}${t.lifecycle.token ? ' (with token)' : ''}`,
      ]);
  } else {
    header.push(['Trigger', 'none recorded (a manual `teardownd teardown` run)']);
  }
  header.push([
    'Outcome',
    paint(REPORT_OUTCOME_TEXT[report.outcome] ?? report.outcome, outcomeStyle(report.outcome)),
  ]);
  header.push(['Started', report.startedAt]);
  header.push(['Finished', `${report.finishedAt} (took ${formatDuration(report.durationMs)})`]);
  if (report.deadlineAt)
    header.push([
      'Deadline',
      `${report.deadlineAt} (${offset(start, report.deadlineAt)} from start): no new action started after it`,
    ]);
  header.push(['Dry run', report.dryRun ? 'yes: no AWS resource was changed' : 'no']);
  header.push(['AWS calls', `${report.calls.read} read, ${report.calls.mutate} mutating`]);
  if (report.error)
    header.push([
      'Error',
      paint(
        `${report.error.stage} failed${report.error.errorCode ? ` [${report.error.errorCode}]` : ''}: ${report.error.message}`,
        'red',
      ),
    ]);
  const counts = new Map<string, number>();
  for (const a of report.actions) counts.set(a.outcome, (counts.get(a.outcome) ?? 0) + 1);
  header.push([
    'Actions',
    report.actions.length === 0
      ? 'none'
      : `${report.actions.length}: ${[...counts].map(([o, n]) => `${n} ${o}`).join(', ')}`,
  ]);
  for (const [label, value] of header) out.push(`  ${(label ? `${label}:` : '').padEnd(11)} ${value}`);

  section('Gate decision');
  out.push(`  scope ${paint(report.gate.scope, 'bold')} (decided by ${report.gate.source})`);
  out.push(`  why: ${report.gate.reason}`);
  const observation = report.gate.observation;
  if (observation) {
    out.push(
      `  loxilb observed: ${observation.observedAt} (${observation.live ? 'read live' : `last observation, ${formatDuration(observation.ageMs)} old`})`,
    );
  }
  for (const p of report.gate.peers ?? []) {
    const name = [p.ip, p.instanceId].filter(Boolean).join(' ');
    out.push(`  peer ${name || '?'}: ${p.alive ? 'can take over' : 'cannot take over'} — ${p.why}`);
  }
  const redecided = report.redecided;
  if (redecided?.reason) out.push(`  re-decided at ${redecided.at}: ${redecided.reason}`);
  for (const [k, v] of Object.entries(report.gate.details ?? {})) out.push(`    ${k}: ${renderValue(v)}`);

  section('Timeline');
  if (report.actions.length === 0) out.push('  no actions');
  else {
    // One table for every stage, so columns line up down the whole timeline.
    const groups = stagesInOrder(report.actions);
    const header = ['offset', 'action', 'resource', 'outcome', 'took', 'attempts', 'error'];
    const rows = [
      header,
      ...groups.flatMap(({ actions }) =>
        actions.map((a) => [
          offset(start, a.startedAt),
          a.action,
          a.resource,
          a.outcome,
          formatDuration(a.durationMs),
          String(a.attempts),
          a.errorCode ?? '',
        ]),
      ),
    ];
    const lines = padTable(rows, paint, 3);
    out.push(`    ${paint(lines[0]!, 'dim')}`);
    let i = 1;
    for (const { stage, actions } of groups) {
      out.push(`  ${paint(stage, 'bold')}`);
      for (let k = 0; k < actions.length; k += 1) out.push(`    ${lines[i++]}`);
    }
  }

  const notDone = report.actions.filter((a) => NOT_DONE.has(a.outcome));
  section(`Failed or blocked (${notDone.length})`);
  if (notDone.length === 0) out.push('  nothing failed');
  for (const a of notDone) {
    out.push(
      `  ${paint(a.outcome.toUpperCase(), outcomeStyle(a.outcome))} ${a.stage} ${a.action} ${a.resource}` +
        `${a.errorCode ? ` [${a.errorCode}]` : ''} after ${plural(a.attempts, 'attempt')}`,
    );
    if (a.summary) out.push(`    what: ${a.summary}`);
    out.push(
      `    why: ${a.message ?? (a.aborted ? 'the run stopped before this action' : '(no message recorded)')}`,
    );
    if (a.blockers?.length) out.push(`    blocked by: ${a.blockers.join(', ')}`);
  }

  section(`Left behind (${report.leftBehind.length})`);
  if (report.leftBehind.length === 0) out.push('  nothing: no manual clean-up needed');
  for (const item of report.leftBehind) {
    out.push(`  ${item.kind} ${paint(item.resource, 'bold')}${item.errorCode ? ` [${item.errorCode}]` : ''}`);
    out.push(`    why: ${item.reason}`);
    out.push(`    clean up by hand: ${paint(item.manualCommand, 'cyan')}`);
  }

  section(`Not touched on purpose (${report.untouched.length})`);
  if (report.untouched.length === 0) out.push('  nothing');
  for (const u of report.untouched) out.push(`  ${u.kind} ${u.resource}: ${u.reason}`);

  if (report.warnings.length) {
    section(`Warnings (${report.warnings.length})`);
    for (const w of report.warnings) out.push(`  ${paint(w, 'yellow')}`);
  }

  section('Lifecycle completion');
  out.push(...renderCompletion(report.completion, '  '));
  return out.join('\n') + '\n';
}
