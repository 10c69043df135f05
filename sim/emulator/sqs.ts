import { randomUUID } from 'node:crypto';
import { EmulatorContext } from './context';
import {
  md5Hex,
  md5OfMessageAttributes,
  MessageAttributeValue,
  QueueSettings,
  SqsQueue,
  StoredMessage,
  VisibilityChange,
} from './sqs-queue';
import { EmulatorError, EmulatorRequest, EmulatorResponse, ServiceHandler } from './types';

/**
 * SQS over AWS JSON 1.0 (X-Amz-Target AmazonSQS.<Action>, query-compatible errors), with the
 * semantics a consumer must respect: visibility timeouts, redelivery with ApproximateReceiveCount,
 * receipt handles that go stale when a message is received again, long polls that return as soon as
 * a message is visible (and end at once on stop() or when the client hangs up, taking nothing), and
 * redrive to a dead-letter queue on the receive after maxReceiveCount.
 *
 * Programmatic API (`emulator.sqs`):
 *   createQueue(name, {visibilityTimeoutSeconds?, deadLetterQueue?, maxReceiveCount?, redrive?}) → queueUrl
 *     (idempotent; the dead-letter queue, by name/URL/ARN, is created when missing)
 *   send(queueUrl, body, {delaySeconds?, messageAttributes?}) → messageId   (URL, ARN or name)
 *   messages(queueUrl)  every message still in the queue, deleted ones included, with receive counts
 *   deleted(queueUrl), deletedCount(queueUrl), releasedCount(queueUrl) (ChangeMessageVisibility 0),
 *   visibilityChanges(queueUrl), stats(queueUrl), queueUrl(name), configure({timeScale})
 *
 * Deliberate simplifications: a stale receipt handle (the message was received again since) is
 * answered ReceiptHandleIsInvalid, so a consumer that deletes late is caught — real SQS may instead
 * accept it and keep the message; ChangeMessageVisibility on a message that is not in flight is
 * MessageNotInflight. Only standard queues.
 *
 * `timeScale` (default 1) multiplies every duration the API gives in seconds (VisibilityTimeout,
 * WaitTimeSeconds, DelaySeconds): at 0.1 a 1 s visibility timeout lasts 100 ms. Attributes still
 * report the seconds as given.
 */
export interface SqsServiceOptions {
  timeScale?: number;
  /** How long SQS refuses to re-create a deleted queue's name (QueueDeletedRecently); AWS: 60 s. */
  recreateAfterDeleteMs?: number;
  accountId?: string;
  region?: string;
}

export interface CreateQueueOptions {
  visibilityTimeoutSeconds?: number;
  delaySeconds?: number;
  receiveWaitTimeSeconds?: number;
  /** Dead-letter queue by name, URL or ARN. */
  deadLetterQueue?: string;
  maxReceiveCount?: number;
  /** Same as deadLetterQueue + maxReceiveCount. */
  redrive?: { deadLetterQueue: string; maxReceiveCount: number };
}

export interface SqsMessageView {
  messageId: string;
  body: string;
  receiveCount: number;
  /** Receivable now. */
  visible: boolean;
  /** Received and hidden by its visibility timeout. */
  inFlight: boolean;
  /** Sent with a delay that has not passed yet. */
  delayed: boolean;
  deleted: boolean;
  sentAt: number;
  firstReceivedAt?: number;
  deletedAt?: number;
  messageAttributes: Record<string, MessageAttributeValue>;
  deadLetterSourceArn?: string;
}

const SYSTEM_ATTRIBUTES = [
  'SenderId',
  'SentTimestamp',
  'ApproximateReceiveCount',
  'ApproximateFirstReceiveTimestamp',
  'DeadLetterQueueSourceArn',
];
const SENDER_ID = 'AIDAEMULATOREXAMPLE01';
const MAX_WAIT_SECONDS = 20;
const MAX_VISIBILITY_SECONDS = 43200;

function json(value: unknown): EmulatorResponse {
  return {
    status: 200,
    headers: { 'content-type': 'application/x-amz-json-1.0' },
    body: JSON.stringify(value),
  };
}

function invalidParameter(name: string, value: unknown, reason: string): EmulatorError {
  return new EmulatorError(
    'InvalidParameterValue',
    `Value ${String(value)} for parameter ${name} is invalid. Reason: ${reason}`,
  );
}

/** An optional integer parameter within [min, max], or the fallback. */
function intParam(
  input: Record<string, unknown>,
  name: string,
  min: number,
  max: number,
  fallback: number,
  reason: string,
): number {
  const raw = input[name];
  if (raw === undefined || raw === null) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw invalidParameter(name, raw, reason);
  return n;
}

function requiredString(input: Record<string, unknown>, name: string): string {
  const v = input[name];
  if (typeof v !== 'string' || v === '') {
    throw new EmulatorError('MissingParameter', `The request must contain the parameter ${name}.`);
  }
  return v;
}

export class SqsService implements ServiceHandler {
  readonly service = 'sqs' as const;
  timeScale: number;
  private readonly accountId: string;
  private readonly region: string;
  private readonly queues = new Map<string, SqsQueue>();
  /** Queue name → when it was deleted (QueueDeletedRecently). */
  private readonly deletedAt = new Map<string, number>();
  recreateAfterDeleteMs: number;
  private baseUrl = 'http://127.0.0.1';
  private stopped = false;
  private readonly stopListeners = new Set<() => void>();

  constructor(
    readonly ctx: EmulatorContext,
    options: SqsServiceOptions = {},
  ) {
    this.timeScale = options.timeScale ?? 1;
    this.recreateAfterDeleteMs = options.recreateAfterDeleteMs ?? 60000;
    this.accountId = options.accountId ?? '123456789012';
    this.region = options.region ?? 'us-east-1';
  }

  configure(input: { timeScale?: number; recreateAfterDeleteMs?: number }): void {
    if (input.timeScale !== undefined) {
      if (!(input.timeScale > 0)) throw new Error('emulator sqs: timeScale must be > 0');
      this.timeScale = input.timeScale;
    }
    if (input.recreateAfterDeleteMs !== undefined) this.recreateAfterDeleteMs = input.recreateAfterDeleteMs;
  }

  /** Names of the queues that exist now. */
  queueNames(): string[] {
    return [...this.queues.keys()];
  }

  /** The queue's access policy as set (JSON text), if any. */
  queuePolicy(queue: string): string | undefined {
    return this.queue(queue).settings.policy;
  }

  /** Deletes a queue as DeleteQueue does (its name is then refused for recreateAfterDeleteMs). */
  deleteQueue(queue: string): void {
    const q = this.queue(queue);
    this.queues.delete(q.name);
    this.deletedAt.set(q.name, this.ctx.now());
    // Long polls waiting on it end now, as they do on SQS.
    q.notify();
  }

  /**
   * SNS → SQS delivery: the queue must exist and its policy must allow sqs:SendMessage to the SNS
   * service principal (or everyone) for this topic. Returns the message id, or why it was refused.
   */
  deliverFromTopic(
    queueArn: string,
    topicArn: string,
    body: string,
  ): { messageId?: string; refused?: string } {
    const q = this.queues.get(this.nameOf(queueArn));
    if (!q || q.arn !== queueArn) return { refused: 'queue does not exist' };
    if (!policyAllowsTopic(q.settings.policy, q.arn, topicArn))
      return { refused: 'queue policy does not allow the topic' };
    return { messageId: this.send(q.url, body) };
  }

  /** Queue URLs point at the emulator itself; the server tells us its URL once it listens. */
  setBaseUrl(url: string): void {
    this.baseUrl = url.replace(/\/+$/, '');
    for (const q of this.queues.values()) q.url = this.urlOf(q.name);
  }

  createQueue(name: string, opts: CreateQueueOptions = {}): string {
    const existing = this.queues.get(name);
    if (existing) return existing.url;
    const dlq = opts.redrive?.deadLetterQueue ?? opts.deadLetterQueue;
    const maxReceiveCount = opts.redrive?.maxReceiveCount ?? opts.maxReceiveCount;
    let redrive: QueueSettings['redrive'];
    if (dlq !== undefined) {
      const dlqName = this.nameOf(dlq);
      if (!this.queues.has(dlqName)) this.createQueue(dlqName);
      redrive = { deadLetterTargetArn: this.arnOf(dlqName), maxReceiveCount: maxReceiveCount ?? 10 };
    }
    const q = new SqsQueue(
      name,
      this.urlOf(name),
      this.arnOf(name),
      {
        visibilityTimeoutSeconds: opts.visibilityTimeoutSeconds ?? 30,
        delaySeconds: opts.delaySeconds ?? 0,
        receiveWaitTimeSeconds: opts.receiveWaitTimeSeconds ?? 0,
        redrive,
      },
      this.ctx.now(),
    );
    this.queues.set(name, q);
    return q.url;
  }

  queueUrl(name: string): string | undefined {
    return this.queues.get(name)?.url;
  }

  send(
    queue: string,
    body: string,
    opts: { delaySeconds?: number; messageAttributes?: Record<string, MessageAttributeValue> } = {},
  ): string {
    const q = this.queue(queue);
    const now = this.ctx.now();
    const delay = opts.delaySeconds ?? q.settings.delaySeconds;
    const message: StoredMessage = {
      messageId: randomUUID(),
      body,
      md5OfBody: md5Hex(body),
      messageAttributes: opts.messageAttributes ?? {},
      sentAt: now,
      visibleAt: now + this.ms(delay),
      receiveCount: 0,
      deleted: false,
    };
    q.add(message);
    if (delay > 0) this.wakeAt(q, message.visibleAt);
    return message.messageId;
  }

  messages(queue: string): SqsMessageView[] {
    const now = this.ctx.now();
    return this.queue(queue).messages.map((m) => this.view(m, now));
  }

  deleted(queue: string): SqsMessageView[] {
    return this.messages(queue).filter((m) => m.deleted);
  }

  deletedCount(queue: string): number {
    return this.queue(queue).deletedCount;
  }

  releasedCount(queue: string): number {
    return this.queue(queue).releasedCount;
  }

  visibilityChanges(queue: string): VisibilityChange[] {
    return [...this.queue(queue).visibilityChanges];
  }

  stats(queue: string): { visible: number; inFlight: number; delayed: number; deleted: number } {
    const q = this.queue(queue);
    return { ...q.counts(this.ctx.now()), deleted: q.deletedCount };
  }

  snapshot(): unknown {
    return [...this.queues.values()].map((q) => ({
      name: q.name,
      url: q.url,
      redrivePolicy: q.settings.redrive,
      deletedCount: q.deletedCount,
      messages: this.messages(q.url),
    }));
  }

  /** Ends every long poll now (answering no messages) and refuses to start new waits. */
  stop(): void {
    this.stopped = true;
    for (const l of [...this.stopListeners]) l();
  }

  async handle(req: EmulatorRequest): Promise<EmulatorResponse> {
    const input = req.json;
    switch (req.action) {
      case 'CreateQueue':
        return json({ QueueUrl: this.createQueueFromWire(input) });
      case 'GetQueueUrl': {
        const q = this.queues.get(requiredString(input, 'QueueName'));
        if (!q) throw nonExistent();
        return json({ QueueUrl: q.url });
      }
      case 'ListQueues': {
        const prefix = typeof input.QueueNamePrefix === 'string' ? input.QueueNamePrefix : '';
        const urls = [...this.queues.values()].filter((q) => q.name.startsWith(prefix)).map((q) => q.url);
        return json(urls.length ? { QueueUrls: urls } : {});
      }
      case 'DeleteQueue':
        this.deleteQueue(this.queueFromInput(input).url);
        return json({});
      case 'PurgeQueue':
        this.queueFromInput(input).purge(this.ctx.now());
        return json({});
      case 'GetQueueAttributes':
        return json({ Attributes: this.attributes(this.queueFromInput(input), input.AttributeNames) });
      case 'SetQueueAttributes': {
        const q = this.queueFromInput(input);
        q.settings = this.settingsFrom((input.Attributes ?? {}) as Record<string, string>, q.settings);
        q.lastModifiedAt = this.ctx.now();
        return json({});
      }
      case 'SendMessage':
        return json(this.sendFromWire(this.queueFromInput(input), input));
      case 'SendMessageBatch':
        return json(this.batch(input, (q, entry) => ({ Id: entry.Id, ...this.sendFromWire(q, entry) })));
      case 'ReceiveMessage':
        return json(await this.receive(input, req.signal));
      case 'DeleteMessage': {
        const q = this.queueFromInput(input);
        q.delete(this.messageByHandle(q, requiredString(input, 'ReceiptHandle')), this.ctx.now());
        return json({});
      }
      case 'DeleteMessageBatch':
        return json(
          this.batch(input, (q, entry) => {
            q.delete(this.messageByHandle(q, requiredString(entry, 'ReceiptHandle')), this.ctx.now());
            return { Id: entry.Id };
          }),
        );
      case 'ChangeMessageVisibility':
        this.changeVisibility(this.queueFromInput(input), input);
        return json({});
      case 'ChangeMessageVisibilityBatch':
        return json(
          this.batch(input, (q, entry) => {
            this.changeVisibility(q, entry);
            return { Id: entry.Id };
          }),
        );
      default:
        throw new EmulatorError('InvalidAction', `${req.action} is not implemented by the emulator`, 400);
    }
  }

  // ---- wire helpers -------------------------------------------------------------------------

  private createQueueFromWire(input: Record<string, unknown>): string {
    const name = requiredString(input, 'QueueName');
    if (!/^[A-Za-z0-9_-]{1,80}$/.test(name)) {
      throw new EmulatorError(
        'InvalidParameterValue',
        'Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length',
      );
    }
    const attrs = (input.Attributes ?? {}) as Record<string, string>;
    const settings = this.settingsFrom(attrs, {
      visibilityTimeoutSeconds: 30,
      delaySeconds: 0,
      receiveWaitTimeSeconds: 0,
    });
    const existing = this.queues.get(name);
    const deletedAt = this.deletedAt.get(name);
    if (!existing && deletedAt !== undefined && this.ctx.now() - deletedAt < this.recreateAfterDeleteMs) {
      throw new EmulatorError(
        'QueueDeletedRecently',
        'You must wait 60 seconds after deleting a queue before you can create another with the same name.',
      );
    }
    if (existing) {
      for (const key of [
        'visibilityTimeoutSeconds',
        'delaySeconds',
        'receiveWaitTimeSeconds',
        'policy',
      ] as const) {
        if (attrs[attrName(key)] !== undefined && existing.settings[key] !== settings[key]) {
          throw new EmulatorError(
            'QueueAlreadyExists',
            `A queue already exists with the same name and a different value for attribute ${attrName(key)}`,
          );
        }
      }
      return existing.url;
    }
    const url = this.createQueue(name);
    this.queues.get(name)!.settings = settings;
    return url;
  }

  private settingsFrom(attrs: Record<string, string>, base: QueueSettings): QueueSettings {
    const out: QueueSettings = { ...base };
    const num = (key: string, min: number, max: number): number | undefined => {
      if (attrs[key] === undefined) return undefined;
      const n = Number(attrs[key]);
      if (!Number.isInteger(n) || n < min || n > max) {
        throw new EmulatorError('InvalidAttributeValue', `Invalid value for the parameter ${key}.`);
      }
      return n;
    };
    out.visibilityTimeoutSeconds =
      num('VisibilityTimeout', 0, MAX_VISIBILITY_SECONDS) ?? out.visibilityTimeoutSeconds;
    out.delaySeconds = num('DelaySeconds', 0, 900) ?? out.delaySeconds;
    out.receiveWaitTimeSeconds =
      num('ReceiveMessageWaitTimeSeconds', 0, MAX_WAIT_SECONDS) ?? out.receiveWaitTimeSeconds;
    if (attrs.Policy !== undefined) {
      if (attrs.Policy === '') out.policy = undefined;
      else {
        try {
          const parsed: unknown = JSON.parse(attrs.Policy);
          if (!parsed || typeof parsed !== 'object') throw new Error('not an object');
        } catch {
          throw new EmulatorError('InvalidAttributeValue', 'Invalid value for the parameter Policy.');
        }
        out.policy = attrs.Policy;
      }
    }
    if (attrs.RedrivePolicy !== undefined) {
      if (attrs.RedrivePolicy === '') {
        out.redrive = undefined;
      } else {
        let policy: { deadLetterTargetArn?: unknown; maxReceiveCount?: unknown };
        try {
          policy = JSON.parse(attrs.RedrivePolicy) as typeof policy;
        } catch {
          throw new EmulatorError(
            'InvalidAttributeValue',
            `Value ${attrs.RedrivePolicy} for parameter RedrivePolicy is invalid. Reason: Redrive policy is not a valid JSON map.`,
          );
        }
        const target = String(policy.deadLetterTargetArn ?? '');
        const max = Number(policy.maxReceiveCount);
        if (!this.queues.has(this.nameOf(target))) {
          throw new EmulatorError(
            'InvalidAttributeValue',
            `Value ${attrs.RedrivePolicy} for parameter RedrivePolicy is invalid. Reason: Dead-letter target does not exist.`,
          );
        }
        if (!Number.isInteger(max) || max < 1 || max > 1000) {
          throw new EmulatorError(
            'InvalidAttributeValue',
            `Value ${attrs.RedrivePolicy} for parameter RedrivePolicy is invalid. Reason: Invalid value for maxReceiveCount: ${String(policy.maxReceiveCount)}, valid values are from 1 to 1000 both inclusive.`,
          );
        }
        out.redrive = { deadLetterTargetArn: this.arnOf(this.nameOf(target)), maxReceiveCount: max };
      }
    }
    return out;
  }

  private sendFromWire(
    q: SqsQueue,
    input: Record<string, unknown>,
  ): { MessageId: string; MD5OfMessageBody: string; MD5OfMessageAttributes?: string } {
    const body = input.MessageBody;
    if (typeof body !== 'string' || body.length === 0) {
      throw new EmulatorError('MissingParameter', 'The request must contain the parameter MessageBody.');
    }
    if (Buffer.byteLength(body) > 262144) {
      throw invalidParameter('MessageBody', '(too long)', 'Message must be shorter than 262144 bytes.');
    }
    const delaySeconds = intParam(
      input,
      'DelaySeconds',
      0,
      900,
      q.settings.delaySeconds,
      'Must be >= 0 and <= 900, if provided.',
    );
    const messageAttributes = (input.MessageAttributes ?? {}) as Record<string, MessageAttributeValue>;
    const id = this.send(q.url, body, { delaySeconds, messageAttributes });
    const out: { MessageId: string; MD5OfMessageBody: string; MD5OfMessageAttributes?: string } = {
      MessageId: id,
      MD5OfMessageBody: md5Hex(body),
    };
    const attrMd5 = md5OfMessageAttributes(messageAttributes);
    if (attrMd5) out.MD5OfMessageAttributes = attrMd5;
    return out;
  }

  /** Batch actions: each entry succeeds or fails on its own, as on SQS. */
  private batch(
    input: Record<string, unknown>,
    each: (q: SqsQueue, entry: Record<string, unknown>) => Record<string, unknown>,
  ): { Successful: unknown[]; Failed: unknown[] } {
    const q = this.queueFromInput(input);
    const entries = (input.Entries ?? []) as Array<Record<string, unknown>>;
    if (entries.length === 0) {
      throw new EmulatorError('EmptyBatchRequest', 'There should be at least one entry in the request.');
    }
    if (entries.length > 10) {
      throw new EmulatorError(
        'TooManyEntriesInBatchRequest',
        'Maximum number of entries per request are 10.',
      );
    }
    const ids = new Set(entries.map((e) => e.Id));
    if (ids.size !== entries.length) {
      throw new EmulatorError('BatchEntryIdsNotDistinct', 'Two or more batch entries have the same Id.');
    }
    const Successful: unknown[] = [];
    const Failed: unknown[] = [];
    for (const entry of entries) {
      try {
        Successful.push(each(q, entry));
      } catch (err) {
        if (!(err instanceof EmulatorError)) throw err;
        Failed.push({ Id: entry.Id, SenderFault: err.status < 500, Code: err.code, Message: err.message });
      }
    }
    return { Successful, Failed };
  }

  private async receive(
    input: Record<string, unknown>,
    signal?: AbortSignal,
  ): Promise<{ Messages?: unknown[] }> {
    const q = this.queueFromInput(input);
    const max = intParam(input, 'MaxNumberOfMessages', 1, 10, 1, 'Must be between 1 and 10, if provided.');
    const waitSeconds = intParam(
      input,
      'WaitTimeSeconds',
      0,
      MAX_WAIT_SECONDS,
      q.settings.receiveWaitTimeSeconds,
      'Must be >= 0 and <= 20, if provided.',
    );
    const visibilitySeconds = intParam(
      input,
      'VisibilityTimeout',
      0,
      MAX_VISIBILITY_SECONDS,
      q.settings.visibilityTimeoutSeconds,
      'Must be between 0 and 43200, if provided.',
    );
    const systemNames = new Set([
      ...((input.AttributeNames ?? []) as string[]),
      ...((input.MessageSystemAttributeNames ?? []) as string[]),
    ]);
    const attributeNames = (input.MessageAttributeNames ?? []) as string[];
    const deadline = this.ctx.now() + this.ms(waitSeconds);
    for (;;) {
      const taken = this.take(q, max, visibilitySeconds);
      if (taken.length)
        return { Messages: taken.map((m) => this.wireMessage(m, systemNames, attributeNames)) };
      const now = this.ctx.now();
      if (now >= deadline || this.stopped || signal?.aborted || !this.queues.has(q.name)) return {};
      await this.waitForChange(q, Math.min(deadline, q.nextVisibleAt(now) ?? deadline) - now, signal);
    }
  }

  /** Resolves when the queue changes, `ms` pass, the client hangs up or the emulator stops. */
  private waitForChange(q: SqsQueue, ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        offChange();
        this.stopListeners.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      // +1 ms: timers may fire a hair before Date.now() reaches the deadline.
      const timer = setTimeout(done, Math.max(0, ms) + 1);
      const offChange = q.onChange(done);
      this.stopListeners.add(done);
      signal?.addEventListener('abort', done);
    });
  }

  /** Delayed messages: nothing else would wake a long poll when their delay ends. */
  private wakeAt(q: SqsQueue, at: number): void {
    const timer = setTimeout(
      () => {
        this.stopListeners.delete(cancel);
        q.notify();
      },
      at - this.ctx.now() + 1,
    );
    const cancel = () => clearTimeout(timer);
    this.stopListeners.add(cancel);
  }

  /** Receives up to `max` messages, redriving those past maxReceiveCount to the dead-letter queue. */
  private take(q: SqsQueue, max: number, visibilitySeconds: number): StoredMessage[] {
    const now = this.ctx.now();
    const out: StoredMessage[] = [];
    for (const m of q.receivable(now)) {
      if (out.length >= max) break;
      const redrive = q.settings.redrive;
      const dlq = redrive && this.queues.get(this.nameOf(redrive.deadLetterTargetArn));
      if (redrive && dlq && m.receiveCount >= redrive.maxReceiveCount) {
        // The receive after the limit moves the message instead of delivering it.
        q.remove(m);
        dlq.add({
          ...m,
          visibleAt: now,
          receiptHandle: undefined,
          deletedAt: undefined,
          deadLetterSourceArn: q.arn,
        });
        continue;
      }
      q.markReceived(m, now, this.ms(visibilitySeconds));
      out.push(m);
    }
    return out;
  }

  private wireMessage(m: StoredMessage, systemNames: Set<string>, attributeNames: string[]): unknown {
    const all = systemNames.has('All');
    const system: Record<string, string | undefined> = {
      SenderId: SENDER_ID,
      SentTimestamp: String(m.sentAt),
      ApproximateReceiveCount: String(m.receiveCount),
      ApproximateFirstReceiveTimestamp:
        m.firstReceivedAt !== undefined ? String(m.firstReceivedAt) : undefined,
      DeadLetterQueueSourceArn: m.deadLetterSourceArn,
    };
    const attributes: Record<string, string> = {};
    for (const name of SYSTEM_ATTRIBUTES) {
      const value = system[name];
      if ((all || systemNames.has(name)) && value !== undefined) attributes[name] = value;
    }
    const messageAttributes: Record<string, MessageAttributeValue> = {};
    for (const [name, value] of Object.entries(m.messageAttributes)) {
      const wanted = attributeNames.some(
        (n) =>
          n === 'All' || n === '.*' || n === name || (n.endsWith('.*') && name.startsWith(n.slice(0, -1))),
      );
      if (wanted) messageAttributes[name] = value;
    }
    const out: Record<string, unknown> = {
      MessageId: m.messageId,
      ReceiptHandle: m.receiptHandle,
      MD5OfBody: m.md5OfBody,
      Body: m.body,
    };
    if (Object.keys(attributes).length) out.Attributes = attributes;
    if (Object.keys(messageAttributes).length) {
      out.MessageAttributes = messageAttributes;
      out.MD5OfMessageAttributes = md5OfMessageAttributes(messageAttributes);
    }
    return out;
  }

  private messageByHandle(q: SqsQueue, handle: string): StoredMessage {
    const m = q.byHandle(handle);
    if (!m) {
      throw new EmulatorError(
        'ReceiptHandleIsInvalid',
        `The input receipt handle "${handle}" is not a valid receipt handle.`,
        404,
      );
    }
    return m;
  }

  private changeVisibility(q: SqsQueue, input: Record<string, unknown>): void {
    const seconds = input.VisibilityTimeout;
    const n = Number(seconds);
    if (seconds === undefined || !Number.isInteger(n) || n < 0 || n > MAX_VISIBILITY_SECONDS) {
      throw invalidParameter('VisibilityTimeout', seconds, 'Must be between 0 and 43200.');
    }
    const m = this.messageByHandle(q, requiredString(input, 'ReceiptHandle'));
    const now = this.ctx.now();
    if (m.deleted || m.visibleAt <= now) {
      throw new EmulatorError(
        'MessageNotInflight',
        'Message does not exist or is not available for visibility timeout change.',
      );
    }
    q.changeVisibility(m, now, n, this.ms(n));
  }

  private attributes(q: SqsQueue, requested: unknown): Record<string, string> {
    const now = this.ctx.now();
    const counts = q.counts(now);
    const all: Record<string, string | undefined> = {
      QueueArn: q.arn,
      ApproximateNumberOfMessages: String(counts.visible),
      ApproximateNumberOfMessagesNotVisible: String(counts.inFlight),
      ApproximateNumberOfMessagesDelayed: String(counts.delayed),
      CreatedTimestamp: String(Math.floor(q.createdAt / 1000)),
      LastModifiedTimestamp: String(Math.floor(q.lastModifiedAt / 1000)),
      VisibilityTimeout: String(q.settings.visibilityTimeoutSeconds),
      MaximumMessageSize: '262144',
      MessageRetentionPeriod: '345600',
      DelaySeconds: String(q.settings.delaySeconds),
      ReceiveMessageWaitTimeSeconds: String(q.settings.receiveWaitTimeSeconds),
      SqsManagedSseEnabled: 'true',
      RedrivePolicy: q.settings.redrive ? JSON.stringify(q.settings.redrive) : undefined,
      Policy: q.settings.policy,
    };
    const names = Array.isArray(requested) && requested.length ? (requested as string[]) : [];
    const out: Record<string, string> = {};
    for (const name of names.includes('All') ? Object.keys(all) : names) {
      if (!(name in all)) throw new EmulatorError('InvalidAttributeName', `Unknown Attribute ${name}.`);
      const v = all[name];
      if (v !== undefined) out[name] = v;
    }
    return out;
  }

  // ---- names, URLs, time ----------------------------------------------------------------

  private ms(seconds: number): number {
    return seconds * 1000 * this.timeScale;
  }

  private urlOf(name: string): string {
    return `${this.baseUrl}/${this.accountId}/${name}`;
  }

  private arnOf(name: string): string {
    return `arn:aws:sqs:${this.region}:${this.accountId}:${name}`;
  }

  /** Queue name from a URL (`…/123456789012/name`), an ARN or a bare name. */
  private nameOf(ref: string): string {
    if (ref.startsWith('arn:')) return ref.split(':').pop() ?? '';
    if (/^https?:\/\//.test(ref)) return ref.replace(/\/+$/, '').split('/').pop() ?? '';
    return ref;
  }

  private queue(ref: string): SqsQueue {
    const q = this.queues.get(this.nameOf(ref));
    if (!q) throw nonExistent();
    return q;
  }

  private queueFromInput(input: Record<string, unknown>): SqsQueue {
    return this.queue(requiredString(input, 'QueueUrl'));
  }

  private view(m: StoredMessage, now: number): SqsMessageView {
    const hidden = !m.deleted && m.visibleAt > now;
    return {
      messageId: m.messageId,
      body: m.body,
      receiveCount: m.receiveCount,
      visible: !m.deleted && !hidden,
      inFlight: hidden && m.receiveCount > 0,
      delayed: hidden && m.receiveCount === 0,
      deleted: m.deleted,
      sentAt: m.sentAt,
      firstReceivedAt: m.firstReceivedAt,
      deletedAt: m.deletedAt,
      messageAttributes: { ...m.messageAttributes },
      deadLetterSourceArn: m.deadLetterSourceArn,
    };
  }
}

function attrName(key: keyof QueueSettings): string {
  return {
    visibilityTimeoutSeconds: 'VisibilityTimeout',
    delaySeconds: 'DelaySeconds',
    receiveWaitTimeSeconds: 'ReceiveMessageWaitTimeSeconds',
    redrive: 'RedrivePolicy',
    policy: 'Policy',
  }[key];
}

/** IAM-style wildcard match (`*`, `?`). */
function glob(pattern: string, value: string): boolean {
  const escaped = pattern.replace(/[.+^$()|[\]\\{}]/g, (c) => `\\${c}`);
  return new RegExp(`^${escaped.replace(/\*/g, '.*').replace(/\?/g, '.')}$`).test(value);
}

/**
 * Whether a queue policy lets the SNS topic send: an Allow statement for sqs:SendMessage (or sqs:*,
 * *) on this queue (or *), to the principal `sns.amazonaws.com` service or `*`, whose condition (if
 * any) names the topic by aws:SourceArn (ArnEquals / ArnLike / StringEquals / StringLike). A Deny
 * that matches wins. No policy: nothing from SNS gets in.
 */
export function policyAllowsTopic(
  policyText: string | undefined,
  queueArn: string,
  topicArn: string,
): boolean {
  if (!policyText) return false;
  type Statement = {
    Effect?: string;
    Principal?: unknown;
    Action?: string | string[];
    Resource?: string | string[];
    Condition?: Record<string, Record<string, string | string[]>>;
  };
  let statements: Statement[];
  try {
    const doc = JSON.parse(policyText) as { Statement?: Statement | Statement[] };
    statements = Array.isArray(doc.Statement) ? doc.Statement : doc.Statement ? [doc.Statement] : [];
  } catch {
    return false;
  }
  const list = (v: unknown): string[] =>
    Array.isArray(v) ? v.map(String) : v === undefined ? [] : [String(v)];
  const applies = (s: Statement): boolean => {
    const principal = s.Principal;
    const principalOk =
      principal === '*' ||
      (principal !== null &&
        typeof principal === 'object' &&
        (list((principal as Record<string, unknown>).Service).includes('sns.amazonaws.com') ||
          list((principal as Record<string, unknown>).AWS).includes('*')));
    const actionOk = list(s.Action).some((a) => ['sqs:SendMessage', 'sqs:*', '*'].includes(a));
    const resourceOk = list(s.Resource).some((r) => glob(r, queueArn));
    const conditionOk = Object.entries(s.Condition ?? {}).every(([op, kv]) =>
      Object.entries(kv).every(([key, values]) => {
        if (key.toLowerCase() !== 'aws:sourcearn') return false;
        const exact = op === 'ArnEquals' || op === 'StringEquals';
        return list(values).some((v) => (exact ? v === topicArn : glob(v, topicArn)));
      }),
    );
    return principalOk && actionOk && resourceOk && conditionOk;
  };
  if (statements.some((s) => s.Effect === 'Deny' && applies(s))) return false;
  return statements.some((s) => s.Effect === 'Allow' && applies(s));
}

function nonExistent(): EmulatorError {
  return new EmulatorError('QueueDoesNotExist', 'The specified queue does not exist.', 400);
}
