import { CreateTagsCommand } from '@aws-sdk/client-ec2';
import { classifyAwsError, errorCodeOf, TeardownError } from '../aws/errors';
import { Clock } from '../clock';
import { EniInfo, loxilbTagValues } from '../discovery/ec2-reads';
import { Logger } from '../log';
import { describeEnisOf } from '../discovery/sweep';
import { CallContext, callEc2 } from '../aws/call';

/**
 * Ownership marking: the daemon writes its instance id, under ownership.ownerTagKey, on the loxilb
 * ENIs attached to it — at start-up and whenever the set of its network interfaces changes.
 *
 * Why: loxilb's resources must be able to outlive the host that created them safely, and be
 * collected once it is gone — the idea of owner references in Kubernetes, where a dependent object
 * names its owner and the garbage collector removes dependents whose owner no longer exists. EC2
 * keeps no such link: when a host dies, EC2 detaches its ENIs and the attachment (the only record of
 * who used them) is gone. An unattached loxilb ENI then looks exactly like one a live master created
 * a moment ago and is about to attach. With the owner tag, the sweeper (lib/sweeper/orphans.ts) can tell the
 * two apart at once: "owner terminated or gone" is an orphan, "owner alive" is not; only untagged
 * ENIs have to wait out the grace period. The tag also lets the teardown engine finish an ENI it
 * detached before a crash (lib/discovery/inventory.ts isOwnEni).
 *
 * Only ENIs are marked: the subnet, route table and CIDR are shared by the whole cluster (no single
 * owner), and the orphan rules judge them by the cluster as a whole. Marking is a CreateTags call,
 * so dry-run never marks; the IAM policy allows CreateTags with the owner key only.
 */

export interface MarkResult {
  /** ENIs that got the owner tag now. */
  tagged: string[];
  /** ENIs that already carried it. */
  alreadyMarked: string[];
}

/** Pure: which of these ENIs, as EC2 shows them, must get `ownerTagKey=instanceId`. */
export function enisToMark(
  enis: EniInfo[],
  instanceId: string,
  tagKey: string,
  eniTag: string,
  ownerTagKey: string,
): {
  mark: string[];
  already: string[];
} {
  const mark: string[] = [];
  const already: string[] = [];
  for (const e of enis) {
    const a = e.attachment;
    if (e.tags[tagKey] !== eniTag) continue;
    if (!a || a.instanceId !== instanceId || a.deviceIndex === 0) continue;
    if (a.status !== 'attached' && a.status !== 'attaching') continue;
    if (e.tags[ownerTagKey] === instanceId) already.push(e.networkInterfaceId);
    else mark.push(e.networkInterfaceId);
  }
  return { mark, already };
}

/**
 * The CreateTags that marks ENIs as `instanceId`'s (`dryRun`: `teardownd check` asks only whether it
 * would be allowed).
 */
export function ownerTagCommand(
  resources: string[],
  ownerTagKey: string,
  instanceId: string,
  dryRun = false,
): CreateTagsCommand {
  return new CreateTagsCommand({
    Resources: resources,
    Tags: [{ Key: ownerTagKey, Value: instanceId }],
    ...(dryRun ? { DryRun: true } : {}),
  });
}

/** One pass: Describe this instance's loxilb ENIs, tag those not marked yet (one CreateTags). */
export async function markOwnedResources(ctx: CallContext, instanceId: string): Promise<MarkResult> {
  const { config, logger } = ctx;
  const tagKey = config.ownership.tagKey;
  const ownerTagKey = config.ownership.ownerTagKey;
  const eniTag = loxilbTagValues(config).eni;
  const enis = await describeEnisOf(ctx, instanceId);
  const { mark, already } = enisToMark(enis, instanceId, tagKey, eniTag, ownerTagKey);
  const log = { instanceId, stage: 'ownership', action: 'CreateTags' };
  if (!mark.length) return { tagged: [], alreadyMarked: already };
  try {
    await callEc2(ctx, ownerTagCommand(mark, ownerTagKey, instanceId), {
      mutating: true,
      logFields: { ...log, resource: mark.join(',') },
    });
  } catch (err) {
    // An ENI deleted between the Describe and the tag: nothing to mark; the next pass re-reads.
    if (classifyAwsError(err) === 'done') {
      logger.info('an ENI to mark is already gone', {
        ...log,
        resource: mark.join(','),
        errorCode: errorCodeOf(err),
      });
      return { tagged: [], alreadyMarked: already };
    }
    throw new TeardownError(
      `cannot write the owner tag ${ownerTagKey}=${instanceId} on ${mark.join(', ')}: ${(err as Error).message}`,
      { stage: 'ownership', resource: mark.join(','), action: 'CreateTags', instanceId },
      err,
    );
  }
  logger.info(`marked ${mark.length} loxilb ENI(s) with ${ownerTagKey}=${instanceId}`, {
    ...log,
    resource: mark.join(','),
    tagged: mark,
    alreadyMarked: already,
  });
  return { tagged: mark, alreadyMarked: already };
}

export interface OwnershipMarkerOptions {
  /** The EC2 calls of a marking pass in this process (`markOwnedResources`), unless `mark` is given. */
  ctx?: CallContext;
  /**
   * A marking pass done elsewhere (the daemon runs it in a short-lived child process, so the EC2
   * client never loads at rest); rejects when the pass failed, so it is retried.
   */
  mark?: (signal: AbortSignal | undefined) => Promise<void>;
  instanceId: string;
  /**
   * Something that changes when this host's ENI attachments change: IMDS
   * `meta-data/network/interfaces/macs` (free, local, no EC2 API budget). Undefined: mark only at
   * start-up and when `markNow()` is called (e.g. before each sweep).
   */
  fingerprint?: (signal: AbortSignal) => Promise<string | null>;
  intervalMs: number;
  clock: Clock;
  logger: Logger;
}

/**
 * Marks at start-up, then polls the fingerprint and marks again whenever it changes (and retries on
 * the next poll after a failed pass).
 */
export class OwnershipMarker {
  private last?: string | null;
  private pending = true;
  private loop?: Promise<void>;
  private running?: Promise<void>;
  /** The daemon's stop signal once started: a pass in flight at shutdown is cut, not awaited. */
  private signal?: AbortSignal;

  constructor(private readonly opts: OwnershipMarkerOptions) {}

  /** One marking pass now (serialised: a pass already running is awaited, not doubled). */
  markNow(): Promise<void> {
    this.running ??= (async () => {
      try {
        if (this.opts.mark) await this.opts.mark(this.signal);
        else await markOwnedResources({ ...this.opts.ctx!, signal: this.signal }, this.opts.instanceId);
        this.pending = false;
      } catch (err) {
        this.pending = true;
        if (this.signal?.aborted) return;
        this.opts.logger.warn('ownership marking failed; retrying later', {
          instanceId: this.opts.instanceId,
          stage: 'ownership',
          errorCode: errorCodeOf((err as Error).cause ?? err),
          error: (err as Error).message,
        });
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  start(signal: AbortSignal): void {
    this.signal = signal;
    this.loop ??= this.run(signal);
  }

  /** Resolves when the loop has ended (after the signal aborted). */
  async stopped(): Promise<void> {
    await this.loop;
  }

  private async run(signal: AbortSignal): Promise<void> {
    const { fingerprint, clock, intervalMs } = this.opts;
    if (fingerprint) this.last = await fingerprint(signal).catch(() => undefined);
    await this.markNow();
    while (!signal.aborted) {
      try {
        await clock.sleep(intervalMs, signal);
      } catch {
        return;
      }
      if (!fingerprint) {
        if (this.pending) await this.markNow();
        continue;
      }
      const now = await fingerprint(signal).catch(() => undefined);
      if (signal.aborted) return;
      if (now === undefined) continue;
      if (now !== this.last || this.pending) {
        if (now !== this.last) {
          this.opts.logger.info('network interfaces changed; marking owned loxilb ENIs', {
            instanceId: this.opts.instanceId,
            stage: 'ownership',
          });
        }
        this.last = now;
        await this.markNow();
      }
    }
  }
}
