import type { Command } from 'commander';
import { readCliRecord } from '../../lib/episode/cli-episode';
import { buildPlanFor } from '../../lib/episode/engine';
import { GateDecision } from '../../lib/gate/gate';
import { Inventory } from '../../lib/discovery/inventory';
import { Plan } from '../../lib/plan/actions';
import { planCounts } from '../../lib/plan/planner';
import { manualCommand } from '../../lib/execute/teardown';
import { errorCodeOf } from '../../lib/aws/errors';
import { EXIT_LEFT_BEHIND, EXIT_OK } from '../cli';
import { createRuntime, GlobalOptions, resolveInstanceId } from '../wiring';
import { awsClients, cliEngineDeps, newCliEpisode, parseScopeFlag, targetedCommand } from './teardown-common';

interface PlanOptions {
  instanceId?: string;
  scope?: string;
  json?: boolean;
}

/**
 * `teardownd plan`: prints what a teardown of this instance would do, built exactly as a real run
 * builds it (same gate, same discovery, same planner), with zero mutating calls. Logs go to stderr
 * so stdout is only the table, or only the JSON document with --json.
 */
export function registerPlan(program: Command): void {
  targetedCommand(
    program,
    'plan',
    'print what a teardown of this instance would do, without changing anything',
    'plan for',
  )
    .option('--json', 'print the plan as one JSON document on stdout')
    .action(async (opts: PlanOptions, cmd: Command) => {
      const scope = parseScopeFlag(opts.scope);
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      const runtime = createRuntime(globals, { logStream: process.stderr });
      try {
        const instanceId = await resolveInstanceId(runtime, opts.instanceId);
        const clients = await awsClients(runtime);
        let result: PlanResult;
        try {
          result = await buildPlanFor(cliEngineDeps(runtime, clients.ec2, clients.autoScaling), {
            instanceId,
            episode: newCliEpisode(),
            dryRun: true,
            scopeOverride: scope,
            // What an interrupted `teardownd teardown` recorded: the next real run would use it too.
            remembered: await readCliRecord(runtime.config.stateDir, instanceId),
          });
        } catch (err) {
          process.stderr.write(
            `teardownd: discovery failed, no plan (${errorCodeOf(err)}): ${(err as Error).message}\n`,
          );
          process.exitCode = EXIT_LEFT_BEHIND;
          return;
        }
        process.stdout.write(
          opts.json ? JSON.stringify(planDocument(result), null, 2) + '\n' : renderPlan(result),
        );
        process.exitCode = EXIT_OK;
      } finally {
        runtime.close();
      }
    });
}

interface PlanResult {
  gate: GateDecision;
  /** Absent for `handover`: nothing is discovered when nothing will be touched. */
  inventory?: Inventory;
  plan: Plan;
}

export function planDocument({ gate, inventory, plan }: PlanResult): Record<string, unknown> {
  return {
    instanceId: plan.instanceId,
    vpcId: plan.vpcId ?? null,
    scope: plan.scope,
    gate,
    ...(gate.peers ? { peers: gate.peers } : {}),
    counts: planCounts(plan),
    actions: plan.actions.map((a) => ({
      id: a.id,
      stage: a.stage,
      action: a.action,
      resource: a.resource,
      kind: a.kind,
      status: a.status,
      summary: a.summary,
      dependsOn: a.dependsOn,
      ...(a.reason ? { reason: a.reason } : {}),
      ...(a.blockers ? { blockers: a.blockers } : {}),
      manualCommand: manualCommand(a.params),
    })),
    untouched: plan.untouched,
    warnings: plan.warnings,
    describeCalls: inventory?.describeCalls ?? 0,
  };
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  '))
    .join('\n');
}

export function renderPlan({ gate, inventory, plan }: PlanResult): string {
  const c = planCounts(plan);
  const out = [
    `Plan for ${plan.instanceId}${plan.vpcId ? ` in ${plan.vpcId}` : ''} (nothing has been changed)`,
    `Scope: ${plan.scope} — ${gate.source}: ${gate.reason}`,
    `${c.planned} planned, ${c.blocked} blocked, ${c.skipped} skipped (${inventory?.describeCalls ?? 0} Describe calls)`,
    '',
  ];
  if (plan.actions.length) {
    const rows = [['STAGE', 'ACTION', 'RESOURCE', 'STATUS', 'WHAT / WHY']];
    for (const a of plan.actions) {
      rows.push([
        a.stage,
        a.action,
        a.resource,
        a.status,
        a.status === 'planned' ? a.summary : `${a.summary} — ${a.reason ?? ''}`,
      ]);
    }
    out.push(table(rows), '');
  } else if (plan.scope === 'handover') {
    out.push('Nothing to tear down here: handover to the peer(s) below.', '');
    for (const p of gate.peers ?? [])
      out.push(
        `Peer: ${p.ip ?? ''}${p.instanceId ? ` ${p.instanceId}` : ''} — ${p.alive ? 'can take over' : 'cannot take over'}: ${p.why}`,
      );
    out.push('');
  } else {
    out.push('Nothing to tear down.', '');
  }
  for (const u of plan.untouched) out.push(`Not touched: ${u.resource} (${u.kind}): ${u.reason}`);
  for (const w of plan.warnings) out.push(`Warning: ${w}`);
  return out.join('\n').trimEnd() + '\n';
}
