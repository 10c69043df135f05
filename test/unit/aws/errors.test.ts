import {
  CallTimeoutError,
  classifyAwsError,
  DeadlineExceededError,
  errorCodeOf,
  httpStatusOf,
  isAccessDenied,
  isAsgValidationError,
  isDeadlineExceeded,
  isFilterPolicyLimitExceeded,
  isNoActiveLifecycleAction,
  isNoSuchQueue,
  isQueueDeletedRecently,
  isSnsNotFound,
  isSubscriptionAttributesConflict,
  isThrottle,
  isUnreachable,
  TeardownError,
} from '../../../lib/aws/errors';

/** An SDK-shaped service error: `name` is the AWS code, `$metadata.httpStatusCode` the status. */
function sdkError(name: string, status = 400, message = `${name} happened`, fault?: 'client' | 'server') {
  return Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status }, $fault: fault });
}

describe('lib/aws/errors.ts: the one classifier', () => {
  it.each([
    ['RequestLimitExceeded', 503],
    ['Throttling', 400],
    ['ThrottlingException', 400],
    ['SlowDown', 503],
    ['InternalError', 500],
    ['ServiceUnavailable', 503],
    ['Unavailable', 503],
    ['RequestTimeout', 408],
    ['TimeoutError', 0],
  ])('%s is retried', (code, status) => {
    expect(classifyAwsError(sdkError(code, status))).toBe('retry');
  });

  it('network errors are retried, by their Node code even when the name says otherwise', () => {
    for (const code of ['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN']) {
      const err = Object.assign(new Error('socket'), { code, name: 'Error' });
      expect([code, classifyAwsError(err)]).toEqual([code, 'retry']);
      expect(errorCodeOf(err)).toBe(code);
    }
  });

  it('our own per-call timeout is retried; the deadline error is retryable in kind but recognisable', () => {
    expect(classifyAwsError(new CallTimeoutError('DetachNetworkInterface', 1000))).toBe('retry');
    expect(errorCodeOf(new CallTimeoutError('DetachNetworkInterface', 1000))).toBe('CallTimeout');
    const deadline = new DeadlineExceededError('DeleteSubnet');
    expect(errorCodeOf(deadline)).toBe('DeadlineExceeded');
    expect(isDeadlineExceeded(deadline)).toBe(true);
    expect(isDeadlineExceeded(new CallTimeoutError('x', 1))).toBe(false);
  });

  it('an unknown code is retried by its 5xx/429 status or server fault, else fatal', () => {
    expect(classifyAwsError(sdkError('SomethingNew', 502))).toBe('retry');
    expect(classifyAwsError(sdkError('SomethingNew', 429))).toBe('retry');
    expect(classifyAwsError(sdkError('SomethingNew', 400, 'x', 'server'))).toBe('retry');
    expect(classifyAwsError(sdkError('SomethingNew', 400))).toBe('fatal');
  });

  it('"not found" on what we remove means done; dependencies still present mean blocked', () => {
    expect(classifyAwsError(sdkError('InvalidNetworkInterfaceID.NotFound'))).toBe('done');
    expect(classifyAwsError(sdkError('InvalidSomethingNew.NotFound'))).toBe('done');
    expect(classifyAwsError(sdkError('DependencyViolation'))).toBe('blocked');
    expect(classifyAwsError(sdkError('InvalidNetworkInterface.InUse'))).toBe('blocked');
    expect(
      classifyAwsError(sdkError('InvalidParameterValue', 400, 'Network interface is currently in use')),
    ).toBe('blocked');
    expect(
      classifyAwsError(
        sdkError('InvalidParameterValue', 400, 'Some addresses are not assigned to interface'),
      ),
    ).toBe('done');
    expect(classifyAwsError(sdkError('InvalidParameterValue', 400, 'bad filter'))).toBe('fatal');
  });

  it('permissions, bad requests and a caller abort are fatal (never retried)', () => {
    expect(classifyAwsError(sdkError('UnauthorizedOperation', 403))).toBe('fatal');
    expect(classifyAwsError(sdkError('AccessDenied', 403))).toBe('fatal');
    expect(classifyAwsError(Object.assign(new Error('Request aborted'), { name: 'AbortError' }))).toBe(
      'fatal',
    );
  });

  it('isThrottle knows the codes and HTTP 429', () => {
    expect(isThrottle(sdkError('RequestLimitExceeded', 503))).toBe(true);
    expect(isThrottle(sdkError('Whatever', 429))).toBe(true);
    expect(isThrottle(sdkError('InternalError', 500))).toBe(false);
  });

  it('denied, unreachable and no-such-queue, for check to say what to fix', () => {
    expect(isAccessDenied(sdkError('UnauthorizedOperation', 403))).toBe(true);
    expect(isAccessDenied(sdkError('AccessDeniedException', 400))).toBe(true);
    expect(isAccessDenied(sdkError('Throttling', 400))).toBe(false);
    expect(isUnreachable(Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isUnreachable(new CallTimeoutError('DescribeInstances', 100))).toBe(true);
    expect(isUnreachable(sdkError('InternalError', 500))).toBe(false);
    expect(isNoSuchQueue(sdkError('AWS.SimpleQueueService.NonExistentQueue'))).toBe(true);
    expect(isNoSuchQueue(sdkError('QueueDoesNotExist'))).toBe(true);
    expect(isNoSuchQueue(sdkError('AccessDenied', 403))).toBe(false);
    expect(
      isNoActiveLifecycleAction(
        sdkError('ValidationError', 400, 'No active Lifecycle Action found with instance ID i-1'),
      ),
    ).toBe(true);
    expect(isNoActiveLifecycleAction(sdkError('ValidationError', 400, 'Group web not found'))).toBe(false);
  });

  it("Auto Scaling's ValidationError (no such group, the action is over) is recognised in one place", () => {
    expect(isAsgValidationError(sdkError('ValidationError', 400, 'Group web not found'))).toBe(true);
    expect(isAsgValidationError(sdkError('ValidationError', 400, 'No active Lifecycle Action found'))).toBe(
      true,
    );
    expect(isAsgValidationError(sdkError('AccessDenied', 403))).toBe(false);
    expect(isAsgValidationError(sdkError('Throttling', 400))).toBe(false);
  });

  it('the per-host queue codes: SNS throttling retried, SNS denial and not-found recognised, SQS refusals surface', () => {
    expect(classifyAwsError(sdkError('ThrottledException', 400))).toBe('retry');
    expect(isThrottle(sdkError('Throttled', 400))).toBe(true);
    expect(isAccessDenied(sdkError('AuthorizationErrorException', 403))).toBe(true);
    expect(isAccessDenied({ Code: 'AuthorizationError' })).toBe(true);
    expect(isSnsNotFound(sdkError('NotFoundException', 404))).toBe(true);
    expect(isSnsNotFound({ Code: 'NotFound' })).toBe(true);
    expect(isSnsNotFound(sdkError('QueueDoesNotExist'))).toBe(false);
    // Refused for 60 s after a deletion: never retried by the call path, HostQueue waits it out.
    const deletedRecently = {
      Code: 'AWS.SimpleQueueService.QueueDeletedRecently',
      name: 'QueueDeletedRecently',
    };
    expect(isQueueDeletedRecently(deletedRecently)).toBe(true);
    expect(isQueueDeletedRecently(sdkError('QueueDeletedRecently'))).toBe(true);
    expect(classifyAwsError(deletedRecently)).toBe('fatal');
    expect(isQueueDeletedRecently(sdkError('QueueAlreadyExists'))).toBe(false);
    expect(
      isSubscriptionAttributesConflict(
        sdkError('InvalidParameterException', 400, 'Subscription already exists with different attributes'),
      ),
    ).toBe(true);
    expect(isSubscriptionAttributesConflict(sdkError('InvalidParameterException', 400, 'Bad filter'))).toBe(
      false,
    );
    expect(isFilterPolicyLimitExceeded(sdkError('FilterPolicyLimitExceededException', 403))).toBe(true);
    expect(isFilterPolicyLimitExceeded(sdkError('SubscriptionLimitExceeded', 403))).toBe(false);
  });

  it('errorCodeOf: the SDK name, a Query-protocol Code, or Unknown', () => {
    expect(errorCodeOf(sdkError('DependencyViolation'))).toBe('DependencyViolation');
    expect(errorCodeOf({ Code: 'InvalidSubnetID.NotFound' })).toBe('InvalidSubnetID.NotFound');
    expect(errorCodeOf(new Error('plain'))).toBe('Unknown');
    expect(errorCodeOf(undefined)).toBe('Unknown');
  });

  it('TeardownError keeps the context, the AWS code and the SDK error as cause', () => {
    const cause = sdkError('UnauthorizedOperation', 403);
    const err = new TeardownError('cannot delete', { stage: 'subnet', resource: 'subnet-1' }, cause);
    expect(err).toMatchObject({ errorCode: 'UnauthorizedOperation', context: { resource: 'subnet-1' } });
    expect(err.cause).toBe(cause);
  });
  describe('every code the classifier names, in its class', () => {
    it.each([
      // Throttling (EC2, Auto Scaling, SQS, S3, CloudWatch Logs, SNS).
      ...[
        'RequestLimitExceeded',
        'Throttling',
        'ThrottlingException',
        'RequestThrottled',
        'RequestThrottledException',
        'TooManyRequestsException',
        'EC2ThrottledException',
        'SlowDown',
        'PriorRequestNotComplete',
        'Throttled',
        'ThrottledException',
      ].map((code) => [code, 'retry']),
      // Server side, timeouts, contention.
      ...[
        'CallTimeout',
        'DeadlineExceeded',
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
      ].map((code) => [code, 'retry']),
      // A dependency still there.
      ...[
        'DependencyViolation',
        'InvalidNetworkInterface.InUse',
        'InvalidIPAddress.InUse',
        'InvalidCidrBlock.InUse',
        'IncorrectState',
        'IncorrectInstanceState',
        'InvalidState',
      ].map((code) => [code, 'blocked']),
      // What we remove is already gone.
      ...[
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
      ].map((code) => [code, 'done']),
      // Only a person can fix these.
      ...[
        'UnauthorizedOperation',
        'AccessDenied',
        'AuthFailure',
        'OperationNotPermitted',
        'InvalidParameter',
      ].map((code) => [code, 'fatal']),
    ])('%s → %s (HTTP 400)', (code, errorClass) => {
      expect(classifyAwsError(sdkError(code, 400))).toBe(errorClass);
    });

    it.each([
      'ECONNRESET',
      'ECONNREFUSED',
      'EPIPE',
      'ETIMEDOUT',
      'EHOSTUNREACH',
      'ENETUNREACH',
      'ENOTFOUND',
      'EAI_AGAIN',
      'ECONNABORTED',
    ])('the network code %s is retried and unreachable', (code) => {
      const err = Object.assign(new Error('socket'), { code });
      expect(classifyAwsError(err)).toBe('retry');
      expect(isUnreachable(err)).toBe(true);
    });
  });

  it('a code decides before the status: NotFound under a 5xx is done, a dependency under a 5xx blocked, InvalidParameterValue under a 5xx by its message', () => {
    expect(classifyAwsError(sdkError('InvalidSubnetID.NotFound', 503))).toBe('done');
    expect(classifyAwsError(sdkError('DependencyViolation', 500))).toBe('blocked');
    expect(classifyAwsError(sdkError('InvalidParameterValue', 500, 'bad filter'))).toBe('fatal');
  });

  it('errorCodeOf: a Node code that is not a network code counts only when there is no better name', () => {
    expect(errorCodeOf(Object.assign(new Error('x'), { code: 'ERR_INVALID_URL' }))).toBe('ERR_INVALID_URL');
    expect(errorCodeOf(Object.assign(new Error('x'), { name: 'TypeError', code: 'ERR_INVALID_URL' }))).toBe(
      'TypeError',
    );
    // A Query-protocol Code wins over the SDK name.
    expect(errorCodeOf({ Code: 'InvalidSubnetID.NotFound', name: 'ServiceException' })).toBe(
      'InvalidSubnetID.NotFound',
    );
    expect(errorCodeOf('a string')).toBe('Unknown');
    expect(classifyAwsError(undefined)).toBe('fatal');
  });

  it('httpStatusOf reads the SDK metadata, undefined without it', () => {
    expect(httpStatusOf(sdkError('X', 503))).toBe(503);
    expect(httpStatusOf(new Error('plain'))).toBeUndefined();
    expect(httpStatusOf(undefined)).toBeUndefined();
  });

  it('isUnreachable: the SDK and HTTP timeouts too; a DeadlineExceeded is not the endpoint', () => {
    expect(isUnreachable(sdkError('TimeoutError', 0))).toBe(true);
    expect(isUnreachable(sdkError('RequestTimeout', 408))).toBe(true);
    expect(isUnreachable(new DeadlineExceededError('DescribeInstances'))).toBe(false);
    expect(isUnreachable(sdkError('UnauthorizedOperation', 403))).toBe(false);
  });

  it('TeardownError without a cause has the code Unknown; the deadline and call-timeout errors say what and why', () => {
    const err = new TeardownError('nothing to blame', { stage: 'eni' });
    expect(err).toMatchObject({ name: 'TeardownError', errorCode: 'Unknown', context: { stage: 'eni' } });
    expect(err.cause).toBeUndefined();
    expect(new CallTimeoutError('DescribeVpcs', 250)).toMatchObject({
      name: 'CallTimeout',
      code: 'CallTimeout',
      action: 'DescribeVpcs',
      timeoutMs: 250,
      message: 'DescribeVpcs: no answer within 250 ms (aws.callTimeoutMs); the request was aborted',
    });
    expect(new DeadlineExceededError('DeleteSubnet', 'no time left')).toMatchObject({
      name: 'DeadlineExceeded',
      code: 'DeadlineExceeded',
      action: 'DeleteSubnet',
      message: 'DeleteSubnet: no time left',
    });
  });
});
