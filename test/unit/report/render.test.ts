import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { escapeControl, formatDuration, renderReport } from '../../../lib/report/render';
import type { TeardownReport } from '../../../lib/report/report-schema';
import { parseReport } from '../../../lib/report/source';

function fixture(): TeardownReport {
  const path = join(__dirname, '../../fixtures/reports/left-behind.json');
  return parseReport(JSON.parse(readFileSync(path, 'utf8')), path);
}

/** The lines of one section: from its title to the next blank line. */
function section(text: string, title: RegExp): string[] {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => title.test(l));
  expect(start).toBeGreaterThanOrEqual(0);
  const end = lines.indexOf('', start);
  return lines.slice(start + 1, end < 0 ? undefined : end);
}

describe('report renderer', () => {
  const report = fixture();
  const text = renderReport(report);

  it('heads the page with the instance, the episode, the trigger and its deadline, and the outcome', () => {
    const head = text.split('\n\n')[0]!;
    expect(head).toContain('i-0a1b2c3d4e5f60718');
    expect(head).toContain('i-0a1b2c3d4e5f60718-20240501T120000Z');
    expect(head).toMatch(/spot-terminate via imds/);
    expect(head).toMatch(/deadline 2024-05-01T12:02:00.000Z \(\+120.000s from start\)/);
    expect(head).toMatch(/LEFT BEHIND/);
    expect(head).toMatch(/took 14\.3 s/);
    expect(head).toMatch(/Dry run: +no/);
    expect(head).toMatch(/4: 2 done, 1 failed, 1 blocked/);
  });

  it('shows the gate scope, who decided it and why', () => {
    const gate = section(text, /^Gate decision/).join('\n');
    expect(gate).toMatch(/scope full \(decided by loxilb-api\)/);
    expect(gate).toContain('every BFD peer is down');
    expect(gate).toMatch(/bfdPeersUp: 0/);
  });

  it('lists every action under its stage, stages in the order they ran, with offset, outcome, duration, attempts and error code', () => {
    const timeline = section(text, /^Timeline/);
    const stages = timeline.filter((l) => /^ {2}\S/.test(l)).map((l) => l.trim());
    expect(stages).toEqual(['eip', 'eni', 'subnet']);
    const failed = timeline.find((l) => l.includes('+4.800s'))!;
    expect(failed).toMatch(
      /DeleteNetworkInterface\s+eni-0c0ffee0000000001\s+failed\s+9\.1 s\s+8\s+UnauthorizedOperation/,
    );
    const eniRows = timeline.slice(timeline.indexOf('  eni') + 1, timeline.indexOf('  subnet'));
    expect(eniRows.map((l) => l.trim().split(/\s+/)[1])).toEqual([
      'DetachNetworkInterface',
      'DeleteNetworkInterface',
    ]);
  });

  it('says why each failed or blocked action did not do its job', () => {
    const failed = section(text, /^Failed or blocked \(2\)/).join('\n');
    expect(failed).toMatch(
      /FAILED eni DeleteNetworkInterface eni-0c0ffee0000000001 \[UnauthorizedOperation\] after 8 attempts/,
    );
    expect(failed).toContain('not authorized to perform this operation');
    expect(failed).toMatch(/BLOCKED subnet DeleteSubnet subnet-0abc0000000000001/);
    expect(failed).toContain('eni-0c0ffee0000000001 is still in the subnet');
  });

  it('gives the command to clean up each left-behind resource by hand', () => {
    const left = section(text, /^Left behind \(2\)/).join('\n');
    for (const item of report.leftBehind) {
      expect(left).toContain(item.resource);
      expect(left).toContain(item.manualCommand);
    }
    expect(left).toContain('aws ec2 delete-subnet --subnet-id subnet-0abc0000000000001');
  });

  it('shows the executor deadline, the AWS call counts, blockers, what was left alone on purpose, and warnings', () => {
    expect(text).toMatch(/Deadline: +2024-05-01T12:01:50.000Z \(\+110.000s from start\)/);
    expect(text).toMatch(/AWS calls: +9 read, 13 mutating/);
    expect(section(text, /^Failed or blocked/).join('\n')).toMatch(/blocked by: eni-0c0ffee0000000001/);
    expect(section(text, /^Not touched on purpose \(1\)/).join('\n')).toContain(
      'eni eni-0bbb000000000000b: attached to i-0ffff00000000000f, another instance',
    );
    expect(section(text, /^Warnings \(1\)/).join('\n')).toContain('stages.routeTable=false');
  });

  it('puts a discovery error in the header', () => {
    const failed = renderReport({
      ...report,
      actions: [],
      leftBehind: [],
      error: {
        stage: 'inventory',
        message: 'DescribeNetworkInterfaces was refused',
        errorCode: 'UnauthorizedOperation',
      },
    });
    expect(failed.split('\n\n')[0]).toMatch(
      /Error: +inventory failed \[UnauthorizedOperation\]: DescribeNetworkInterfaces was refused/,
    );
  });

  it('shows the lifecycle completion result when the daemon recorded one', () => {
    const done = renderReport({
      ...report,
      completion: [{ result: 'CONTINUE', by: 'token', attempts: 2, hookName: 'loxilb-teardown' }],
    });
    const completion = section(done, /^Lifecycle completion/).join('\n');
    expect(completion).toMatch(/result: CONTINUE/);
    expect(completion).toMatch(/attempts: 2/);
    expect(section(text, /^Lifecycle completion/).join('\n')).toMatch(/not recorded/);
  });

  it('a clean report says nothing failed and nothing is left behind', () => {
    const clean = renderReport({
      ...report,
      outcome: 'clean',
      actions: report.actions.filter((a) => a.outcome === 'done'),
      leftBehind: [],
    });
    expect(clean).toMatch(/CLEAN/);
    expect(section(clean, /^Failed or blocked \(0\)/).join('\n')).toMatch(/nothing failed/);
    expect(section(clean, /^Left behind \(0\)/).join('\n')).toMatch(/no manual clean-up needed/);
  });

  it('a report without a trigger (a CLI run) says so', () => {
    const manual = renderReport({ ...report, trigger: undefined });
    expect(manual).toMatch(/Trigger: +none recorded/);
  });

  it('has no colour codes unless asked, and colours outcomes when asked', () => {
    // eslint-disable-next-line no-control-regex
    expect(text).not.toMatch(/\x1b\[/);
    const coloured = renderReport(report, { color: true });
    expect(coloured).toContain('\x1b[31mfailed');
    // eslint-disable-next-line no-control-regex
    expect(coloured.replace(/\x1b\[\d+m/g, '')).toBe(text);
  });

  it('formats durations for people', () => {
    expect(formatDuration(450)).toBe('450 ms');
    expect(formatDuration(12_345)).toBe('12.3 s');
    expect(formatDuration(123_000)).toBe('2 min 3 s');
  });
});

describe('reports before and after issue 9', () => {
  it('an old report with scope "instance" still reads and renders', () => {
    const raw = JSON.parse(readFileSync(join(__dirname, '../../fixtures/reports/left-behind.json'), 'utf8'));
    raw.scope = 'instance';
    raw.gate.scope = 'instance';
    const text = renderReport(parseReport(raw, 'old.json'));
    expect(section(text, /^Gate decision/).join('\n')).toMatch(/scope instance/);
  });

  it('a handover report says so, names the peer and the observation it decided from', () => {
    const raw = JSON.parse(readFileSync(join(__dirname, '../../fixtures/reports/left-behind.json'), 'utf8'));
    raw.outcome = 'handover';
    raw.scope = 'handover';
    raw.actions = [];
    raw.leftBehind = [];
    raw.gate = {
      scope: 'handover',
      source: 'loxilb-api',
      reason: 'MASTER of llb-inst0, but BFD peer 10.0.2.11 (i-0peer) can take over',
      observation: { observedAt: '2024-05-01T11:59:58.000Z', ageMs: 2000, live: false },
      peers: [
        {
          ip: '10.0.2.11',
          instanceId: 'i-0peer',
          bfdState: 'BFDUp',
          alive: true,
          why: 'BFD BFDUp; instance running',
        },
      ],
    };
    const text = renderReport(parseReport(raw, 'handover.json'));
    expect(text.split('\n\n')[0]).toMatch(/HANDOVER: a live peer takes over/);
    const gate = section(text, /^Gate decision/).join('\n');
    expect(gate).toMatch(/scope handover/);
    expect(gate).toMatch(/peer 10\.0\.2\.11 i-0peer: can take over — BFD BFDUp; instance running/);
    expect(gate).toMatch(/loxilb observed: 2024-05-01T11:59:58.000Z \(last observation, 2\.0 s old\)/);
  });
});

describe('control characters in report fields', () => {
  it('escapes C0/C1 controls, DEL and bidi overrides; leaves ordinary text alone', () => {
    expect(escapeControl('a\x1b[31mb\u009bc\x7fd\u202ee\nf\tg')).toBe(
      'a\\u001b[31mb\\u009bc\\u007fd\\u202ee\\nf\\tg',
    );
    expect(escapeControl('eni-0abc → done, ünïcode')).toBe('eni-0abc → done, ünïcode');
  });

  it("no field can put a control character in the rendered text (colour codes are the renderer's own)", () => {
    const hostile = JSON.parse(JSON.stringify(fixture())) as TeardownReport;
    hostile.gate.reason = 'ok\x1b[2J';
    hostile.actions[0]!.message = 'denied\x1b]8;;http://evil\x07click\x1b]8;;\x07';
    hostile.leftBehind[0]!.manualCommand = 'aws ec2 x\rrm -rf /';
    hostile.gate.details = { 'k\x1b': 'v\x1b' };
    for (const color of [false, true]) {
      // eslint-disable-next-line no-control-regex
      const out = renderReport(hostile, { color }).replace(/\x1b\[\d+m/g, '');
      // eslint-disable-next-line no-control-regex
      expect(out).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
    }
    expect(renderReport(hostile)).toContain('why: ok\\u001b[2J');
  });
});
