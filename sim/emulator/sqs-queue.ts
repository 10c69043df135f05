import { createHash, randomBytes } from 'node:crypto';

/**
 * One SQS standard queue: the message store and the rules a consumer has to live with. Time is
 * always epoch ms; the service converts the API's seconds (and applies its time scale) before
 * calling in here.
 */
export interface MessageAttributeValue {
  DataType: string;
  StringValue?: string;
  /** Base64, as the JSON protocol carries blobs. */
  BinaryValue?: string;
}

export interface StoredMessage {
  messageId: string;
  body: string;
  md5OfBody: string;
  messageAttributes: Record<string, MessageAttributeValue>;
  sentAt: number;
  /** The message can be received from this time on (delay, visibility timeout). */
  visibleAt: number;
  receiveCount: number;
  firstReceivedAt?: number;
  /** Only the handle of the latest receive is valid. */
  receiptHandle?: string;
  deleted: boolean;
  deletedAt?: number;
  /** Set on a message redriven into this queue: the ARN of the queue it came from. */
  deadLetterSourceArn?: string;
}

export interface RedrivePolicy {
  deadLetterTargetArn: string;
  maxReceiveCount: number;
}

export interface QueueSettings {
  visibilityTimeoutSeconds: number;
  delaySeconds: number;
  receiveWaitTimeSeconds: number;
  redrive?: RedrivePolicy;
  /** The queue's access policy (JSON text), as set; SNS delivery is checked against it. */
  policy?: string;
}

export interface VisibilityChange {
  messageId: string;
  seconds: number;
  at: number;
}

export const md5Hex = (data: string | Buffer): string => createHash('md5').update(data).digest('hex');

/**
 * MD5OfMessageAttributes as SQS computes it: attributes sorted by name, each encoded as
 * length-prefixed name, length-prefixed data type, a transport byte (1 string/number, 2 binary) and
 * the length-prefixed value.
 */
export function md5OfMessageAttributes(attrs: Record<string, MessageAttributeValue>): string | undefined {
  const names = Object.keys(attrs).sort();
  if (names.length === 0) return undefined;
  const parts: Buffer[] = [];
  const lengthPrefixed = (b: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    parts.push(len, b);
  };
  for (const name of names) {
    const a = attrs[name];
    lengthPrefixed(Buffer.from(name, 'utf8'));
    lengthPrefixed(Buffer.from(a.DataType, 'utf8'));
    if (a.BinaryValue !== undefined) {
      parts.push(Buffer.from([2]));
      lengthPrefixed(Buffer.from(a.BinaryValue, 'base64'));
    } else {
      parts.push(Buffer.from([1]));
      lengthPrefixed(Buffer.from(a.StringValue ?? '', 'utf8'));
    }
  }
  return md5Hex(Buffer.concat(parts));
}

export class SqsQueue {
  readonly messages: StoredMessage[] = [];
  readonly visibilityChanges: VisibilityChange[] = [];
  deletedCount = 0;
  releasedCount = 0;
  lastModifiedAt: number;
  private readonly handles = new Map<string, StoredMessage>();
  private readonly listeners = new Set<() => void>();

  constructor(
    readonly name: string,
    public url: string,
    readonly arn: string,
    public settings: QueueSettings,
    readonly createdAt: number,
  ) {
    this.lastModifiedAt = createdAt;
  }

  add(message: StoredMessage): void {
    this.messages.push(message);
    this.notify();
  }

  /** Messages a receive may take now, oldest first. */
  receivable(now: number): StoredMessage[] {
    return this.messages.filter((m) => !m.deleted && m.visibleAt <= now);
  }

  /** Marks a message received: a new receipt handle, hidden for `visibilityMs`. */
  markReceived(m: StoredMessage, now: number, visibilityMs: number): void {
    m.receiveCount++;
    m.firstReceivedAt ??= now;
    m.visibleAt = now + visibilityMs;
    if (m.receiptHandle) this.handles.delete(m.receiptHandle);
    m.receiptHandle = `AQEB${randomBytes(36).toString('base64url')}`;
    this.handles.set(m.receiptHandle, m);
  }

  /** Takes a message out of this queue (redrive to a dead-letter queue). */
  remove(m: StoredMessage): void {
    const i = this.messages.indexOf(m);
    if (i >= 0) this.messages.splice(i, 1);
    if (m.receiptHandle) this.handles.delete(m.receiptHandle);
  }

  /**
   * The message a receipt handle names, or undefined when the handle is unknown or stale (the
   * message was received again since). A deleted message's last handle stays valid, so deleting
   * twice is harmless, as on SQS.
   */
  byHandle(handle: string): StoredMessage | undefined {
    const m = this.handles.get(handle);
    if (!m || m.receiptHandle !== handle) return undefined;
    return m;
  }

  delete(m: StoredMessage, now: number): void {
    if (m.deleted) return;
    m.deleted = true;
    m.deletedAt = now;
    this.deletedCount++;
  }

  changeVisibility(m: StoredMessage, now: number, seconds: number, ms: number): void {
    m.visibleAt = now + ms;
    if (seconds === 0) this.releasedCount++;
    this.visibilityChanges.push({ messageId: m.messageId, seconds, at: now });
    if (seconds === 0) this.notify();
  }

  purge(now: number): void {
    for (const m of this.messages) if (!m.deleted) m.deletedAt = now;
    this.messages.length = 0;
    this.handles.clear();
  }

  /** Earliest time a currently hidden message becomes receivable, if any. */
  nextVisibleAt(now: number): number | undefined {
    let next: number | undefined;
    for (const m of this.messages) {
      if (m.deleted || m.visibleAt <= now) continue;
      if (next === undefined || m.visibleAt < next) next = m.visibleAt;
    }
    return next;
  }

  counts(now: number): { visible: number; inFlight: number; delayed: number } {
    let visible = 0;
    let inFlight = 0;
    let delayed = 0;
    for (const m of this.messages) {
      if (m.deleted) continue;
      if (m.visibleAt <= now) visible++;
      else if (m.receiveCount > 0) inFlight++;
      else delayed++;
    }
    return { visible, inFlight, delayed };
  }

  /** Wakes long polls waiting on this queue. */
  notify(): void {
    for (const l of [...this.listeners]) l();
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
