import type { EC2Client } from '@aws-sdk/client-ec2';
import { errorCodeOf } from '../aws/errors';
import { Clock } from '../clock';
import { Config } from '../config/schema';
import { describeInstance } from '../discovery/ec2-reads';
import { Logger } from '../log';
import { TerminationNotice } from '../notice';

/**
 * On SIGTERM the daemon cannot tell an OS shutdown for termination from a service restart or a
 * reboot; EC2 can. `shutting-down`/`terminated` → the instance is going away: run the teardown
 * before exiting. Anything else (`running` on a restart, `stopping` on a reboot or stop) → exit
 * without touching anything. An unanswered probe also means "exit": nothing is deleted on a guess.
 */
export type ProbeVerdict = 'terminating' | 'not-terminating' | 'unknown';

export interface ProbeResult {
  verdict: ProbeVerdict;
  /** EC2 instance state name, when EC2 answered. */
  state?: string;
  errorCode?: string;
  error?: string;
}

export interface ShutdownProbeDeps {
  ec2: EC2Client;
  config: Config;
  clock: Clock;
  logger: Logger;
}

const TERMINATING_STATES = new Set(['shutting-down', 'terminated']);

export async function probeInstanceState(
  deps: ShutdownProbeDeps,
  instanceId: string,
  signal?: AbortSignal,
  deadlineAt?: number,
): Promise<ProbeResult> {
  try {
    const instance = await describeInstance({ ...deps, signal, deadlineAt }, instanceId, {
      logFields: { instanceId, stage: 'shutdown-probe' },
    });
    const state = instance?.state;
    if (!state) return { verdict: 'unknown', error: `DescribeInstances did not return ${instanceId}` };
    return { verdict: TERMINATING_STATES.has(state) ? 'terminating' : 'not-terminating', state };
  } catch (err) {
    return { verdict: 'unknown', errorCode: errorCodeOf(err), error: (err as Error).message };
  }
}

/** The notice the probe emits when EC2 says the instance is shutting down. */
export function shutdownNotice(instanceId: string, now: number, state: string): TerminationNotice {
  return {
    instanceId,
    kind: 'state-change',
    deadline: null,
    source: 'shutdown-probe',
    receivedAt: new Date(now).toISOString(),
    sourceId: `ec2-state/${state}`,
  };
}
