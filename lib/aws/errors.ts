/**
 * The one place AWS error codes are classified.
 *  done    – the thing we wanted is already true (NotFound on delete, already disassociated)
 *  retry   – throttling, 5xx, network, eventual consistency; try again with backoff
 *  blocked – a dependency still exists (DependencyViolation, in use); retry later, report if it persists
 *  fatal   – permissions, forbidden operations, bad requests; stop for this resource
 */
export type ErrorClass = 'done' | 'retry' | 'blocked' | 'fatal';

const THROTTLE_CODES = new Set([
  'RequestLimitExceeded',
  'Throttling',
  'ThrottlingException',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  'EC2ThrottledException',
  'SlowDown',
  'PriorRequestNotComplete',
  // SNS
  'Throttled',
  'ThrottledException',
]);

/**
 * A request cut by our own per-attempt timeout (lib/aws/call.ts) or by the SDK handler's backstop:
 * the request may or may not have reached AWS, and every call we make is idempotent, so it is retried.
 */
export const CALL_TIMEOUT = 'CallTimeout';
/** The caller's deadline came first (mid-request, in a backoff or waiting for a pacing token). */
export const DEADLINE_EXCEEDED = 'DeadlineExceeded';

const SERVER_CODES = new Set([
  CALL_TIMEOUT,
  DEADLINE_EXCEEDED,
  'InternalError',
  'InternalFailure',
  'ServerInternal',
  'ServiceUnavailable',
  'Unavailable',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
  'ResourceContention',
  'ResourceContentionFault',
]);

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNABORTED',
]);

const BLOCKED_CODES = new Set([
  'DependencyViolation',
  'InvalidNetworkInterface.InUse',
  'InvalidIPAddress.InUse',
  'InvalidCidrBlock.InUse',
  'IncorrectState',
  'IncorrectInstanceState',
  'InvalidState',
]);

const DONE_CODES = new Set([
  'InvalidAllocationID.NotFound',
  'InvalidAddress.NotFound',
  'InvalidAddressID.NotFound',
  'InvalidAssociationID.NotFound',
  'InvalidAttachmentID.NotFound',
  'InvalidNetworkInterfaceID.NotFound',
  'InvalidSubnetID.NotFound',
  'InvalidSubnetId.NotFound',
  'InvalidRouteTableID.NotFound',
  'InvalidVpcCidrBlockAssociationID.NotFound',
  'InvalidVpcCidrBlockAssociationIdError.NotFound',
]);

/** The AWS error code of an SDK error (its `name`), or the Node network code. */
export function errorCodeOf(err: unknown): string {
  if (err && typeof err === 'object') {
    const e = err as { name?: string; Code?: string; code?: string };
    if (e.code && NETWORK_CODES.has(e.code)) return e.code;
    if (e.Code) return e.Code;
    if (e.name && e.name !== 'Error') return e.name;
    if (e.code) return e.code;
  }
  return 'Unknown';
}

export function httpStatusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

export function classifyAwsError(err: unknown): ErrorClass {
  const code = errorCodeOf(err);
  const message = (err as Error)?.message ?? '';
  if (DONE_CODES.has(code) || /\.NotFound$/.test(code)) return 'done';
  if (THROTTLE_CODES.has(code) || SERVER_CODES.has(code) || NETWORK_CODES.has(code)) return 'retry';
  if (BLOCKED_CODES.has(code)) return 'blocked';
  if (code === 'InvalidParameterValue') {
    if (/currently in use/i.test(message)) return 'blocked';
    if (/are not assigned to interface/i.test(message)) return 'done';
    return 'fatal';
  }
  const status = httpStatusOf(err);
  if (status === 429 || (status !== undefined && status >= 500)) return 'retry';
  if ((err as { $fault?: string })?.$fault === 'server') return 'retry';
  return 'fatal';
}

const DENIED_CODES = new Set([
  'UnauthorizedOperation',
  'AccessDenied',
  'AccessDeniedException',
  'AuthFailure',
  // SNS
  'AuthorizationError',
  'AuthorizationErrorException',
]);

/** IAM (or the credentials) refused the call: only a policy change helps. */
export function isAccessDenied(err: unknown): boolean {
  return DENIED_CODES.has(errorCodeOf(err));
}

/**
 * The endpoint could not be reached, or never answered within aws.callTimeoutMs: every other call
 * to it would fail the same way (`check` says so once instead of once per call).
 */
export function isUnreachable(err: unknown): boolean {
  const code = errorCodeOf(err);
  return (
    NETWORK_CODES.has(code) || code === CALL_TIMEOUT || code === 'TimeoutError' || code === 'RequestTimeout'
  );
}

/**
 * Auto Scaling's ValidationError: something the request names does not exist (or no longer does) —
 * no such group for DescribeLifecycleHooks, the lifecycle action is over for a heartbeat.
 */
export function isAsgValidationError(err: unknown): boolean {
  return errorCodeOf(err) === 'ValidationError';
}

/**
 * CompleteLifecycleAction's "No active Lifecycle Action found": the action is over, or Auto Scaling
 * has not made it visible yet (the propagation race; lib/completion/completion.ts asks the group which).
 */
export function isNoActiveLifecycleAction(err: unknown): boolean {
  return isAsgValidationError(err) && /No active Lifecycle Action found/i.test((err as Error)?.message ?? '');
}

const NO_SUCH_QUEUE_CODES = new Set(['QueueDoesNotExist', 'AWS.SimpleQueueService.NonExistentQueue']);
/** SNS's answer for a topic or subscription that does not exist. */
const SNS_NOT_FOUND_CODES = new Set(['NotFound', 'NotFoundException']);

export function isNoSuchQueue(err: unknown): boolean {
  return NO_SUCH_QUEUE_CODES.has(errorCodeOf(err));
}

/** The topic or subscription does not exist (an Unsubscribe of one already gone is done). */
export function isSnsNotFound(err: unknown): boolean {
  return SNS_NOT_FOUND_CODES.has(errorCodeOf(err));
}

/**
 * CreateQueue of a name whose queue was deleted less than 60 s ago: SQS refuses it until then, and
 * waiting it out is the only way (lib/sources/host-queue.ts does).
 */
export function isQueueDeletedRecently(err: unknown): boolean {
  return /QueueDeletedRecently$/.test(errorCodeOf(err));
}

/** Subscribe of an endpoint already subscribed with other attributes (an earlier filter policy). */
export function isSubscriptionAttributesConflict(err: unknown): boolean {
  return /already exists with different attributes/i.test((err as Error)?.message ?? '');
}

/** The topic holds SNS's quota of filter policies (200 by default). */
export function isFilterPolicyLimitExceeded(err: unknown): boolean {
  return errorCodeOf(err).startsWith('FilterPolicyLimitExceeded');
}

export function isDeadlineExceeded(err: unknown): boolean {
  return errorCodeOf(err) === DEADLINE_EXCEEDED;
}

export function isThrottle(err: unknown): boolean {
  return THROTTLE_CODES.has(errorCodeOf(err)) || httpStatusOf(err) === 429;
}

/** One attempt of `action` got no answer within `timeoutMs`: the request was aborted. */
export class CallTimeoutError extends Error {
  readonly code = CALL_TIMEOUT;
  constructor(
    readonly action: string,
    readonly timeoutMs: number,
  ) {
    super(`${action}: no answer within ${timeoutMs} ms (aws.callTimeoutMs); the request was aborted`);
    this.name = CALL_TIMEOUT;
  }
}

/** `action` was not (or no longer) tried because the caller's deadline came. */
export class DeadlineExceededError extends Error {
  readonly code = DEADLINE_EXCEEDED;
  constructor(
    readonly action: string,
    detail = 'the deadline came before it could finish',
  ) {
    super(`${action}: ${detail}`);
    this.name = DEADLINE_EXCEEDED;
  }
}

/**
 * An error with the context an operator needs: which resource, which call, which stage,
 * and the AWS code. The SDK error is kept as `cause`.
 */
export class TeardownError extends Error {
  readonly errorCode: string;
  constructor(
    message: string,
    readonly context: {
      stage?: string;
      resource?: string;
      action?: string;
      instanceId?: string;
      episode?: string;
    },
    cause?: unknown,
  ) {
    super(message, { cause });
    this.name = 'TeardownError';
    this.errorCode = cause === undefined ? 'Unknown' : errorCodeOf(cause);
  }
}
