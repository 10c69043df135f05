import type { RememberedFacts } from '../../../lib/discovery/inventory';
import type { EngineEvent } from '../../../lib/execute/executor';
import type { GateDecision } from '../../../lib/gate/gate';
import type { ReportOutcome, TeardownReport } from '../../../lib/report/report';

/** What fake engines hand the coordinator: the report, gate decision and events it types at its ports. */

export function fakeReport(outcome: ReportOutcome, episode: string, instanceId = 'i-0abc'): TeardownReport {
  const at = '2024-05-01T12:00:00.000Z';
  return {
    schemaVersion: 1,
    episode,
    instanceId,
    startedAt: at,
    finishedAt: at,
    durationMs: 0,
    dryRun: outcome === 'dry-run',
    gate: lastNode,
    scope: lastNode.scope,
    actions: [],
    leftBehind: [],
    untouched: [],
    warnings: [],
    calls: { read: 0, mutate: 0 },
    outcome,
  };
}

export const lastNode: GateDecision = { scope: 'full', source: 'loxilb-api', reason: 'last node' };

export function facts(ownEniIds: string[]): RememberedFacts {
  return { ownEniIds, subnetIds: [], routeTableIds: [] };
}

export function eipDisassociated(): Extract<EngineEvent, { type: 'action-finished' }> {
  const base = { id: 'eip-1', stage: 'eip' as const, action: 'DisassociateAddress' as const };
  return {
    type: 'action-finished',
    ...base,
    resource: 'eipassoc-1',
    outcome: 'done',
    record: {
      ...base,
      resource: 'eipassoc-1',
      kind: 'eip-association',
      startedAt: '2024-05-01T12:00:00.000Z',
      durationMs: 1,
      outcome: 'done',
      attempts: 1,
      summary: 'disassociate eipassoc-1',
    },
  };
}
