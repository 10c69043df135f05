import { CallContext } from '../aws/call';
import { describeEnis, describeSubnets, EniInfo, loxilbTagFilter, SubnetInfo } from '../discovery/ec2-reads';
import type { TakeoverSettled } from './decision-schema';

/**
 * A node that became MASTER runs loxilb's takeover (reference/loxilb-ha.md, CloudPrepareVIPNetWork):
 * phase A force-detaches and deletes every ENI with the cluster's tag, retrying every 2 s for up to
 * 40 s, and deletes their subnets; phase B builds this node's own subnet, route table and ENI. A
 * `full` teardown that starts while that runs discovers a footprint that is still changing: what
 * the takeover creates after the teardown looked is leaked, and what the teardown deletes under it
 * makes it abort. So the teardown first waits until AWS shows the takeover over — this instance
 * holds the cluster's loxilb ENI (attached, not the primary) and no other one is left — or until
 * loxilb's resources stop changing for `quietMs` (a takeover that aborted on its first error
 * changes nothing more). Reads only; the caller bounds the wait.
 */

export interface TakeoverSettlement {
  settled: TakeoverSettled;
  waitedMs: number;
  /** What AWS showed last, for the log and the report. */
  seen: string;
}

/** What the takeover's resources look like now: done, and a key that changes when they do. */
export function takeoverView(
  enis: EniInfo[],
  subnets: SubnetInfo[],
  instanceId: string,
): { complete: boolean; key: string; seen: string } {
  const own = enis.filter(
    (e) =>
      e.attachment?.instanceId === instanceId &&
      e.attachment.status === 'attached' &&
      e.attachment.deviceIndex !== 0,
  );
  const others = enis.filter((e) => !own.includes(e));
  const describe = (e: EniInfo) =>
    `${e.networkInterfaceId}@${e.attachment?.instanceId ?? 'unattached'}:${e.attachment?.status ?? e.status ?? '?'}` +
    `/${e.privateIps.length}ip`;
  const key = [...enis.map(describe).sort(), ...subnets.map((s) => s.subnetId).sort()].join(' ');
  const seen =
    `${own.length ? `own loxilb ENI ${own.map((e) => e.networkInterfaceId).join(', ')}` : 'no own loxilb ENI'}; ` +
    `${others.length ? `other loxilb ENIs ${others.map(describe).join(', ')}` : 'no other loxilb ENI'}; ` +
    `${subnets.length} loxilb subnet(s)`;
  return { complete: own.length === 1 && others.length === 0, key, seen };
}

export interface OwnTakeoverWait {
  instanceId: string;
  /** Epoch ms: give up then (`timeout`). */
  until: number;
  quietMs: number;
  pollMs: number;
  signal?: AbortSignal;
}

/** Polls the cluster's loxilb ENIs and subnets until the takeover is over, quiet, or `until`. */
export async function awaitOwnTakeover(ctx: CallContext, w: OwnTakeoverWait): Promise<TakeoverSettlement> {
  const { clock, config, logger } = ctx;
  const started = clock.now();
  const logFields = { instanceId: w.instanceId, stage: 'gate' };
  let last: { key: string; since: number } | undefined;
  let seen = 'not read yet';
  let warned = false;
  for (;;) {
    try {
      const [enis, subnets] = await Promise.all([
        describeEnis(ctx, [loxilbTagFilter(config, 'eni')], { logFields }),
        describeSubnets(ctx, [loxilbTagFilter(config, 'subnet')], { logFields }),
      ]);
      const view = takeoverView(enis, subnets, w.instanceId);
      seen = view.seen;
      const now = clock.now();
      if (view.complete) return { settled: 'complete', waitedMs: now - started, seen };
      if (last?.key !== view.key) last = { key: view.key, since: now };
      else if (now - last.since >= w.quietMs) return { settled: 'quiet', waitedMs: now - started, seen };
    } catch (err) {
      // An unanswered read proves nothing either way: keep looking until the bound.
      last = undefined;
      if (!warned) {
        logger.warn('could not read the takeover state; still waiting', {
          ...logFields,
          error: (err as Error).message,
        });
        warned = true;
      }
    }
    if (clock.now() + w.pollMs > w.until || w.signal?.aborted) {
      return { settled: 'timeout', waitedMs: clock.now() - started, seen };
    }
    try {
      await clock.sleep(w.pollMs, w.signal);
    } catch {
      return { settled: 'timeout', waitedMs: clock.now() - started, seen };
    }
  }
}
