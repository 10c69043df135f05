import { DeleteNetworkInterfaceCommand, DetachNetworkInterfaceCommand } from '@aws-sdk/client-ec2';
import { classifyAwsError, errorCodeOf } from '../../aws/errors';
import { describeEnis, EniInfo } from '../../discovery/ec2-reads';
import { CallContext } from '../../aws/call';
import { ActionHandler, dryRunFlag } from './handler';

/**
 * loxilb's secondary ENIs: detach (by attachment id, never Force), wait until `available`, delete.
 * InvalidAttachmentID.NotFound on detach and InvalidNetworkInterfaceID.NotFound on delete mean
 * already done. "In use" on delete right after the wait is eventual consistency: retried with backoff until the deadline.
 */
export const detachNetworkInterface: ActionHandler<'DetachNetworkInterface'> = {
  action: 'DetachNetworkInterface',
  command: (p, dryRun) =>
    new DetachNetworkInterfaceCommand({ AttachmentId: p.attachmentId, ...dryRunFlag(dryRun) }),
  manualCommand: (p) => `aws ec2 detach-network-interface --attachment-id ${p.attachmentId}`,
};

export const deleteNetworkInterface: ActionHandler<'DeleteNetworkInterface'> = {
  action: 'DeleteNetworkInterface',
  command: (p, dryRun) =>
    new DeleteNetworkInterfaceCommand({ NetworkInterfaceId: p.networkInterfaceId, ...dryRunFlag(dryRun) }),
  blockedAttempts: 'until-deadline',
  manualCommand: (p) => `aws ec2 delete-network-interface --network-interface-id ${p.networkInterfaceId}`,
};

export class DetachTimeoutError extends Error {
  readonly code = 'DetachTimeout';
  constructor(
    readonly networkInterfaceId: string,
    readonly lastStatus: string | undefined,
    readonly reason: 'timeout' | 'deadline',
  ) {
    super(
      reason === 'deadline'
        ? `${networkInterfaceId} was still ${lastStatus ?? 'detaching'} when the deadline came`
        : `${networkInterfaceId} was still ${lastStatus ?? 'detaching'} after executor.detachTimeoutMs`,
    );
    this.name = 'DetachTimeoutError';
  }
}

/** What a wait ends with: the ENI as last seen (available, or re-attached elsewhere), or gone. */
export type DetachWaitResult = { gone: true } | { gone: false; eni: EniInfo };

interface Waiter {
  id: string;
  until: number;
  reason: 'timeout' | 'deadline';
  lastStatus?: string;
  resolve: (r: DetachWaitResult) => void;
  reject: (e: unknown) => void;
}

/**
 * Waits for detaching ENIs with ONE DescribeNetworkInterfaces per poll for all of them (filtered by
 * network-interface-id, so an id that is already gone is simply absent rather than failing the call).
 * Each waiter resolves as soon as its ENI is available, so its delete starts without waiting for the
 * others. No fixed sleeps: the poll interval is executor.detachPollIntervalMs.
 */
export class DetachWaiter {
  private readonly waiters = new Map<string, Waiter[]>();
  /** Cleared synchronously when the loop exits, so a waiter added at that moment starts a new one. */
  private running = false;

  constructor(
    private readonly ctx: CallContext,
    private readonly pollIntervalMs: number,
    /** The instance being torn down: an ENI seen attached to any other one ends its wait at once. */
    private readonly instanceId: string,
  ) {}

  wait(
    networkInterfaceId: string,
    opts: { timeoutMs: number; deadlineAt?: number },
  ): Promise<DetachWaitResult> {
    const now = this.ctx.clock.now();
    const byTimeout = now + opts.timeoutMs;
    const deadline = opts.deadlineAt ?? Number.POSITIVE_INFINITY;
    return new Promise<DetachWaitResult>((resolve, reject) => {
      const w: Waiter = {
        id: networkInterfaceId,
        until: Math.min(byTimeout, deadline),
        reason: deadline < byTimeout ? 'deadline' : 'timeout',
        resolve,
        reject,
      };
      const list = this.waiters.get(networkInterfaceId) ?? [];
      list.push(w);
      this.waiters.set(networkInterfaceId, list);
      if (!this.running) {
        this.running = true;
        void this.run();
      }
    });
  }

  /** Re-attached to another instance while we waited: stop waiting; the executor's safety check refuses it. */
  private attachedElsewhere(eni: EniInfo): boolean {
    const a = eni.attachment;
    return !!a?.instanceId && a.status !== 'detached' && a.instanceId !== this.instanceId;
  }

  private settleAll(fn: (w: Waiter) => void): void {
    for (const list of this.waiters.values()) list.forEach(fn);
    this.waiters.clear();
  }

  /** Polls until no waiter is left; `running` is cleared in the same tick the loop ends. */
  private async run(): Promise<void> {
    try {
      while (this.waiters.size > 0) {
        const nextUntil = Math.min(...[...this.waiters.values()].flat().map((w) => w.until));
        const sleepMs = Math.max(0, Math.min(this.pollIntervalMs, nextUntil - this.ctx.clock.now()));
        try {
          await this.ctx.clock.sleep(sleepMs, this.ctx.signal);
        } catch (err) {
          this.settleAll((w) => w.reject(err));
          return;
        }
        const ids = [...this.waiters.keys()];
        let seen: EniInfo[] | undefined;
        try {
          seen = await describeEnis(this.ctx, [{ Name: 'network-interface-id', Values: ids }], {
            logFields: { stage: 'eni', action: 'DescribeNetworkInterfaces' },
          });
        } catch (err) {
          if (this.ctx.signal?.aborted || classifyAwsError(err) !== 'retry') {
            this.settleAll((w) => w.reject(err));
            return;
          }
          // Retries exhausted on throttling/5xx: poll again next tick, within each waiter's bound.
          this.ctx.logger.warn('detach poll failed; polling again', {
            stage: 'eni',
            errorCode: errorCodeOf(err),
          });
        }
        const now = this.ctx.clock.now();
        for (const id of ids) {
          const list = this.waiters.get(id) ?? [];
          let result: DetachWaitResult | undefined;
          if (seen) {
            const eni = seen.find((e) => e.networkInterfaceId === id);
            if (!eni) result = { gone: true };
            else if (isDetached(eni) || this.attachedElsewhere(eni)) result = { gone: false, eni };
            else list.forEach((w) => (w.lastStatus = eni.attachment?.status ?? eni.status));
          }
          const keep: Waiter[] = [];
          for (const w of list) {
            if (result) w.resolve(result);
            else if (now >= w.until) w.reject(new DetachTimeoutError(id, w.lastStatus, w.reason));
            else keep.push(w);
          }
          if (keep.length) this.waiters.set(id, keep);
          else this.waiters.delete(id);
        }
      }
    } finally {
      this.running = false;
    }
  }
}

function isDetached(eni: EniInfo): boolean {
  const a = eni.attachment;
  return eni.status === 'available' && (!a || !a.instanceId || a.status === 'detached');
}
