import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildReport, writeReport } from '../../../lib/report/report';
import { readReportFile, ReportSourceError } from '../../../lib/report/source';

/** A copy of the report's JSON with the field at `path` (dots) set to `value` (undefined: removed). */
function broken(doc: unknown, changes: Record<string, unknown>): unknown {
  const copy = JSON.parse(JSON.stringify(doc)) as Record<string, unknown>;
  for (const [path, value] of Object.entries(changes)) {
    const keys = path.split('.');
    const last = keys.pop()!;
    const parent = keys.reduce<Record<string, unknown>>((o, k) => o[k] as Record<string, unknown>, copy);
    if (value === undefined) delete parent[last];
    else parent[last] = value;
  }
  return copy;
}

/** A report as the engine builds it, with every optional part the builder can add. */
function fullReport() {
  const report = buildReport({
    episode: 'ep-20250101T000000000Z-abcd',
    instanceId: 'i-0123456789abcdef0',
    trigger: {
      instanceId: 'i-0123456789abcdef0',
      kind: 'asg-terminate',
      deadline: null,
      lifecycle: { autoScalingGroupName: 'asg', hookName: 'hook', token: 'tok' },
      source: 'sqs',
      receivedAt: '2025-01-01T00:00:00.000Z',
      sourceId: 'm-1',
    },
    startedAt: Date.parse('2025-01-01T00:00:01.000Z'),
    finishedAt: Date.parse('2025-01-01T00:00:03.500Z'),
    dryRun: false,
    gate: {
      scope: 'full',
      source: 'loxilb-api',
      reason: 'last node standing',
      peers: [{ ip: '10.0.0.2', alive: false, why: 'instance is shutting-down' }],
      observation: { observedAt: '2025-01-01T00:00:00.500Z', ageMs: 500, live: true },
      details: { role: 'MASTER' },
    },
    deadlineAt: Date.parse('2025-01-01T00:01:50.000Z'),
    actions: [
      {
        id: 'subnet:delete:subnet-1',
        stage: 'subnet',
        action: 'DeleteSubnet',
        resource: 'subnet-1',
        kind: 'subnet',
        startedAt: '2025-01-01T00:00:02.000Z',
        durationMs: 40,
        outcome: 'blocked',
        attempts: 0,
        message: 'eni-1 is still in the subnet',
        blockers: ['eni-1'],
        summary: 'Delete loxilb subnet subnet-1',
      },
    ],
    calls: { read: 4, mutate: 0 },
    warnings: ['a warning'],
    redecided: { at: '2025-01-01T00:00:00.900Z', reason: 'peer gone', previous: { scope: 'handover' } },
  });
  report.completion = { lifecycle: [{ result: 'completed' }], shipped: true };
  return report;
}

describe('teardown report schema', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'teardownd-report-schema-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('a written report reads back equal, and written again keeps its top-level key order', async () => {
    const report = fullReport();
    const path = await writeReport(dir, report);
    const first = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    const read = await readReportFile(path);
    expect(read).toEqual(report);
    await writeReport(dir, read);
    const second = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    expect(second).toEqual(first);
    expect(Object.keys(second)).toEqual(Object.keys(first));
  });

  it('a malformed report names the file and the field', async () => {
    const doc = broken(fullReport(), {
      'actions.0.attempts': 'many',
      'gate.source': 'guess',
      calls: undefined,
    });
    const path = join(dir, 'bad.json');
    writeFileSync(path, JSON.stringify(doc));
    const err = await readReportFile(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReportSourceError);
    const message = (err as Error).message;
    expect(message).toContain(`${path} is not a teardownd report`);
    expect(message).toMatch(/actions\.0\.attempts: /);
    expect(message).toMatch(/gate\.source: /);
    expect(message).toMatch(/calls: /);
  });

  it('a trigger with an unknown kind or a time that is not one is refused by field', async () => {
    const doc = broken(fullReport(), { 'trigger.kind': 'meteor', 'trigger.receivedAt': 'yesterday' });
    const path = join(dir, 'trigger.json');
    writeFileSync(path, JSON.stringify(doc));
    const message = ((await readReportFile(path).catch((e: unknown) => e)) as Error).message;
    expect(message).toMatch(/trigger\.kind: /);
    expect(message).toMatch(/trigger\.receivedAt: must be an ISO 8601 time/);
  });
});
