import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AwsEmulator } from '../../sim/emulator/server';
import { runCli, TempWorkspace } from '../helpers/daemon-process';

/**
 * `teardownd report` as an operator runs it: the built CLI as a child process, reading reports
 * the way the daemon leaves them on disk.
 */

const fixtureText = readFileSync(join(__dirname, '../fixtures/reports/left-behind.json'), 'utf8');
const fixture = JSON.parse(fixtureText) as Record<string, unknown>;

describe('teardownd report (local)', () => {
  let ws: TempWorkspace;
  beforeEach(() => {
    ws = new TempWorkspace();
  });
  afterEach(() => ws.cleanup());

  it('renders a report file for a person: trigger, gate, timeline, failures and the manual commands', async () => {
    const file = ws.path('r.json');
    writeFileSync(file, fixtureText);
    const res = await runCli(['report', file], {});
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/spot-terminate via imds/);
    expect(res.stdout).toMatch(/scope full \(decided by loxilb-api\)/);
    expect(res.stdout).toMatch(/UnauthorizedOperation/);
    expect(res.stdout).toContain(
      'aws ec2 delete-network-interface --network-interface-id eni-0c0ffee0000000001',
    );
    // stdout is a pipe here: no colour codes.
    // eslint-disable-next-line no-control-regex
    expect(res.stdout).not.toMatch(/\x1b\[/);
  });

  it("with no argument shows the newest report of the config's reports.dir", async () => {
    const config = ws.writeConfig({});
    mkdirSync(ws.path('reports'));
    writeFileSync(
      ws.path('reports', 'i-1-old.json'),
      JSON.stringify({ ...fixture, episode: 'old-episode', finishedAt: '2024-04-01T00:00:00Z' }),
    );
    writeFileSync(
      ws.path('reports', 'i-1-new.json'),
      JSON.stringify({ ...fixture, episode: 'new-episode', finishedAt: '2024-06-01T00:00:00Z' }),
    );
    const res = await runCli(['--config', config, 'report'], {});
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('episode new-episode');
    expect(res.stdout).not.toContain('old-episode');
  });

  it('--json prints the raw report', async () => {
    const file = ws.path('r.json');
    writeFileSync(file, fixtureText);
    const res = await runCli(['report', '--json', file], {});
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual(fixture);
  });

  it('a missing path exits 2 naming the path', async () => {
    const missing = ws.path('nope.json');
    const res = await runCli(['report', missing], {});
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(`${missing}: no such file or directory`);
    expect(res.stdout).toBe('');
  });

  it('a JSON file that is not a report exits 2 naming the file and the field', async () => {
    const file = ws.path('config.json');
    writeFileSync(
      file,
      JSON.stringify({ ...fixture, gate: { scope: 'everything', reason: 'x', source: 'y' } }),
    );
    const res = await runCli(['report', file], {});
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(`${file} is not a teardownd report`);
    expect(res.stderr).toMatch(/gate\.scope/);
  });

  it('a file that is not JSON (e.g. /etc/shadow) exits 2 without echoing a byte of it', async () => {
    const file = ws.path('shadow');
    writeFileSync(file, 'root:$6$SECRETSALT$SECRETHASHVALUE:19000:0:99999:7:::\n');
    const res = await runCli(['report', file], {});
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(`${file} is not valid JSON`);
    expect(res.stderr + res.stdout).not.toMatch(/root|SECRET|\$6\$/);
  });

  it('control characters in report fields are shown escaped, never sent to the terminal', async () => {
    const file = ws.path('hostile.json');
    const gate = fixture.gate as Record<string, unknown>;
    writeFileSync(
      file,
      JSON.stringify({
        ...fixture,
        episode: 'ep-\x1b]0;owned\x07',
        gate: { ...gate, reason: 'fine\x1b[2J\x1b[1;1Hall clean\u202e' },
        warnings: ['line one\rOVERWRITTEN'],
      }),
    );
    const res = await runCli(['report', '--color', file], {});
    expect(res.code).toBe(0);
    // Only the renderer's own colour codes (ESC [ n m) remain; nothing from the report's fields.
    // eslint-disable-next-line no-control-regex
    const foreign = res.stdout.replace(/\x1b\[\d+(;\d+)*m/g, '');
    // eslint-disable-next-line no-control-regex
    expect(foreign).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f\u202e]/);
    expect(res.stdout).toContain('why: fine\\u001b[2J\\u001b[1;1Hall clean\\u202e');
    expect(res.stdout).toContain('episode ep-\\u001b]0;owned\\u0007');
    expect(res.stdout).toContain('line one\\rOVERWRITTEN');
  });
});

describe('teardownd report s3://', () => {
  let emulator: AwsEmulator;
  beforeEach(async () => {
    emulator = await AwsEmulator.start();
  });
  afterEach(() => emulator.stop());

  it.each([
    ['s3://reports/../other/secret.json', 'must not contain "." or ".." path segments'],
    ['s3://reports/./../other/secret.json', 'must not contain "." or ".." path segments'],
    ['s3://../other/secret.json', 'is not an S3 bucket name'],
  ])('%s is refused (exit 2) and never requested', async (url, message) => {
    emulator.s3.createBucket('reports');
    emulator.s3.createBucket('other');
    emulator.s3.putObject('other', 'secret.json', fixtureText);
    const res = await runCli(['report', url], emulator.env());
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(message);
    expect(res.stdout).toBe('');
    expect(emulator.calls.all().filter((c) => c.service === 's3')).toEqual([]);
  });
});
