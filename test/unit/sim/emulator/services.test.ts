import {
  AutoScalingClient,
  CompleteLifecycleActionCommand,
  DescribeAutoScalingInstancesCommand,
  DescribeLifecycleHooksCommand,
  RecordLifecycleActionHeartbeatCommand,
} from '@aws-sdk/client-auto-scaling';
import {
  CloudWatchLogsClient,
  CreateLogStreamCommand,
  PutLogEventsCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { ImdsClient } from '../../../../lib/sources/imds-client';
import { AwsEmulator } from '../../../../sim/emulator/server';

const creds = { accessKeyId: 'x', secretAccessKey: 'y' };
let emulator: AwsEmulator;
const clientOpts = () => ({
  region: 'us-east-1',
  endpoint: emulator.url,
  credentials: creds,
  maxAttempts: 1,
});

beforeEach(async () => {
  emulator = await AwsEmulator.start();
});
afterEach(async () => {
  await emulator.stop();
});

describe('IMDSv2', () => {
  it('requires a token, answers 404 with no notice, and serves the spot notice once posted', async () => {
    const raw = await fetch(`${emulator.url}/latest/meta-data/instance-id`);
    expect(raw.status).toBe(401);
    const imds = new ImdsClient({ endpoint: emulator.url });
    expect(await imds.get('meta-data/spot/instance-action')).toBeNull();
    emulator.imds.setSpotAction('terminate', '2026-11-22T12:00:00Z');
    expect(JSON.parse((await imds.get('meta-data/spot/instance-action'))!)).toEqual({
      action: 'terminate',
      time: '2026-11-22T12:00:00Z',
    });
    expect(emulator.imds.tokensIssued).toBe(1);
  });

  it('refuses bad TTLs and forwarded token requests', async () => {
    const put = (headers: Record<string, string>) =>
      fetch(`${emulator.url}/latest/api/token`, { method: 'PUT', headers });
    expect((await put({ 'x-aws-ec2-metadata-token-ttl-seconds': '0' })).status).toBe(400);
    expect((await put({ 'x-aws-ec2-metadata-token-ttl-seconds': '21601' })).status).toBe(400);
    expect(
      (await put({ 'x-aws-ec2-metadata-token-ttl-seconds': '60', 'x-forwarded-for': '1.2.3.4' })).status,
    ).toBe(403);
  });

  it('a revoked token gets 401 and the client takes a new one', async () => {
    const imds = new ImdsClient({ endpoint: emulator.url });
    expect(await imds.require('meta-data/instance-id')).toBe('i-0123456789abcdef0');
    emulator.imds.revokeTokens();
    expect(await imds.require('meta-data/instance-id')).toBe('i-0123456789abcdef0');
    expect(emulator.imds.tokensIssued).toBe(2);
  });

  it('prints scheduled events like real IMDS, [] when none', async () => {
    const imds = new ImdsClient({ endpoint: emulator.url });
    expect(await imds.get('meta-data/events/maintenance/scheduled')).toBe('[]');
    emulator.imds.setScheduledEvents([
      {
        Code: 'instance-stop',
        Description: 'degraded',
        EventId: 'instance-event-1',
        State: 'active',
        NotBefore: '1 Jan 2021 02:00:00 GMT',
      },
    ]);
    const body = (await imds.get('meta-data/events/maintenance/scheduled'))!;
    expect(body).toContain('"NotBefore" : "1 Jan 2021 02:00:00 GMT"');
    expect(JSON.parse(body)[0].Code).toBe('instance-stop');
  });
});

describe('SQS', () => {
  it('long poll returns early, visibility expiry redelivers with a higher receive count, stale handles are refused', async () => {
    const sqs = new SQSClient(clientOpts());
    const queueUrl = emulator.sqs.createQueue('events');
    const poll = sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        WaitTimeSeconds: 5,
        VisibilityTimeout: 1,
        MessageSystemAttributeNames: ['All'],
      }),
    );
    setTimeout(() => emulator.sqs.send(queueUrl, '{"hello":1}'), 50);
    const started = Date.now();
    const first = await poll;
    expect(Date.now() - started).toBeLessThan(4000);
    expect(first.Messages?.[0].Body).toBe('{"hello":1}');
    expect(first.Messages?.[0].Attributes?.ApproximateReceiveCount).toBe('1');
    await new Promise((r) => setTimeout(r, 1100));
    const second = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MessageSystemAttributeNames: ['All'] }),
    );
    expect(second.Messages?.[0].Attributes?.ApproximateReceiveCount).toBe('2');
    await expect(
      sqs.send(
        new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: first.Messages![0].ReceiptHandle }),
      ),
    ).rejects.toMatchObject({
      name: 'ReceiptHandleIsInvalid',
    });
    await sqs.send(
      new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: second.Messages![0].ReceiptHandle }),
    );
    expect(emulator.sqs.deletedCount(queueUrl)).toBe(1);
    sqs.destroy();
  });

  it('release with visibility 0 makes the message visible again; redrive moves it to the DLQ after maxReceiveCount', async () => {
    const sqs = new SQSClient(clientOpts());
    const queueUrl = emulator.sqs.createQueue('main', { deadLetterQueue: 'dlq', maxReceiveCount: 2 });
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'poison' }));
    for (let i = 0; i < 2; i++) {
      const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, VisibilityTimeout: 30 }));
      await sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: queueUrl,
          ReceiptHandle: got.Messages![0].ReceiptHandle,
          VisibilityTimeout: 0,
        }),
      );
    }
    const third = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl }));
    expect(third.Messages ?? []).toHaveLength(0);
    const dlqUrl = emulator.sqs.createQueue('dlq');
    expect(emulator.sqs.messages(dlqUrl).map((m) => m.body)).toEqual(['poison']);
    const attrs = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['All'] }),
    );
    expect(JSON.parse(attrs.Attributes!.RedrivePolicy!).maxReceiveCount).toBe(2);
    sqs.destroy();
  });

  it('an unknown queue is QueueDoesNotExist', async () => {
    const sqs = new SQSClient(clientOpts());
    await expect(
      sqs.send(new ReceiveMessageCommand({ QueueUrl: `${emulator.url}/123456789012/nope` })),
    ).rejects.toMatchObject({
      name: 'QueueDoesNotExist',
    });
    sqs.destroy();
  });
});

describe('Auto Scaling lifecycle', () => {
  const hook = {
    asgName: 'loxilb-asg',
    hookName: 'teardownd',
    heartbeatTimeoutSeconds: 1,
    defaultResult: 'ABANDON' as const,
  };

  it('heartbeats extend the wait; complete by token ends it; the token is then gone', async () => {
    const asg = new AutoScalingClient(clientOpts());
    emulator.autoscaling.putHook(hook);
    emulator.autoscaling.addInstance('loxilb-asg', 'i-1');
    const { token } = emulator.autoscaling.startTermination('i-1');
    const hooks = await asg.send(new DescribeLifecycleHooksCommand({ AutoScalingGroupName: 'loxilb-asg' }));
    expect(hooks.LifecycleHooks?.[0]).toMatchObject({
      HeartbeatTimeout: 1,
      GlobalTimeout: 100,
      DefaultResult: 'ABANDON',
    });
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 500));
      await asg.send(
        new RecordLifecycleActionHeartbeatCommand({
          AutoScalingGroupName: 'loxilb-asg',
          LifecycleHookName: 'teardownd',
          LifecycleActionToken: token,
        }),
      );
    }
    const described = await asg.send(new DescribeAutoScalingInstancesCommand({ InstanceIds: ['i-1'] }));
    expect(described.AutoScalingInstances?.[0].LifecycleState).toBe('Terminating:Wait');
    const complete = () =>
      asg.send(
        new CompleteLifecycleActionCommand({
          AutoScalingGroupName: 'loxilb-asg',
          LifecycleHookName: 'teardownd',
          LifecycleActionToken: token,
          LifecycleActionResult: 'CONTINUE',
        }),
      );
    await complete();
    expect(emulator.autoscaling.state('i-1')).toBe('Terminating:Proceed');
    await expect(complete()).rejects.toMatchObject({
      name: 'ValidationError',
      message: `No active Lifecycle Action found with token ${token}`,
    });
    asg.destroy();
  });

  it('without heartbeats the default result is applied at the timeout', async () => {
    emulator.autoscaling.putHook(hook);
    emulator.autoscaling.addInstance('loxilb-asg', 'i-2');
    emulator.autoscaling.startTermination('i-2');
    await new Promise((r) => setTimeout(r, 1300));
    expect(emulator.autoscaling.history()).toEqual([
      expect.objectContaining({ action: 'Timeout', result: 'ABANDON', instanceId: 'i-2' }),
    ]);
  });

  it('inside the race window complete by instance id is refused, then accepted', async () => {
    const asg = new AutoScalingClient(clientOpts());
    emulator.autoscaling.putHook({ ...hook, heartbeatTimeoutSeconds: 30 });
    emulator.autoscaling.addInstance('loxilb-asg', 'i-3');
    emulator.autoscaling.raceWindowMs = 300;
    emulator.autoscaling.startTermination('i-3');
    const complete = () =>
      asg.send(
        new CompleteLifecycleActionCommand({
          AutoScalingGroupName: 'loxilb-asg',
          LifecycleHookName: 'teardownd',
          InstanceId: 'i-3',
          LifecycleActionResult: 'CONTINUE',
        }),
      );
    await expect(complete()).rejects.toMatchObject({
      message: 'No active Lifecycle Action found with instance ID i-3',
    });
    await new Promise((r) => setTimeout(r, 350));
    await complete();
    expect(emulator.autoscaling.state('i-3')).toBe('Terminating:Proceed');
    asg.destroy();
  });

  it('posts the ASG-direct notification to the hook queue', () => {
    const queueUrl = emulator.sqs.createQueue('hooks');
    emulator.autoscaling.putHook({ ...hook, notificationQueueUrl: queueUrl });
    emulator.autoscaling.addInstance('loxilb-asg', 'i-4');
    const { token } = emulator.autoscaling.startTermination('i-4');
    const body = JSON.parse(emulator.sqs.messages(queueUrl)[0].body);
    expect(body).toMatchObject({
      EC2InstanceId: 'i-4',
      LifecycleActionToken: token,
      LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
      Service: 'AWS Auto Scaling',
    });
  });
});

describe('S3 and CloudWatch Logs', () => {
  it('stores and returns an object and log events', async () => {
    const s3 = new S3Client(clientOpts());
    emulator.s3.createBucket('reports');
    await s3.send(
      new PutObjectCommand({
        Bucket: 'reports',
        Key: 'teardownd/i-1/2026-11-22/ep.json',
        Body: '{"ok":true}',
        ContentType: 'application/json',
      }),
    );
    const got = await s3.send(
      new GetObjectCommand({ Bucket: 'reports', Key: 'teardownd/i-1/2026-11-22/ep.json' }),
    );
    expect(await got.Body!.transformToString()).toBe('{"ok":true}');
    await expect(s3.send(new GetObjectCommand({ Bucket: 'reports', Key: 'nope' }))).rejects.toMatchObject({
      name: 'NoSuchKey',
    });
    s3.destroy();

    const logs = new CloudWatchLogsClient(clientOpts());
    emulator.logs.createLogGroup('/teardownd');
    await logs.send(
      new CreateLogStreamCommand({ logGroupName: '/teardownd', logStreamName: 'teardownd/i-1' }),
    );
    await expect(
      logs.send(new CreateLogStreamCommand({ logGroupName: '/teardownd', logStreamName: 'teardownd/i-1' })),
    ).rejects.toMatchObject({
      name: 'ResourceAlreadyExistsException',
    });
    await logs.send(
      new PutLogEventsCommand({
        logGroupName: '/teardownd',
        logStreamName: 'teardownd/i-1',
        logEvents: [
          { timestamp: Date.now() - 1, message: 'a' },
          { timestamp: Date.now(), message: 'b' },
        ],
      }),
    );
    expect(emulator.logs.events('/teardownd').map((e) => e.message)).toEqual(['a', 'b']);
    logs.destroy();
  });
});
