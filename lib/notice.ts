import { z } from 'zod';
import { isoTime } from './report/document-schema';

/**
 * The one event type every source emits. Plain data, so it can be journaled and compared.
 */
export const noticeKinds = [
  'spot-terminate',
  'spot-stop',
  'spot-hibernate',
  'asg-terminate',
  'scheduled-stop',
  'scheduled-retire',
  'scheduled-reboot',
  'state-change',
  'rebalance',
  'manual',
] as const;
export type NoticeKind = (typeof noticeKinds)[number];

export const noticeSources = ['imds', 'sqs', 'shutdown-probe', 'cli'] as const;
export type NoticeSource = (typeof noticeSources)[number];

/** What is needed to heartbeat and complete an Auto Scaling lifecycle action. */
export const LifecycleRefSchema = z.object({
  autoScalingGroupName: z.string(),
  hookName: z.string(),
  /** Absent when the notice came from IMDS: completion then goes by instance id. */
  token: z.string().optional(),
});
export type LifecycleRef = z.infer<typeof LifecycleRefSchema>;

/** Journaled with every episode and copied into its report as `trigger`. */
export const TerminationNoticeSchema = z.object({
  instanceId: z.string().min(1),
  kind: z.enum(noticeKinds),
  /** ISO 8601; when the instance is expected to go away. Null when the source gives none. */
  deadline: isoTime.nullable(),
  source: z.enum(noticeSources),
  /** ISO 8601; when this daemon saw the notice. */
  receivedAt: isoTime,
  /** Source's own id (SQS message id, EventBridge event id, scheduled EventId), for logs and dedupe. */
  sourceId: z.string().optional(),
  lifecycle: LifecycleRefSchema.optional(),
});
export type TerminationNotice = z.infer<typeof TerminationNoticeSchema>;

/**
 * A stop is not the end of the host: it keeps its ENI, and loxilb rebuilds its network when it
 * starts again (config sources.teardownOnStop).
 */
export function isStop(kind: NoticeKind): boolean {
  return kind === 'spot-stop' || kind === 'spot-hibernate' || kind === 'scheduled-stop';
}

/** Kinds after which the instance (and so its loxilb resources' owner) goes away. */
export function isDestructive(kind: NoticeKind): boolean {
  return kind !== 'rebalance' && kind !== 'scheduled-reboot';
}
