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

export type NoticeSource = 'imds' | 'sqs' | 'shutdown-probe' | 'cli';

/** What is needed to heartbeat and complete an Auto Scaling lifecycle action. */
export interface LifecycleRef {
  autoScalingGroupName: string;
  hookName: string;
  /** Absent when the notice came from IMDS: completion then goes by instance id. */
  token?: string;
}

export interface TerminationNotice {
  instanceId: string;
  kind: NoticeKind;
  /** ISO 8601; when the instance is expected to go away. Null when the source gives none. */
  deadline: string | null;
  lifecycle?: LifecycleRef;
  source: NoticeSource;
  /** ISO 8601; when this daemon saw the notice. */
  receivedAt: string;
  /** Source's own id (SQS message id, EventBridge event id, scheduled EventId), for logs and dedupe. */
  sourceId?: string;
}

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
