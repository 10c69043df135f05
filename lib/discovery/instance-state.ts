import { LogFields } from '../log';
import { CallContext } from '../aws/call';
import { describeInstances, inChunks } from './ec2-reads';

/**
 * Whether the instances that loxilb resources name are still there: one rule for the teardown's
 * full scope (an unattached ENI no live instance owns, lib/plan/planner.ts) and the sweeper's orphan rules
 * (lib/sweeper/orphans.ts), and the read of the states (DescribeInstances, built in ./ec2-reads.ts).
 */

/** What DescribeInstances said; `not-found` means it was asked and did not return the instance. */
export type InstanceState =
  'pending' | 'running' | 'shutting-down' | 'terminated' | 'stopping' | 'stopped' | 'not-found';

/**
 * alive: pending/running/stopping/stopped (a stopped instance may start again and keeps its ENIs);
 * going: shutting-down (its own teardown may be at work right now); gone: terminated or not returned;
 * unknown: never asked, or no state in the answer.
 */
export type Liveness = 'alive' | 'going' | 'gone' | 'unknown';

const ALIVE = new Set<string>(['pending', 'running', 'stopping', 'stopped']);
const GONE = new Set<string>(['terminated', 'not-found']);

export const INSTANCE_ID = /^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;

export function liveness(state: InstanceState | undefined): Liveness {
  if (state === undefined) return 'unknown';
  if (ALIVE.has(state)) return 'alive';
  if (GONE.has(state)) return 'gone';
  return 'going';
}

export function describeState(state: InstanceState | undefined): string {
  if (state === undefined) return 'state unknown';
  return state === 'not-found' ? 'does not exist' : state;
}

/**
 * The state of each instance id. Ids go in a filter, never as an id list: an id list fails the whole
 * call when one id is gone (a terminated instance drops out after a while), a filter just returns
 * less — and "not returned" (`not-found`) is the fact the callers need. An instance returned without
 * a state is left out (unknown).
 */
export async function describeInstanceStates(
  ctx: CallContext,
  instanceIds: string[],
  log: LogFields,
): Promise<Record<string, InstanceState>> {
  const ids = [...new Set(instanceIds)].sort();
  const found = await inChunks(ids, (chunk) =>
    describeInstances(ctx, [{ Name: 'instance-id', Values: chunk }], { logFields: log }),
  );
  const states: Record<string, InstanceState> = {};
  for (const id of ids) states[id] = 'not-found';
  for (const i of found) {
    if (!i.instanceId) continue;
    if (i.state) states[i.instanceId] = i.state as InstanceState;
    else delete states[i.instanceId];
  }
  return states;
}
