import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GateDecision } from '../../../lib/gate/gate';
import {
  ActionRecord,
  buildReport,
  BuildReportInput,
  reportExitCode,
  ReportFs,
  writeReport,
} from '../../../lib/report/report';

const gate: GateDecision = { scope: 'full', source: 'cli', reason: 'test' };
const rec = (over: Partial<ActionRecord>): ActionRecord => ({
  id: 'x',
  stage: 'subnet',
  action: 'DeleteSubnet',
  resource: 'subnet-1',
  kind: 'subnet',
  startedAt: '2025-01-01T00:00:00.000Z',
  durationMs: 1,
  outcome: 'done',
  attempts: 1,
  summary: 'delete subnet subnet-1',
  ...over,
});
const input = (over: Partial<BuildReportInput> = {}): BuildReportInput => ({
  episode: 'ep-1',
  instanceId: 'i-0123456789abcdef0',
  startedAt: 1000,
  finishedAt: 1500,
  dryRun: false,
  gate,
  actions: [rec({})],
  calls: { read: 3, mutate: 1 },
  ...over,
});

describe('report', () => {
  it('outcomes and exit codes', () => {
    expect(buildReport(input()).outcome).toBe('clean');
    expect(reportExitCode(buildReport(input()))).toBe(0);
    const left = buildReport(
      input({ actions: [rec({ outcome: 'blocked', errorCode: 'DependencyViolation' })] }),
    );
    expect(left.outcome).toBe('left-behind');
    expect(reportExitCode(left)).toBe(1);
    expect(left.leftBehind[0]).toMatchObject({
      resource: 'subnet-1',
      kind: 'subnet',
      errorCode: 'DependencyViolation',
    });
    expect(buildReport(input({ actions: [] })).outcome).toBe('nothing-to-do');
    expect(buildReport(input({ dryRun: true, actions: [rec({ outcome: 'dry-run' })] })).outcome).toBe(
      'dry-run',
    );
    expect(
      buildReport(input({ gate: { ...gate, scope: 'none' }, actions: [rec({ outcome: 'skipped' })] }))
        .outcome,
    ).toBe('scope-none');
    expect(buildReport(input({ actions: [rec({ outcome: 'skipped', aborted: true })] })).outcome).toBe(
      'left-behind',
    );
    // A refused action (a safety rule, a disabled stage) leaves its resource standing: never `clean`.
    const refused = buildReport(
      input({
        actions: [
          rec({}),
          rec({
            id: 'cidr',
            stage: 'cidr',
            action: 'DisassociateVpcCidrBlock',
            resource: 'vpc-cidr-assoc-1',
            kind: 'vpc-cidr',
            outcome: 'skipped',
            message: "safety: 10.0.0.0/16 is the VPC's primary CIDR, which is never disassociated",
          }),
        ],
      }),
    );
    expect(refused.outcome).toBe('left-behind');
    // A disabled stage is refused too; a scope that skips on purpose (none) is not.
    const disabled = rec({ outcome: 'skipped', message: 'stage disabled by config stages.subnet' });
    expect(buildReport(input({ actions: [disabled] })).leftBehind[0].reason).toBe(
      'DeleteSubnet refused: stage disabled by config stages.subnet',
    );
    const observed = rec({ outcome: 'skipped', message: 'scope none: observe and report only' });
    expect(buildReport(input({ gate: { ...gate, scope: 'none' }, actions: [observed] })).outcome).toBe(
      'scope-none',
    );
    expect(refused.leftBehind).toEqual([
      expect.objectContaining({
        resource: 'vpc-cidr-assoc-1',
        reason: expect.stringMatching(/^DisassociateVpcCidrBlock refused: safety: .*primary CIDR/),
      }),
    ]);
    expect(buildReport(input()).durationMs).toBe(500);
  });

  it('writes atomically: a temp file in the same directory, then a rename to <instanceId>-<episode>.json', async () => {
    const ops: string[] = [];
    const fs: ReportFs = {
      mkdir: async (p) => void ops.push(`mkdir ${p}`),
      writeFile: async (p) => void ops.push(`write ${p}`),
      rename: async (a, b) => void ops.push(`rename ${a} ${b}`),
    };
    const path = await writeReport('/var/reports', buildReport(input()), fs);
    expect(path).toBe('/var/reports/i-0123456789abcdef0-ep-1.json');
    expect(ops[0]).toBe('mkdir /var/reports');
    expect(ops[1]).toMatch(/^write \/var\/reports\/i-0123456789abcdef0-ep-1\.json\.tmp-/);
    expect(ops[2]).toBe(`rename ${ops[1].slice(6)} ${path}`);
  });

  it('writes a readable JSON document on disk and no temp file remains', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'report-test-'));
    try {
      const path = await writeReport(join(dir, 'nested'), buildReport(input()));
      const doc = JSON.parse(readFileSync(path, 'utf8'));
      expect(doc).toMatchObject({ schemaVersion: 1, episode: 'ep-1', outcome: 'clean', gate });
      expect(readdirSync(join(dir, 'nested'))).toEqual(['i-0123456789abcdef0-ep-1.json']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
