import { createHash } from 'node:crypto';
import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  Message,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { AwsEmulator } from '../../../../sim/emulator/server';

/** Round trips with the real SQS client (AWS JSON 1.0, query-compatible errors) against the emulator. */
let emulator: AwsEmulator;
let sqs: SQSClient;

async function start(timeScale = 1): Promise<void> {
  emulator = await AwsEmulator.start({ sqs: { timeScale } });
  sqs = new SQSClient({
    region: 'us-east-1',
    endpoint: emulator.url,
    credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
    maxAttempts: 1,
  });
}

afterEach(async () => {
  sqs?.destroy();
  await emulator?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves to 'still waiting' if `p` has not settled within `ms`: bounds a wait without timing it. */
function within<T>(p: Promise<T>, ms: number): Promise<T | 'still waiting'> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<'still waiting'>((r) => (timer = setTimeout(() => r('still waiting'), ms))),
  ]);
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(10);
  }
}

const receive = (
  QueueUrl: string,
  extra: Partial<ConstructorParameters<typeof ReceiveMessageCommand>[0]> = {},
) => sqs.send(new ReceiveMessageCommand({ QueueUrl, MessageSystemAttributeNames: ['All'], ...extra }));

async function receiveOne(queueUrl: string, extra = {}): Promise<Message> {
  const out = await receive(queueUrl, extra);
  expect(out.Messages).toHaveLength(1);
  return out.Messages![0];
}

async function attributes(QueueUrl: string): Promise<Record<string, string>> {
  return (await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['All'] }))).Attributes!;
}

describe('queues and messages over the wire', () => {
  beforeEach(() => start());

  it('CreateQueue and GetQueueUrl give a URL on the emulator; a message comes back with its MD5 and the requested attributes only', async () => {
    const created = await sqs.send(new CreateQueueCommand({ QueueName: 'events' }));
    expect(created.QueueUrl).toBe(`${emulator.url}/123456789012/events`);
    expect((await sqs.send(new GetQueueUrlCommand({ QueueName: 'events' }))).QueueUrl).toBe(created.QueueUrl);
    expect(emulator.sqs.createQueue('events')).toBe(created.QueueUrl);

    const body = '{"detail-type":"EC2 Spot Instance Interruption Warning","note":"ünïcödé ✓"}';
    const sent = await sqs.send(new SendMessageCommand({ QueueUrl: created.QueueUrl, MessageBody: body }));
    expect(sent.MD5OfMessageBody).toBe(createHash('md5').update(body, 'utf8').digest('hex'));

    const got = await receive(created.QueueUrl!, {
      MessageSystemAttributeNames: ['ApproximateReceiveCount'],
    });
    const m = got.Messages![0];
    expect(m).toMatchObject({ MessageId: sent.MessageId, Body: body, MD5OfBody: sent.MD5OfMessageBody });
    expect(m.Attributes).toEqual({ ApproximateReceiveCount: '1' });
  });

  it('All system attributes: SentTimestamp, receive count and first-receive time', async () => {
    const queueUrl = emulator.sqs.createQueue('events');
    const before = Date.now();
    emulator.sqs.send(queueUrl, 'hello');
    const m = await receiveOne(queueUrl);
    expect(Number(m.Attributes!.SentTimestamp)).toBeGreaterThanOrEqual(before);
    expect(Number(m.Attributes!.ApproximateFirstReceiveTimestamp)).toBeGreaterThanOrEqual(
      Number(m.Attributes!.SentTimestamp),
    );
    expect(m.Attributes!.ApproximateReceiveCount).toBe('1');
    expect(m.Attributes!.SenderId).toBeDefined();
  });

  it('message attributes round-trip with their MD5', async () => {
    const queueUrl = emulator.sqs.createQueue('events');
    const sent = await sqs.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: 'x',
        MessageAttributes: { kind: { DataType: 'String', StringValue: 'spot' } },
      }),
    );
    expect(sent.MD5OfMessageAttributes).toMatch(/^[0-9a-f]{32}$/);
    const m = await receiveOne(queueUrl, { MessageAttributeNames: ['All'] });
    expect(m.MessageAttributes).toEqual({ kind: { DataType: 'String', StringValue: 'spot' } });
    expect(m.MD5OfMessageAttributes).toBe(sent.MD5OfMessageAttributes);
  });

  it('an unknown queue is QueueDoesNotExist with the query-compatible code', async () => {
    const err = await receive(`${emulator.url}/123456789012/nope`).catch((e: unknown) => e);
    expect(err).toMatchObject({
      name: 'QueueDoesNotExist',
      Code: 'AWS.SimpleQueueService.NonExistentQueue',
      $metadata: { httpStatusCode: 400 },
    });
    await expect(sqs.send(new GetQueueUrlCommand({ QueueName: 'nope' }))).rejects.toMatchObject({
      name: 'QueueDoesNotExist',
    });
  });

  it('refuses out-of-range parameters', async () => {
    const queueUrl = emulator.sqs.createQueue('events');
    await expect(receive(queueUrl, { MaxNumberOfMessages: 11 })).rejects.toMatchObject({
      name: 'InvalidParameterValue',
    });
    await expect(receive(queueUrl, { WaitTimeSeconds: 21 })).rejects.toMatchObject({
      name: 'InvalidParameterValue',
    });
  });

  it('MaxNumberOfMessages takes several, oldest first', async () => {
    const queueUrl = emulator.sqs.createQueue('events');
    for (const b of ['a', 'b', 'c']) emulator.sqs.send(queueUrl, b);
    const got = await receive(queueUrl, { MaxNumberOfMessages: 2 });
    expect(got.Messages!.map((m) => m.Body)).toEqual(['a', 'b']);
    expect((await attributes(queueUrl)).ApproximateNumberOfMessagesNotVisible).toBe('2');
    expect((await attributes(queueUrl)).ApproximateNumberOfMessages).toBe('1');
  });

  it('batches: each entry succeeds or fails on its own', async () => {
    const queueUrl = emulator.sqs.createQueue('events');
    const sent = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: [
          { Id: '1', MessageBody: 'one' },
          { Id: '2', MessageBody: 'two' },
        ],
      }),
    );
    expect(sent.Successful!.map((e) => e.Id)).toEqual(['1', '2']);
    const got = await receive(queueUrl, { MaxNumberOfMessages: 10 });
    const deleted = await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: [
          { Id: 'a', ReceiptHandle: got.Messages![0].ReceiptHandle },
          { Id: 'b', ReceiptHandle: 'not-a-handle' },
        ],
      }),
    );
    expect(deleted.Successful!.map((e) => e.Id)).toEqual(['a']);
    expect(deleted.Failed).toEqual([expect.objectContaining({ Id: 'b', Code: 'ReceiptHandleIsInvalid' })]);
    expect(emulator.sqs.deletedCount(queueUrl)).toBe(1);
  });
});

describe('long poll', () => {
  beforeEach(() => start());

  it('returns as soon as a message is sent, well before WaitTimeSeconds', async () => {
    const queueUrl = emulator.sqs.createQueue('events');
    const poll = receive(queueUrl, { WaitTimeSeconds: 20 });
    await until(() => emulator.calls.of('sqs', 'ReceiveMessage').length === 1);
    emulator.sqs.send(queueUrl, 'wake up');
    const got = await within(poll, 5000);
    expect(got).not.toBe('still waiting');
    expect((got as { Messages?: Message[] }).Messages?.[0].Body).toBe('wake up');
  });

  it('with nothing to receive it answers no messages at the end of the wait', async () => {
    const queueUrl = emulator.sqs.createQueue('events');
    const got = await receive(queueUrl, { WaitTimeSeconds: 1 });
    expect(got.Messages ?? []).toEqual([]);
  });

  it('ends promptly when the emulator stops', async () => {
    const queueUrl = emulator.sqs.createQueue('events');
    const poll = receive(queueUrl, { WaitTimeSeconds: 20 }).then(
      () => 'answered',
      () => 'connection closed',
    );
    await until(() => emulator.calls.of('sqs', 'ReceiveMessage').length === 1);
    await emulator.stop();
    expect(await within(poll, 5000)).not.toBe('still waiting');
    // The service itself let go of the poll (no 20 s timer left behind).
    await until(() => emulator.calls.of('sqs', 'ReceiveMessage')[0].status !== 0, 2000);
  });

  it('a poll the client gave up on takes nothing: the next message goes to the next receive', async () => {
    const queueUrl = emulator.sqs.createQueue('events');
    const abort = new AbortController();
    const poll = sqs
      .send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 20 }), {
        abortSignal: abort.signal,
      })
      .catch((e: Error) => e.name);
    await until(() => emulator.calls.of('sqs', 'ReceiveMessage').length === 1);
    abort.abort();
    expect(await poll).toBe('AbortError');
    // The emulator has finished the abandoned call once it noticed the hang-up.
    await until(() => emulator.calls.of('sqs', 'ReceiveMessage')[0].status !== 0);
    emulator.sqs.send(queueUrl, 'for the next poll');
    expect(emulator.sqs.messages(queueUrl)[0]).toMatchObject({ receiveCount: 0, visible: true });
    const m = await receiveOne(queueUrl);
    expect(m.Attributes!.ApproximateReceiveCount).toBe('1');
  });
});

describe('visibility', () => {
  // 0.1: a VisibilityTimeout of 1 s lasts 100 ms, WaitTimeSeconds 20 lasts 2 s.
  beforeEach(() => start(0.1));

  it('an expired visibility timeout redelivers with a higher ApproximateReceiveCount and wakes a waiting poll', async () => {
    const queueUrl = emulator.sqs.createQueue('events');
    emulator.sqs.send(queueUrl, 'retry me');
    const first = await receiveOne(queueUrl, { VisibilityTimeout: 1 });
    expect(emulator.sqs.messages(queueUrl)[0]).toMatchObject({ inFlight: true, receiveCount: 1 });
    expect((await receive(queueUrl)).Messages ?? []).toEqual([]);
    const second = await receiveOne(queueUrl, { WaitTimeSeconds: 20 });
    expect(second.MessageId).toBe(first.MessageId);
    expect(second.Attributes!.ApproximateReceiveCount).toBe('2');
    expect(second.Attributes!.ApproximateFirstReceiveTimestamp).toBe(
      first.Attributes!.ApproximateFirstReceiveTimestamp,
    );
    expect(second.ReceiptHandle).not.toBe(first.ReceiptHandle);
  });

  it('the queue default VisibilityTimeout applies when the receive names none', async () => {
    const queueUrl = (
      await sqs.send(new CreateQueueCommand({ QueueName: 'short', Attributes: { VisibilityTimeout: '1' } }))
    ).QueueUrl!;
    emulator.sqs.send(queueUrl, 'm');
    await receiveOne(queueUrl);
    const again = await receiveOne(queueUrl, { WaitTimeSeconds: 20 });
    expect(again.Attributes!.ApproximateReceiveCount).toBe('2');
    expect((await attributes(queueUrl)).VisibilityTimeout).toBe('1');
  });

  it('ChangeMessageVisibility 0 releases the message at once, waking a waiting poll', async () => {
    const queueUrl = emulator.sqs.createQueue('events');
    emulator.sqs.send(queueUrl, 'not mine');
    const m = await receiveOne(queueUrl, { VisibilityTimeout: 600 });
    const waiting = receive(queueUrl, { WaitTimeSeconds: 20 });
    await until(() => emulator.calls.of('sqs', 'ReceiveMessage').length === 2);
    await sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: queueUrl,
        ReceiptHandle: m.ReceiptHandle,
        VisibilityTimeout: 0,
      }),
    );
    const got = await waiting;
    expect(got.Messages?.[0].Attributes!.ApproximateReceiveCount).toBe('2');
    expect(emulator.sqs.releasedCount(queueUrl)).toBe(1);
    expect(emulator.sqs.visibilityChanges(queueUrl)).toEqual([
      expect.objectContaining({ messageId: m.MessageId, seconds: 0 }),
    ]);
  });

  it('extending the visibility while processing keeps the message hidden past the first timeout', async () => {
    const queueUrl = emulator.sqs.createQueue('events');
    emulator.sqs.send(queueUrl, 'long job');
    const m = await receiveOne(queueUrl, { VisibilityTimeout: 2 });
    await sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: queueUrl,
        ReceiptHandle: m.ReceiptHandle,
        VisibilityTimeout: 600,
      }),
    );
    // A long poll longer than the original 2 s (200 ms) timeout still gets nothing.
    expect((await receive(queueUrl, { WaitTimeSeconds: 5 })).Messages ?? []).toEqual([]);
    const attrs = await attributes(queueUrl);
    expect(attrs.ApproximateNumberOfMessages).toBe('0');
    expect(attrs.ApproximateNumberOfMessagesNotVisible).toBe('1');
    await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle }));
    expect(emulator.sqs.stats(queueUrl)).toEqual({ visible: 0, inFlight: 0, delayed: 0, deleted: 1 });
  });

  it('a stale handle cannot change the visibility; a message back in the queue is not in flight', async () => {
    const queueUrl = emulator.sqs.createQueue('events');
    emulator.sqs.send(queueUrl, 'm');
    const first = await receiveOne(queueUrl, { VisibilityTimeout: 1 });
    const second = await receiveOne(queueUrl, { WaitTimeSeconds: 20, VisibilityTimeout: 1 });
    const change = (ReceiptHandle: string | undefined) =>
      sqs.send(
        new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle, VisibilityTimeout: 5 }),
      );
    await expect(change(first.ReceiptHandle)).rejects.toMatchObject({ name: 'ReceiptHandleIsInvalid' });
    await until(() => emulator.sqs.messages(queueUrl)[0].visible);
    await expect(change(second.ReceiptHandle)).rejects.toMatchObject({
      name: 'MessageNotInflight',
      Code: 'AWS.SimpleQueueService.MessageNotInflight',
    });
  });

  it('DelaySeconds hides a new message until the delay passes', async () => {
    const queueUrl = emulator.sqs.createQueue('events');
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'later', DelaySeconds: 2 }));
    expect((await attributes(queueUrl)).ApproximateNumberOfMessagesDelayed).toBe('1');
    expect((await receive(queueUrl)).Messages ?? []).toEqual([]);
    const m = await receiveOne(queueUrl, { WaitTimeSeconds: 20 });
    expect(m.Body).toBe('later');
  });
});

describe('receipt handles', () => {
  beforeEach(() => start());

  it('only the latest handle deletes; a stale one is ReceiptHandleIsInvalid; deleting twice is harmless', async () => {
    const queueUrl = emulator.sqs.createQueue('events');
    emulator.sqs.send(queueUrl, 'm');
    const first = await receiveOne(queueUrl, { VisibilityTimeout: 60 });
    await sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: queueUrl,
        ReceiptHandle: first.ReceiptHandle,
        VisibilityTimeout: 0,
      }),
    );
    const second = await receiveOne(queueUrl, { VisibilityTimeout: 60 });
    const stale = await sqs
      .send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: first.ReceiptHandle }))
      .catch((e: unknown) => e);
    expect(stale).toMatchObject({ name: 'ReceiptHandleIsInvalid', $metadata: { httpStatusCode: 404 } });
    expect(emulator.sqs.deletedCount(queueUrl)).toBe(0);

    await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: second.ReceiptHandle }));
    await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: second.ReceiptHandle }));
    expect(emulator.sqs.deletedCount(queueUrl)).toBe(1);
    expect(emulator.sqs.deleted(queueUrl)).toEqual([
      expect.objectContaining({ messageId: second.MessageId, body: 'm', receiveCount: 2, deleted: true }),
    ]);
    expect((await receive(queueUrl)).Messages ?? []).toEqual([]);
  });

  it('a made-up handle is ReceiptHandleIsInvalid', async () => {
    const queueUrl = emulator.sqs.createQueue('events');
    await expect(
      sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: 'AQEBmadeup' })),
    ).rejects.toMatchObject({ name: 'ReceiptHandleIsInvalid' });
  });
});

describe('dead-letter queue', () => {
  beforeEach(() => start());

  it('the receive after maxReceiveCount moves the message to the DLQ (RedrivePolicy set over the wire)', async () => {
    const dlqUrl = (await sqs.send(new CreateQueueCommand({ QueueName: 'events-dlq' }))).QueueUrl!;
    const dlqArn = (await attributes(dlqUrl)).QueueArn;
    expect(dlqArn).toBe('arn:aws:sqs:us-east-1:123456789012:events-dlq');
    const queueUrl = (
      await sqs.send(
        new CreateQueueCommand({
          QueueName: 'events',
          Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 2 }) },
        }),
      )
    ).QueueUrl!;
    expect(JSON.parse((await attributes(queueUrl)).RedrivePolicy)).toEqual({
      deadLetterTargetArn: dlqArn,
      maxReceiveCount: 2,
    });
    const sent = await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'poison' }));
    for (let i = 1; i <= 2; i++) {
      const m = await receiveOne(queueUrl, { VisibilityTimeout: 60 });
      expect(m.Attributes!.ApproximateReceiveCount).toBe(String(i));
      await sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: queueUrl,
          ReceiptHandle: m.ReceiptHandle,
          VisibilityTimeout: 0,
        }),
      );
    }
    expect((await receive(queueUrl)).Messages ?? []).toEqual([]);
    expect(emulator.sqs.messages(queueUrl)).toEqual([]);
    const dead = await receiveOne(dlqUrl);
    expect(dead).toMatchObject({ MessageId: sent.MessageId, Body: 'poison' });
    expect(dead.Attributes!.DeadLetterQueueSourceArn).toBe('arn:aws:sqs:us-east-1:123456789012:events');
  });

  it('a RedrivePolicy naming a missing queue is refused', async () => {
    await expect(
      sqs.send(
        new CreateQueueCommand({
          QueueName: 'events',
          Attributes: {
            RedrivePolicy: JSON.stringify({
              deadLetterTargetArn: 'arn:aws:sqs:us-east-1:123456789012:missing',
              maxReceiveCount: 3,
            }),
          },
        }),
      ),
    ).rejects.toMatchObject({ name: 'InvalidAttributeValue' });
  });

  it('programmatic createQueue with a redrive creates the DLQ', async () => {
    const queueUrl = emulator.sqs.createQueue('events', {
      redrive: { deadLetterQueue: 'dlq', maxReceiveCount: 1 },
    });
    emulator.sqs.send(queueUrl, 'once');
    const m = await receiveOne(queueUrl, { VisibilityTimeout: 60 });
    await sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: queueUrl,
        ReceiptHandle: m.ReceiptHandle,
        VisibilityTimeout: 0,
      }),
    );
    expect((await receive(queueUrl)).Messages ?? []).toEqual([]);
    expect(emulator.sqs.messages(emulator.sqs.queueUrl('dlq')!).map((x) => x.body)).toEqual(['once']);
  });
});
