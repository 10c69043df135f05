/**
 * Bodies for flooding a group's notification path (issue 11): notices about other instances in
 * every shape the daemon reads (shapes of test/fixtures/events, inlined so `npm run bench` can use
 * them from dist/), and unrelated events — deterministic for a given seed.
 */

/** A deterministic PRNG so the flood is the same on every run. */
export function lcg(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648;
  };
}

const eventTime = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

function event(
  detailType: string,
  source: string,
  resources: string[],
  detail: Record<string, unknown>,
): string {
  return JSON.stringify({
    version: '0',
    id: `flood-${Math.random().toString(16).slice(2)}`,
    'detail-type': detailType,
    source,
    account: '123456789012',
    time: eventTime(),
    region: 'us-east-1',
    resources,
    detail,
  });
}

const instanceArn = (id: string) => `arn:aws:ec2:us-east-1:123456789012:instance/${id}`;
const asgArn =
  'arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:26e7234b-03a4-47fb-b0a9-2b241662774e:autoScalingGroupName/my-asg';

/** The EventBridge spot interruption warning (terminate) about `instanceId`. */
export function spotNotice(instanceId: string): string {
  return event('EC2 Spot Instance Interruption Warning', 'aws.ec2', [instanceArn(instanceId)], {
    'instance-id': instanceId,
    'instance-action': 'terminate',
  });
}

/** `count` bodies about other instances (every shape) and unrelated events. */
export function flood(count: number, seed = 7): string[] {
  const random = lcg(seed);
  const otherId = () =>
    `i-0${Math.floor(random() * 0xffffffff)
      .toString(16)
      .padStart(8, '0')}ffffffff`;
  const lifecycle = (id: string) => ({
    LifecycleActionToken: `tok-${id}`,
    AutoScalingGroupName: 'my-asg',
    LifecycleHookName: 'teardownd-terminate',
    EC2InstanceId: id,
    LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
  });
  const makers: Array<() => string> = [
    () => spotNotice(otherId()),
    () => event('EC2 Instance-terminate Lifecycle Action', 'aws.autoscaling', [asgArn], lifecycle(otherId())),
    () => {
      const id = otherId();
      return event('EC2 Instance Rebalance Recommendation', 'aws.ec2', [instanceArn(id)], {
        'instance-id': id,
      });
    },
    () => {
      const id = otherId();
      return event('EC2 Instance State-change Notification', 'aws.ec2', [instanceArn(id)], {
        'instance-id': id,
        state: 'stopping',
      });
    },
    () =>
      JSON.stringify({
        ...lifecycle(otherId()),
        AccountId: '123456789012',
        RequestId: 'r',
        Service: 'AWS Auto Scaling',
        Time: new Date().toISOString(),
      }),
    () => {
      const id = otherId();
      return event('AWS Health Event', 'aws.health', [id], {
        eventArn: 'arn:aws:health:us-east-1::event/EC2/AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED/x',
        service: 'EC2',
        eventTypeCode: 'AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED',
        eventTypeCategory: 'scheduledChange',
        startTime: 'Wed, 26 Jun 2019 15:00:00 GMT',
        eventDescription: [{ language: 'en_US', latestDescription: '…' }],
        affectedEntities: [{ entityValue: id, tags: {} }],
      });
    },
    () =>
      JSON.stringify({
        AccountId: '123456789012',
        RequestId: 'r',
        AutoScalingGroupARN: asgArn,
        AutoScalingGroupName: 'my-asg',
        Service: 'AWS Auto Scaling',
        Event: 'autoscaling:TEST_NOTIFICATION',
        Time: new Date().toISOString(),
      }),
    () => event('Object Created', 'aws.s3', ['arn:aws:s3:::bucket'], { bucket: { name: 'b' } }),
  ];
  return Array.from({ length: count }, () => makers[Math.floor(random() * makers.length)]());
}
