/**
 * Every AWS action the code can make, by IAM service prefix. The IAM policy test
 * (test/unit/iam-policy.test.ts) proves scripts/iam-policy.json grants exactly these and that the
 * source uses no `*Command` outside this list.
 */
export const awsApiCalls = {
  ec2: {
    read: [
      'DescribeAddresses',
      'DescribeInstances',
      'DescribeNetworkInterfaces',
      'DescribeRouteTables',
      'DescribeSpotInstanceRequests',
      'DescribeSubnets',
      'DescribeVpcs',
    ],
    mutate: [
      'CreateTags',
      'DeleteNetworkInterface',
      'DeleteRouteTable',
      'DeleteSubnet',
      'DetachNetworkInterface',
      'DisassociateAddress',
      'DisassociateRouteTable',
      'DisassociateVpcCidrBlock',
      'ReleaseAddress',
    ],
  },
  autoscaling: {
    read: ['DescribeAutoScalingGroups', 'DescribeAutoScalingInstances', 'DescribeLifecycleHooks'],
    mutate: ['CompleteLifecycleAction', 'RecordLifecycleActionHeartbeat'],
  },
  sqs: {
    read: ['GetQueueAttributes', 'ListQueues', 'ReceiveMessage'],
    // CreateQueue, SetQueueAttributes, DeleteQueue: the per-host queue (lib/aws/queue-calls.ts).
    mutate: ['ChangeMessageVisibility', 'CreateQueue', 'DeleteMessage', 'DeleteQueue', 'SetQueueAttributes'],
  },
  sns: {
    read: ['ListSubscriptionsByTopic'],
    mutate: ['SetSubscriptionAttributes', 'Subscribe', 'Unsubscribe'],
  },
  s3: {
    read: ['GetObject'],
    mutate: ['PutObject'],
  },
  logs: {
    read: [],
    mutate: ['CreateLogStream', 'PutLogEvents'],
  },
} as const;

export type AwsService = keyof typeof awsApiCalls;
