import { z } from 'zod';
import { scopeValues } from '../config/schema';
import { GateDecisionSchema } from '../gate/decision-schema';
import { TerminationNoticeSchema } from '../notice';
import { STAGE_ORDER } from '../plan/actions';
import { isoTime } from './document-schema';

/**
 * The teardown report, one JSON document per run: what triggered it, what the gate decided and why,
 * every action with its timing and outcome, and what was left behind with the command that would
 * clean it. This schema is the one definition: lib/report/report.ts builds documents of its type,
 * lib/report/source.ts reads them back with it. Keys are in the order the builder writes them, so
 * a report read back and written again (the daemon adds `completion`) keeps its layout.
 */

export const actionOutcomes = [
  'done',
  'already-done',
  'skipped',
  'blocked',
  'failed',
  'deadline',
  'dry-run',
] as const;
export type ActionOutcome = (typeof actionOutcomes)[number];

/**
 * `handover`: a live peer takes over; this host changed nothing on loxilb's resources (the gate names
 * the peer and why).
 */
export const reportOutcomes = [
  'clean',
  'left-behind',
  'nothing-to-do',
  'dry-run',
  'scope-none',
  'handover',
] as const;
export type ReportOutcome = (typeof reportOutcomes)[number];

/** Scopes a report can name: today's, and `instance` from reports written before issue 9. */
export const reportScopes = [...scopeValues, 'instance'] as const;

export const ActionRecordSchema = z.object({
  id: z.string(),
  stage: z.enum(STAGE_ORDER),
  /** AWS action name. */
  action: z.string().min(1),
  /** The id acted on. */
  resource: z.string(),
  kind: z.string(),
  /** ISO 8601. */
  startedAt: isoTime,
  durationMs: z.number().min(0),
  outcome: z.enum(actionOutcomes),
  /** AWS requests made for this action (0 when it never reached AWS). */
  attempts: z.number().int().min(0),
  errorCode: z.string().optional(),
  message: z.string().optional(),
  /** Resource ids that blocked it. */
  blockers: z.array(z.string()).optional(),
  /** What the action is, in one line. */
  summary: z.string(),
  /** Set when the run was aborted before this action could run. */
  aborted: z.boolean().optional(),
});
export type ActionRecord = z.infer<typeof ActionRecordSchema>;

export const LeftBehindSchema = z.object({
  resource: z.string(),
  /** A resource kind, or `inventory` when discovery itself failed. */
  kind: z.string(),
  reason: z.string(),
  errorCode: z.string().optional(),
  /** The `aws ec2 …` command that would clean it. */
  manualCommand: z.string(),
});
export type LeftBehind = z.infer<typeof LeftBehindSchema>;

export const TeardownReportSchema = z.object({
  schemaVersion: z.literal(1),
  episode: z.string().min(1),
  instanceId: z.string().min(1),
  /** ISO 8601 */
  startedAt: isoTime,
  finishedAt: isoTime,
  durationMs: z.number().min(0),
  dryRun: z.boolean(),
  gate: GateDecisionSchema.extend({ scope: z.enum(reportScopes) }),
  /** The scope the run used (= gate.scope). */
  scope: z.enum(reportScopes),
  actions: z.array(ActionRecordSchema),
  leftBehind: z.array(LeftBehindSchema),
  /** loxilb-tagged resources deliberately not touched (another instance's ENI, …), with why. */
  untouched: z.array(z.object({ resource: z.string(), kind: z.string(), reason: z.string() })),
  warnings: z.array(z.string()),
  /** AWS requests made: reads (Describe*) and mutations. */
  calls: z.object({ read: z.number().int().min(0), mutate: z.number().int().min(0) }),
  outcome: z.enum(reportOutcomes),
  trigger: TerminationNoticeSchema.optional(),
  /** ISO 8601; when the executor stopped starting work (trigger deadline minus the reserve). */
  deadlineAt: isoTime.optional(),
  /** Set when discovery itself failed: nothing was changed. */
  error: z.object({ stage: z.string(), message: z.string(), errorCode: z.string().optional() }).optional(),
  /** This run re-examined an earlier `handover` of the same episode: when, why, and what it was. */
  redecided: z.object({ at: isoTime, reason: z.string(), previous: z.unknown().optional() }).optional(),
  /** Filled by the daemon: lifecycle completion, SQS acknowledgement, shipping. */
  completion: z.unknown().optional(),
});
export type TeardownReport = z.infer<typeof TeardownReportSchema>;
