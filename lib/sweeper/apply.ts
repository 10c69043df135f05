import { CallContext } from '../aws/call';
import { describeCidrState, describeClusterEnis, describeEni } from '../discovery/sweep';
import { executePlan, PreflightVerdict } from '../execute/executor';
import { PlannedAction } from '../plan/actions';
import { ActionRecord } from '../report/report';
import { OrphanPlan, recheckCidr, recheckEni, recheckShared } from './orphan-plan';
import { OrphanFacts } from './orphans';

/**
 * Apply mode: the orphan plan run by the engine's executor (bounded concurrency, retries, NotFound =
 * done, the safety check before every call), with the orphan rule re-applied to a fresh read of the
 * resource right before each mutating call — another sweeper or a returning owner may have changed it.
 */

/** Outcomes that mean the resource is gone. */
export const REMOVED = new Set(['done', 'already-done']);

export interface AppliedPlan {
  records: ActionRecord[];
  /** Actions the re-check skipped: their resource was no longer an orphan. */
  preflightSkipped: Set<string>;
}

export async function applyOrphanPlan(
  ctx: CallContext,
  { plan, actionsOf }: OrphanPlan,
  facts: OrphanFacts,
  run: { sweeperId: string; episode: string; deadlineAt: number; signal?: AbortSignal },
): Promise<AppliedPlan> {
  const ownerOf = new Map<string, string>();
  for (const [owner, ids] of Object.entries(actionsOf)) for (const id of ids) ownerOf.set(id, owner);
  const removedEnis = new Set<string>();
  const preflightSkipped = new Set<string>();
  const preflight = async (a: PlannedAction): Promise<PreflightVerdict | undefined> => {
    const verdict = await recheck(
      ctx,
      a,
      ownerOf.get(a.id) ?? a.resource,
      { ...facts, now: ctx.clock.now() },
      removedEnis,
    );
    if (verdict?.outcome === 'skipped') preflightSkipped.add(a.id);
    return verdict;
  };
  const records = await executePlan(ctx, plan, {
    instanceId: run.sweeperId,
    episode: run.episode,
    dryRun: false,
    deadlineAt: run.deadlineAt,
    signal: run.signal,
    preflight,
    onEvent: (e) => {
      if (e.type === 'action-finished' && e.action === 'DeleteNetworkInterface' && REMOVED.has(e.outcome)) {
        removedEnis.add(e.resource);
      }
    },
  });
  return { records, preflightSkipped };
}

/** The fresh re-check before one mutating call (see lib/sweeper/orphan-plan.ts recheck*). */
async function recheck(
  ctx: CallContext,
  a: PlannedAction,
  owner: string,
  facts: OrphanFacts,
  removedEnis: ReadonlySet<string>,
): Promise<PreflightVerdict | undefined> {
  switch (a.kind) {
    case 'eni':
    case 'eip-association':
    case 'eip':
      return recheckEni(await describeEni(ctx, owner), facts);
    case 'vpc-cidr': {
      const shared = recheckShared(await describeClusterEnis(ctx), removedEnis);
      if (shared || a.params.action !== 'DisassociateVpcCidrBlock') return shared;
      return recheckCidr(await describeCidrState(ctx, a.params.vpcId, a.params.associationId));
    }
    default:
      return recheckShared(await describeClusterEnis(ctx), removedEnis);
  }
}
