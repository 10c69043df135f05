import type { AcceptResult, MessagePort } from '../../lib/episode/ports';
import type { EpisodeState } from '../../lib/episode/journal';
import type { HostIdentity } from '../../lib/sources/instance-identity';
import type { TerminationNotice } from '../../lib/notice';
import { errorCodeOf, isFilterPolicyLimitExceeded } from '../../lib/aws/errors';
import { HostQueue, queueRetirement } from '../../lib/sources/host-queue';
import { SqsConsumer } from '../../lib/sources/sqs-consumer';
import type { RunContext } from './run';

/**
 * The daemon's SQS source in either topology. Per-host (`sources.sqs.topicArn`, the standard): the
 * queue `teardownd-<instance-id>` is set up at start (first attempt before `ready`, then retried in
 * the background with backoff, so an SNS outage never keeps IMDS from watching), consumed, and
 * retired once a terminate episode is over. Shared (`sources.sqs.queueUrl`): consumed as configured,
 * never created or deleted. It is the coordinator's message port: it holds the episode's messages and
 * is told when the episode closes.
 */
export class SqsSource implements MessagePort {
  private consumer?: SqsConsumer;
  private readonly hostQueue?: HostQueue;
  private readonly consumerStop = new AbortController();
  private loop?: Promise<void>;
  private retired = false;
  /** Dry-run without an existing per-host queue: nothing to consume, and nothing to create. */
  private noQueue = false;

  constructor(
    private readonly ctx: RunContext,
    /** The account and region messages must name (checked by the classifier). */
    private readonly identity: HostIdentity,
    private readonly onNotice: (n: TerminationNotice, m: { messageId: string }) => Promise<AcceptResult>,
  ) {
    const { config, clients, runtime, logger, instanceId, dryRun } = ctx;
    const topicArn = config.sources.sqs.topicArn;
    if (topicArn) {
      this.hostQueue = new HostQueue({
        sqs: clients.sqs,
        sns: clients.sns,
        topicArn,
        instanceId,
        config,
        clock: runtime.clock,
        logger,
        dryRun,
        recreateRetryMs: config.sources.sqs.recreateRetryMs,
      });
    } else if (config.sources.sqs.queueUrl) {
      this.consumer = this.consumerFor(config.sources.sqs.queueUrl);
    }
  }

  /** For the `ready` line: what is consumed. */
  get description(): string | null {
    if (this.hostQueue) return `${this.hostQueue.name} ← ${this.ctx.config.sources.sqs.topicArn}`;
    return this.ctx.config.sources.sqs.queueUrl ?? null;
  }

  get enabled(): boolean {
    return !!this.consumer || !!this.hostQueue;
  }

  /**
   * Before `ready`: a host whose terminate episode already closed (a restart after it) removes its
   * queue instead of making it again; otherwise one attempt at setting the queue up.
   */
  async prepare(current: EpisodeState | undefined, signal: AbortSignal): Promise<void> {
    if (!this.hostQueue || this.retired) return;
    if (queueRetirement(current).retire && !this.ctx.dryRun) {
      this.retired = true;
      await this.hostQueue.retire(signal);
      return;
    }
    await this.trySetup(signal, 1);
  }

  /** Consumes until `signal` aborts or the queue is retired; per-host setup is retried meanwhile. */
  run(signal: AbortSignal): Promise<void> {
    this.loop = (async () => {
      const stop = AbortSignal.any([signal, this.consumerStop.signal]);
      const waiting = () =>
        this.hostQueue && !this.consumer && !this.retired && !this.noQueue && !stop.aborted;
      for (let attempt = 2; waiting(); attempt++) {
        const delayMs = Math.min(30000, 1000 * 2 ** Math.min(5, attempt - 2));
        try {
          await this.ctx.runtime.clock.sleep(delayMs, stop);
        } catch {
          return;
        }
        await this.trySetup(stop, attempt);
      }
      if (this.consumer && !this.retired) await this.consumer.run(stop);
    })();
    return this.loop;
  }

  /** A finished terminate episode takes the per-host queue with it. */
  async episodeClosed(state: EpisodeState): Promise<void> {
    if (!this.hostQueue || this.retired) return;
    const { logger, instanceId } = this.ctx;
    const verdict = queueRetirement(state);
    if (!verdict.retire) {
      logger.info('per-host queue kept', {
        instanceId,
        episode: state.episode,
        stage: 'sqs-retire',
        resource: this.hostQueue.name,
        reason: verdict.reason,
      });
      return;
    }
    this.retired = true;
    // Stop receiving first: a long poll on a deleted queue would only fail and back off.
    this.consumerStop.abort(new Error('per-host queue retired'));
    await this.loop?.catch(() => undefined);
    await this.hostQueue.retire();
  }

  extend(ids: string[], seconds: number): Promise<void> {
    return this.consumer?.extend(ids, seconds) ?? Promise.resolve();
  }
  delete(ids: string[]): Promise<string[]> {
    return this.consumer?.delete(ids) ?? Promise.resolve([]);
  }

  private async trySetup(signal: AbortSignal, attempt: number): Promise<void> {
    try {
      const ref = await this.hostQueue!.ensure(signal);
      if (ref) this.consumer = this.consumerFor(ref.queueUrl, true);
      else this.noQueue = true;
    } catch (err) {
      if (signal.aborted) return;
      const code = errorCodeOf(err);
      if (attempt === 1 || attempt % 10 === 0) {
        this.ctx.logger.error('per-host queue setup failed; retrying (IMDS still watches meanwhile)', {
          instanceId: this.ctx.instanceId,
          stage: 'sqs-setup',
          resource: this.hostQueue!.name,
          errorCode: code,
          error: (err as Error).message,
          attempt,
          ...(isFilterPolicyLimitExceeded(err)
            ? { hint: 'the topic has 200 filter policies (SNS default quota): raise it or split the group' }
            : {}),
        });
      }
    }
  }

  private consumerFor(queueUrl: string, ownQueue = false): SqsConsumer {
    const { clients, runtime, logger, instanceId, dryRun } = this.ctx;
    let config = this.ctx.config;
    if (ownQueue) {
      // Nobody else reads this host's queue: anything about another instance that slipped past the
      // filter (a message published straight to the queue) would only come back forever.
      const sqs = { ...config.sources.sqs, foreignMessages: 'delete' as const };
      config = { ...config, sources: { ...config.sources, sqs } };
    }
    return new SqsConsumer({
      sqs: clients.sqs,
      queueUrl,
      config,
      clock: runtime.clock,
      logger,
      instanceId,
      identity: this.identity,
      dryRun,
      onNotice: this.onNotice,
    });
  }
}
