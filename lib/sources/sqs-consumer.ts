import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  Message,
  ReceiveMessageCommand,
  ReceiveMessageResult,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { AwsCallOptions, awsCall, AwsCommand } from '../aws/call';
import { errorCodeOf } from '../aws/errors';
import { Clock } from '../clock';
import { Config } from '../config/schema';
import type { AcceptResult, HeldMessages } from '../episode/ports';
import { Logger } from '../log';
import { TerminationNotice } from '../notice';
import { HostIdentity } from './instance-identity';
import { classifyMessage, Classification, MessageDecision } from './sqs-messages';

/**
 * Long-polls the queue. `receiveOnce` receives one batch, classifies every message (pure, in
 * sqs-messages.ts), hands terminations of this instance to the coordinator and applies each
 * message's explicit decision, logging it with the message id. A message that makes processing
 * throw is a recorded result (`retain`: it comes back after its visibility timeout, and the queue's
 * redrive policy dead-letters it), never a crash. The consumer also keeps the receipt handles of
 * messages an episode holds, so the coordinator can extend, delete or release them by id.
 */
export interface SqsConsumerDeps {
  sqs: SQSClient;
  queueUrl: string;
  config: Config;
  clock: Clock;
  logger: Logger;
  instanceId: string;
  /** This host's account and region; a message from another one is foreign (see sqs-messages). */
  identity?: HostIdentity;
  /** Dry-run: nothing is deleted; a would-be delete is left in flight (`retain`). */
  dryRun: boolean;
  /** Uniform in [0, 1): the jitter of foreign-message delays (default Math.random). */
  random?: () => number;
  /** The coordinator's `accept`. */
  onNotice: (notice: TerminationNotice, message: { messageId: string }) => Promise<AcceptResult>;
}

export interface MessageOutcome {
  messageId: string;
  category: Classification['category'] | 'error';
  decision: MessageDecision;
  /** False when applying the decision failed (the message then simply comes back). */
  applied: boolean;
}

export class SqsConsumer implements HeldMessages {
  /** messageId → latest receipt handle, for messages an episode holds. */
  private readonly handles = new Map<string, string>();
  private consecutiveFailures = 0;

  constructor(private readonly deps: SqsConsumerDeps) {}

  /** One SQS call through the one call path (lib/aws/call.ts). */
  private async call<O>(command: AwsCommand, options: AwsCallOptions, signal?: AbortSignal): Promise<O> {
    const { sqs, config, clock, logger } = this.deps;
    return (await awsCall<O>({ clock, config, logger, signal }, sqs, command, options)).output;
  }

  /** One ReceiveMessage long poll and the handling of every message it returned. */
  async receiveOnce(signal?: AbortSignal): Promise<MessageOutcome[]> {
    const { queueUrl, config } = this.deps;
    const c = config.sources.sqs;
    const out = await this.call<ReceiveMessageResult>(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: c.maxMessages,
        WaitTimeSeconds: c.waitTimeSeconds,
        VisibilityTimeout: c.visibilityTimeoutSeconds,
        MessageSystemAttributeNames: ['ApproximateReceiveCount', 'SentTimestamp'],
      }),
      // The poll holds the request open for its wait time; `run` is the retry loop.
      { mutating: false, maxAttempts: 1, timeoutMs: c.waitTimeSeconds * 1000 + config.aws.callTimeoutMs },
      signal,
    );
    const outcomes: MessageOutcome[] = [];
    for (const message of out.Messages ?? []) outcomes.push(await this.handle(message));
    return outcomes;
  }

  /** Receives until the signal aborts; failures back off (up to 20 s) instead of spinning. */
  async run(signal: AbortSignal): Promise<void> {
    const { clock, logger } = this.deps;
    while (!signal.aborted) {
      try {
        await this.receiveOnce(signal);
        if (this.consecutiveFailures > 0) logger.info('SQS receive succeeds again', { stage: 'sqs' });
        this.consecutiveFailures = 0;
      } catch (err) {
        if (signal.aborted) break;
        this.consecutiveFailures++;
        const delayMs = Math.min(20000, 500 * 2 ** Math.min(6, this.consecutiveFailures - 1));
        if (this.consecutiveFailures === 1 || this.consecutiveFailures % 10 === 0) {
          logger.warn('SQS receive failed; retrying', {
            stage: 'sqs',
            resource: this.deps.queueUrl,
            action: 'ReceiveMessage',
            errorCode: errorCodeOf(err),
            error: (err as Error).message,
            failures: this.consecutiveFailures,
          });
        }
        try {
          await clock.sleep(delayMs, signal);
        } catch {
          break;
        }
      }
    }
  }

  private async handle(message: Message): Promise<MessageOutcome> {
    const { config, clock, instanceId, logger } = this.deps;
    const messageId = message.MessageId ?? '(no id)';
    const receiveCount = Number(message.Attributes?.ApproximateReceiveCount ?? '1') || 1;
    let category: MessageOutcome['category'];
    let decision: MessageDecision;
    let format: string | undefined;
    let instanceIds: string[] = [];
    let episode: string | undefined;
    try {
      const c = classifyMessage(message.Body, {
        selfInstanceId: instanceId,
        selfAccountId: this.deps.identity?.accountId,
        selfRegion: this.deps.identity?.region,
        messageId,
        receivedAt: clock.now(),
        receiveCount,
        foreignMessages: config.sources.sqs.foreignMessages,
        foreignReleaseSeconds: this.foreignDelaySeconds(),
        deadLetterAfterReceives: config.sources.sqs.deadLetterAfterReceives,
        teardownOnRebalance: config.sources.teardownOnRebalance,
      });
      ({ category, decision, format, instanceIds } = c);
      if (c.category === 'termination' && c.notice) {
        if (message.ReceiptHandle) this.handles.set(messageId, message.ReceiptHandle);
        const accepted = await this.deps.onNotice(c.notice, { messageId });
        decision = accepted.message ?? decision;
        episode = accepted.episode;
        if (decision.action !== 'retain') this.handles.delete(messageId);
      }
    } catch (err) {
      this.handles.delete(messageId);
      category = 'error';
      decision = {
        action: 'retain',
        reason: `processing failed (${errorCodeOf(err)}: ${(err as Error).message}); it comes back after its visibility timeout`,
      };
    }
    if (this.deps.dryRun && decision.action === 'delete') {
      decision = { action: 'retain', reason: `dry-run: would delete (${decision.reason})` };
    }
    const applied = await this.apply(messageId, message.ReceiptHandle, decision);
    const fields = {
      stage: 'sqs',
      instanceId,
      episode,
      messageId,
      category,
      decision: decision.action,
      reason: decision.reason,
      format,
      about: instanceIds.length ? instanceIds : undefined,
      receiveCount,
      ...(decision.visibilitySeconds !== undefined ? { visibilitySeconds: decision.visibilitySeconds } : {}),
    };
    const text = `sqs message ${decision.action}`;
    if (category === 'malformed' || category === 'error') logger.warn(text, fields);
    else logger.info(text, fields);
    return { messageId, category, decision, applied };
  }

  /** A whole number of seconds in [min, max]: hosts that all release a message do not wake together. */
  private foreignDelaySeconds(): number {
    const { min, max } = this.deps.config.sources.sqs.foreignReleaseSeconds;
    return min + Math.floor((this.deps.random ?? Math.random)() * (max - min + 1));
  }

  private async apply(
    messageId: string,
    receiptHandle: string | undefined,
    decision: MessageDecision,
  ): Promise<boolean> {
    if (decision.action === 'retain') return true;
    if (!receiptHandle) return false;
    const { queueUrl, logger } = this.deps;
    try {
      if (decision.action === 'delete') {
        await this.call(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: receiptHandle }), {
          mutating: true,
        });
      } else {
        await this.call(
          new ChangeMessageVisibilityCommand({
            QueueUrl: queueUrl,
            ReceiptHandle: receiptHandle,
            VisibilityTimeout: decision.visibilitySeconds ?? 0,
          }),
          { mutating: true },
        );
      }
      return true;
    } catch (err) {
      logger.warn(`could not ${decision.action} sqs message`, {
        stage: 'sqs',
        messageId,
        action: decision.action === 'delete' ? 'DeleteMessage' : 'ChangeMessageVisibility',
        errorCode: errorCodeOf(err),
        error: (err as Error).message,
      });
      return false;
    }
  }

  // HeldMessages: the coordinator's handle on the messages of its episode.

  async extend(messageIds: string[], visibilitySeconds: number): Promise<void> {
    for (const id of messageIds) {
      const handle = this.handles.get(id);
      if (handle) await this.apply(id, handle, { action: 'release', visibilitySeconds, reason: 'extend' });
    }
  }

  async delete(messageIds: string[]): Promise<string[]> {
    const done: string[] = [];
    for (const id of messageIds) {
      const handle = this.handles.get(id);
      if (!handle) continue;
      if (await this.apply(id, handle, { action: 'delete', reason: 'episode finished' })) {
        this.handles.delete(id);
        done.push(id);
      }
    }
    return done;
  }

  async release(messageIds: string[]): Promise<string[]> {
    const done: string[] = [];
    for (const id of messageIds) {
      const handle = this.handles.get(id);
      if (!handle) continue;
      if (
        await this.apply(id, handle, { action: 'release', visibilitySeconds: 0, reason: 'episode finished' })
      ) {
        this.handles.delete(id);
        done.push(id);
      }
    }
    return done;
  }
}
