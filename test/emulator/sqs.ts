import { createHash, randomUUID } from 'node:crypto';
import { EmulatorContext } from './context';
import { EmulatorError, EmulatorRequest, EmulatorResponse, ServiceHandler } from './types';

/**
 * SQS over AWS JSON 1.0 (X-Amz-Target AmazonSQS.<Action>), with the semantics a consumer must
 * respect: visibility timeouts, redelivery with ApproximateReceiveCount, receipt handles that go
 * stale when a message is received again, long polls that return as soon as a message is visible,
 * and redrive to a dead-letter queue at maxReceiveCount.
 *
 * Programmatic API (`emulator.sqs`):
 *   createQueue(name, {visibilityTimeoutSeconds?, deadLetterQueue?: name, maxReceiveCount?}) → queueUrl
 *   send(queueUrl, body) → messageId
 *   messages(queueUrl) → [{messageId, body, receiveCount, visible, inFlight, deleted}]
 *   deletedCount(queueUrl), releasedCount(queueUrl) (ChangeMessageVisibility to 0)
 */
export interface SqsMessageView {
  messageId: string;
  body: string;
  receiveCount: number;
  visible: boolean;
  inFlight: boolean;
  deleted: boolean;
}

interface Message {
  messageId: string;
  body: string;
  md5: string;
  sentAt: number;
  firstReceivedAt?: number;
  receiveCount: number;
  visibleAt: number;
  receiptHandle?: string;
  deleted: boolean;
}

interface Queue {
  name: string;
  url: string;
  arn: string;
  visibilityTimeoutSeconds: number;
  deadLetterQueue?: string;
  maxReceiveCount?: number;
  messages: Message[];
  deletedCount: number;
  releasedCount: number;
  visibilityChanges: Array<{ messageId: string; seconds: number; at: number }>;
}

const ACCOUNT = '123456789012';
const md5 = (s: string) => createHash('md5').update(s, 'utf8').digest('hex');

function json(value: unknown): EmulatorResponse {
  return {
    status: 200,
    headers: { 'content-type': 'application/x-amz-json-1.0' },
    body: JSON.stringify(value),
  };
}

export class SqsService implements ServiceHandler {
  readonly service = 'sqs' as const;
  private queues = new Map<string, Queue>();
  private baseUrl = 'http://127.0.0.1';
  private stopped = false;

  constructor(readonly ctx: EmulatorContext) {}

  /** Queue URLs point at the emulator itself; the server tells us its URL once it listens. */
  setBaseUrl(url: string): void {
    this.baseUrl = url;
    for (const q of this.queues.values()) q.url = `${url}/${ACCOUNT}/${q.name}`;
  }

  createQueue(
    name: string,
    opts: { visibilityTimeoutSeconds?: number; deadLetterQueue?: string; maxReceiveCount?: number } = {},
  ): string {
    const existing = this.queues.get(name);
    if (existing) return existing.url;
    this.queues.set(name, {
      name,
      url: `${this.baseUrl}/${ACCOUNT}/${name}`,
      arn: `arn:aws:sqs:us-east-1:${ACCOUNT}:${name}`,
      visibilityTimeoutSeconds: opts.visibilityTimeoutSeconds ?? 30,
      deadLetterQueue: opts.deadLetterQueue,
      maxReceiveCount: opts.maxReceiveCount,
      messages: [],
      deletedCount: 0,
      releasedCount: 0,
      visibilityChanges: [],
    });
    if (opts.deadLetterQueue && !this.queues.has(opts.deadLetterQueue))
      this.createQueue(opts.deadLetterQueue);
    return this.queues.get(name)!.url;
  }

  send(queueUrl: string, body: string): string {
    const q = this.queueByUrl(queueUrl);
    const message: Message = {
      messageId: randomUUID(),
      body,
      md5: md5(body),
      sentAt: this.ctx.now(),
      receiveCount: 0,
      visibleAt: 0,
      deleted: false,
    };
    q.messages.push(message);
    return message.messageId;
  }

  messages(queueUrl: string): SqsMessageView[] {
    const now = this.ctx.now();
    return this.queueByUrl(queueUrl).messages.map((m) => ({
      messageId: m.messageId,
      body: m.body,
      receiveCount: m.receiveCount,
      visible: !m.deleted && m.visibleAt <= now,
      inFlight: !m.deleted && m.visibleAt > now,
      deleted: m.deleted,
    }));
  }

  deletedCount(queueUrl: string): number {
    return this.queueByUrl(queueUrl).deletedCount;
  }

  releasedCount(queueUrl: string): number {
    return this.queueByUrl(queueUrl).releasedCount;
  }

  visibilityChanges(queueUrl: string): Array<{ messageId: string; seconds: number; at: number }> {
    return [...this.queueByUrl(queueUrl).visibilityChanges];
  }

  snapshot(): unknown {
    return [...this.queues.values()].map((q) => ({
      name: q.name,
      url: q.url,
      messages: this.messages(q.url),
    }));
  }

  stop(): void {
    this.stopped = true;
  }

  async handle(req: EmulatorRequest): Promise<EmulatorResponse> {
    const input = req.json;
    switch (req.action) {
      case 'CreateQueue': {
        const attrs = (input.Attributes ?? {}) as Record<string, string>;
        const redrive = attrs.RedrivePolicy
          ? (JSON.parse(attrs.RedrivePolicy) as {
              deadLetterTargetArn: string;
              maxReceiveCount: number | string;
            })
          : undefined;
        const url = this.createQueue(String(input.QueueName), {
          visibilityTimeoutSeconds: attrs.VisibilityTimeout ? Number(attrs.VisibilityTimeout) : undefined,
          deadLetterQueue: redrive?.deadLetterTargetArn.split(':').pop(),
          maxReceiveCount: redrive ? Number(redrive.maxReceiveCount) : undefined,
        });
        return json({ QueueUrl: url });
      }
      case 'GetQueueUrl': {
        const q = this.queues.get(String(input.QueueName));
        if (!q) throw nonExistent();
        return json({ QueueUrl: q.url });
      }
      case 'SendMessage': {
        const id = this.send(String(input.QueueUrl), String(input.MessageBody));
        return json({ MessageId: id, MD5OfMessageBody: md5(String(input.MessageBody)) });
      }
      case 'ReceiveMessage':
        return json(await this.receive(input));
      case 'DeleteMessage':
        this.deleteMessage(this.queueByUrl(String(input.QueueUrl)), String(input.ReceiptHandle));
        return json({});
      case 'ChangeMessageVisibility':
        this.changeVisibility(
          this.queueByUrl(String(input.QueueUrl)),
          String(input.ReceiptHandle),
          Number(input.VisibilityTimeout),
        );
        return json({});
      case 'GetQueueAttributes':
        return json({ Attributes: this.attributes(this.queueByUrl(String(input.QueueUrl))) });
      case 'PurgeQueue':
        this.queueByUrl(String(input.QueueUrl)).messages = [];
        return json({});
      default:
        throw new EmulatorError('InvalidAction', `${req.action} is not implemented by the emulator`, 400);
    }
  }

  private queueByUrl(url: string): Queue {
    const name = url.split('/').pop() ?? '';
    const q = this.queues.get(name);
    if (!q) throw nonExistent();
    return q;
  }

  private async receive(input: Record<string, unknown>): Promise<{ Messages?: unknown[] }> {
    const q = this.queueByUrl(String(input.QueueUrl));
    const max = Number(input.MaxNumberOfMessages ?? 1);
    if (!Number.isInteger(max) || max < 1 || max > 10) {
      throw new EmulatorError(
        'InvalidParameterValue',
        'Value for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.',
      );
    }
    const waitMs = Number(input.WaitTimeSeconds ?? 0) * 1000;
    const visibilityS =
      input.VisibilityTimeout !== undefined ? Number(input.VisibilityTimeout) : q.visibilityTimeoutSeconds;
    const deadline = this.ctx.now() + waitMs;
    for (;;) {
      const got = this.take(q, max, visibilityS);
      if (got.length || this.stopped || this.ctx.now() >= deadline) {
        return got.length ? { Messages: got } : {};
      }
      await new Promise((r) => setTimeout(r, Math.min(20, Math.max(1, deadline - this.ctx.now()))));
    }
  }

  private take(q: Queue, max: number, visibilityS: number): unknown[] {
    const now = this.ctx.now();
    const out: unknown[] = [];
    for (const m of q.messages) {
      if (out.length >= max) break;
      if (m.deleted || m.visibleAt > now) continue;
      if (q.maxReceiveCount !== undefined && q.deadLetterQueue && m.receiveCount >= q.maxReceiveCount) {
        // Redrive: the receive after the limit moves the message instead of delivering it.
        m.deleted = true;
        const dlq = this.queues.get(q.deadLetterQueue);
        if (dlq) dlq.messages.push({ ...m, deleted: false, visibleAt: 0, receiptHandle: undefined });
        continue;
      }
      m.receiveCount++;
      m.firstReceivedAt ??= now;
      m.visibleAt = now + visibilityS * 1000;
      m.receiptHandle = `${m.messageId}#${randomUUID()}`;
      out.push({
        MessageId: m.messageId,
        ReceiptHandle: m.receiptHandle,
        MD5OfBody: m.md5,
        Body: m.body,
        Attributes: {
          ApproximateReceiveCount: String(m.receiveCount),
          SentTimestamp: String(m.sentAt),
          ApproximateFirstReceiveTimestamp: String(m.firstReceivedAt),
          SenderId: 'AIDAEMULATOR',
        },
      });
    }
    return out;
  }

  private byHandle(q: Queue, handle: string): Message {
    const id = handle.split('#')[0];
    const m = q.messages.find((x) => x.messageId === id);
    if (!m || (m.receiptHandle !== handle && !m.deleted)) {
      throw new EmulatorError(
        'ReceiptHandleIsInvalid',
        `The input receipt handle "${handle}" is not a valid receipt handle.`,
      );
    }
    return m;
  }

  private deleteMessage(q: Queue, handle: string): void {
    const m = this.byHandle(q, handle);
    if (m.deleted) return;
    m.deleted = true;
    q.deletedCount++;
  }

  private changeVisibility(q: Queue, handle: string, seconds: number): void {
    if (!Number.isInteger(seconds) || seconds < 0 || seconds > 43200) {
      throw new EmulatorError(
        'InvalidParameterValue',
        `Value ${seconds} for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200.`,
      );
    }
    const m = this.byHandle(q, handle);
    const now = this.ctx.now();
    if (m.deleted || m.visibleAt <= now) {
      throw new EmulatorError(
        'MessageNotInflight',
        'Message does not exist or is not available for visibility timeout change.',
      );
    }
    m.visibleAt = now + seconds * 1000;
    if (seconds === 0) q.releasedCount++;
    q.visibilityChanges.push({ messageId: m.messageId, seconds, at: now });
  }

  private attributes(q: Queue): Record<string, string> {
    const now = this.ctx.now();
    const live = q.messages.filter((m) => !m.deleted);
    const attrs: Record<string, string> = {
      QueueArn: q.arn,
      ApproximateNumberOfMessages: String(live.filter((m) => m.visibleAt <= now).length),
      ApproximateNumberOfMessagesNotVisible: String(live.filter((m) => m.visibleAt > now).length),
      VisibilityTimeout: String(q.visibilityTimeoutSeconds),
      ReceiveMessageWaitTimeSeconds: '0',
      SqsManagedSseEnabled: 'true',
    };
    if (q.deadLetterQueue && q.maxReceiveCount !== undefined) {
      attrs.RedrivePolicy = JSON.stringify({
        deadLetterTargetArn: `arn:aws:sqs:us-east-1:${ACCOUNT}:${q.deadLetterQueue}`,
        maxReceiveCount: q.maxReceiveCount,
      });
    }
    return attrs;
  }
}

function nonExistent(): EmulatorError {
  return new EmulatorError('QueueDoesNotExist', 'The specified queue does not exist.', 400);
}
