import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { parseConfig } from '../../../lib/config/load';
import type { AcceptResult } from '../../../lib/episode/coordinator';
import { TerminationNotice } from '../../../lib/notice';
import { SqsConsumer } from '../../../lib/sources/sqs-consumer';
import { fixture, withFields } from '../../fixtures/events';
import { ManualClock } from '../../helpers/manual-clock';
import { captureLogger } from '../../helpers/log-capture';

const sqs = mockClient(SQSClient);
const queueUrl = 'http://127.0.0.1/123456789012/teardownd';
const self = 'i-0194708ef7e24dcc7'; // the instance of asg-direct-terminate.json

const capture = () => captureLogger();

function consumer(
  opts: {
    config?: Record<string, unknown>;
    dryRun?: boolean;
    accept?: (n: TerminationNotice) => Promise<AcceptResult>;
    random?: () => number;
  } = {},
) {
  const { logger, lines } = capture();
  const accepted: TerminationNotice[] = [];
  const clock = new ManualClock();
  const c = new SqsConsumer({
    sqs: new SQSClient({ region: 'us-east-1' }),
    queueUrl,
    config: parseConfig({ sources: { sqs: { queueUrl, visibilityTimeoutSeconds: 30 } }, ...opts.config }),
    clock,
    logger,
    instanceId: self,
    dryRun: opts.dryRun ?? false,
    random: opts.random,
    onNotice: async (n) => {
      accepted.push(n);
      return opts.accept
        ? opts.accept(n)
        : { status: 'opened', message: { action: 'retain', reason: 'held by the episode' } };
    },
  });
  return { c, lines, accepted, clock };
}

let seq = 0;
function msg(body: string, receiveCount = 1) {
  seq++;
  return {
    MessageId: `m-${seq}`,
    ReceiptHandle: `rh-${seq}`,
    Body: body,
    Attributes: { ApproximateReceiveCount: String(receiveCount) },
  };
}

beforeEach(() => {
  sqs.reset();
  sqs.on(DeleteMessageCommand).resolves({});
  sqs.on(ChangeMessageVisibilityCommand).resolves({});
});

describe('receiveOnce', () => {
  it('a long poll that never answers is cut after its wait time plus aws.callTimeoutMs, not retried', async () => {
    sqs.on(ReceiveMessageCommand).callsFake(() => new Promise(() => undefined));
    const { c, clock } = consumer({
      config: { sources: { sqs: { queueUrl, waitTimeSeconds: 20 } }, aws: { callTimeoutMs: 5000 } },
    });
    const box: { error?: unknown } = {};
    const done = c.receiveOnce().catch((e: unknown) => (box.error = e));
    await clock.advance(24999);
    expect(box.error).toBeUndefined();
    await clock.advance(1);
    await done;
    expect(box.error).toMatchObject({ name: 'CallTimeout', attempts: 1 });
    // `run` is the retry loop (with its own backoff): receiveOnce made one request.
    expect(sqs.commandCalls(ReceiveMessageCommand)).toHaveLength(1);
  });

  it('long-polls with the configured wait, visibility and batch size', async () => {
    sqs.on(ReceiveMessageCommand).resolves({ Messages: [] });
    await consumer().c.receiveOnce();
    expect(sqs.commandCalls(ReceiveMessageCommand)[0].args[0].input).toMatchObject({
      QueueUrl: queueUrl,
      WaitTimeSeconds: 20,
      VisibilityTimeout: 30,
      MaxNumberOfMessages: 10,
      MessageSystemAttributeNames: expect.arrayContaining(['ApproximateReceiveCount']),
    });
  });

  it('applies one explicit decision per message and logs it with the message id', async () => {
    const own = msg(fixture('asg-direct-terminate.json'));
    const test = msg(fixture('asg-test-notification.json'));
    const foreign = msg(fixture('eventbridge-lifecycle-terminate-nth.json'));
    const junk = msg('{"oops"');
    sqs.on(ReceiveMessageCommand).resolves({ Messages: [own, test, foreign, junk] });
    const { c, lines, accepted } = consumer({ random: () => 0.5 });
    const outcomes = await c.receiveOnce();
    expect(outcomes.map((o) => [o.category, o.decision.action])).toEqual([
      ['termination', 'retain'],
      ['test', 'delete'],
      ['foreign', 'release'],
      ['malformed', 'delete'],
    ]);
    expect(accepted).toHaveLength(1);
    expect(accepted[0].lifecycle!.token).toBe('602063c7-4a06-4a67-b8cf-87ccc33bdc86');
    expect(sqs.commandCalls(DeleteMessageCommand).map((x) => x.args[0].input.ReceiptHandle)).toEqual([
      test.ReceiptHandle,
      junk.ReceiptHandle,
    ]);
    expect(sqs.commandCalls(ChangeMessageVisibilityCommand).map((x) => x.args[0].input)).toEqual([
      // Default foreignReleaseSeconds 5–15 s; random 0.5 → 10 s. Never 0.
      { QueueUrl: queueUrl, ReceiptHandle: foreign.ReceiptHandle, VisibilityTimeout: 10 },
    ]);
    const decisions = lines.filter((l) => String(l.message).startsWith('sqs message '));
    expect(decisions.map((l) => [l.messageId, l.decision])).toEqual([
      [own.MessageId, 'retain'],
      [test.MessageId, 'delete'],
      [foreign.MessageId, 'release'],
      [junk.MessageId, 'delete'],
    ]);
    const malformed = decisions[3];
    expect(malformed.level).toBe('warn');
    expect(String(malformed.reason)).toMatch(/^malformed \(\(body\): not JSON/);
  });

  it('foreign messages go back with a jittered delay spanning the configured range, never 0', async () => {
    const draws = [0, 0.999, 0.3];
    const foreign = [1, 2, 3].map(() => msg(fixture('eventbridge-lifecycle-terminate-nth.json')));
    sqs.on(ReceiveMessageCommand).resolves({ Messages: foreign });
    const config = { sources: { sqs: { queueUrl, foreignReleaseSeconds: { min: 2, max: 6 } } } };
    await consumer({ config, random: () => draws.shift()! }).c.receiveOnce();
    expect(
      sqs.commandCalls(ChangeMessageVisibilityCommand).map((x) => x.args[0].input.VisibilityTimeout),
    ).toEqual([2, 6, 3]);
  });

  it('foreign messages are deleted when configured', async () => {
    const foreign = msg(fixture('eventbridge-lifecycle-terminate-nth.json'));
    sqs.on(ReceiveMessageCommand).resolves({ Messages: [foreign] });
    await consumer({ config: { sources: { sqs: { queueUrl, foreignMessages: 'delete' } } } }).c.receiveOnce();
    expect(sqs.commandCalls(DeleteMessageCommand)).toHaveLength(1);
    expect(sqs.commandCalls(ChangeMessageVisibilityCommand)).toHaveLength(0);
  });

  it('malformed messages are left for the DLQ when deadLetterAfterReceives is set', async () => {
    sqs.on(ReceiveMessageCommand).resolves({ Messages: [msg('not json', 1)] });
    const { c } = consumer({ config: { sources: { sqs: { queueUrl, deadLetterAfterReceives: 3 } } } });
    expect((await c.receiveOnce())[0].decision.action).toBe('retain');
    expect(sqs.commandCalls(DeleteMessageCommand)).toHaveLength(0);
  });

  it('a message whose handling throws (poison) is retained and the consumer carries on', async () => {
    const poison = msg(fixture('asg-direct-terminate.json'));
    const test = msg(fixture('asg-test-notification.json'));
    sqs.on(ReceiveMessageCommand).resolves({ Messages: [poison, test] });
    const { c, lines } = consumer({ accept: async () => Promise.reject(new Error('journal disk full')) });
    const outcomes = await c.receiveOnce();
    expect(outcomes.map((o) => [o.category, o.decision.action])).toEqual([
      ['error', 'retain'],
      ['test', 'delete'],
    ]);
    expect(lines.find((l) => l.messageId === poison.MessageId)).toMatchObject({
      level: 'warn',
      decision: 'retain',
    });
  });

  it('the coordinator can turn a termination into a delayed release (scheduled event not due)', async () => {
    const health = msg(
      withFields('eventbridge-health-retirement-multi.json', {
        'detail.affectedEntities': [{ entityValue: self }],
      }),
    );
    sqs.on(ReceiveMessageCommand).resolves({ Messages: [health] });
    const { c } = consumer({
      accept: async () => ({
        status: 'not-due',
        message: { action: 'release', visibilitySeconds: 43200, reason: 'later' },
      }),
    });
    await c.receiveOnce();
    expect(sqs.commandCalls(ChangeMessageVisibilityCommand)[0].args[0].input.VisibilityTimeout).toBe(43200);
  });

  it('dry-run deletes nothing', async () => {
    sqs
      .on(ReceiveMessageCommand)
      .resolves({ Messages: [msg(fixture('asg-test-notification.json')), msg('junk')] });
    const outcomes = await consumer({ dryRun: true }).c.receiveOnce();
    expect(outcomes.map((o) => o.decision.action)).toEqual(['retain', 'retain']);
    expect(outcomes[0].decision.reason).toMatch(/^dry-run: would delete/);
    expect(sqs.commandCalls(DeleteMessageCommand)).toHaveLength(0);
  });
});

describe('held messages', () => {
  it('extends and finally deletes a held message by id with its latest receipt handle', async () => {
    const first = msg(fixture('asg-direct-terminate.json'));
    sqs.on(ReceiveMessageCommand).resolves({ Messages: [first] });
    const { c } = consumer();
    await c.receiveOnce();
    await c.extend([first.MessageId], 30);
    expect(sqs.commandCalls(ChangeMessageVisibilityCommand)[0].args[0].input).toEqual({
      QueueUrl: queueUrl,
      ReceiptHandle: first.ReceiptHandle,
      VisibilityTimeout: 30,
    });
    expect(await c.delete([first.MessageId, 'unknown-id'])).toEqual([first.MessageId]);
    expect(sqs.commandCalls(DeleteMessageCommand)[0].args[0].input).toEqual({
      QueueUrl: queueUrl,
      ReceiptHandle: first.ReceiptHandle,
    });
    expect(await c.delete([first.MessageId])).toEqual([]);
  });
});
