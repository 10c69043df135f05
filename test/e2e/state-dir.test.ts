import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { AwsEmulator } from '../../sim/emulator/server';
import { DaemonProcess, runCli, TempWorkspace } from '../helpers/daemon-process';
import { leftovers, LoxilbClusterIds } from '../../sim/loxilb/footprint';
import { TestMounts } from '../helpers/mounts';
import { closed, ready, RunHarness } from '../helpers/run-harness';

/**
 * The disk serves the teardown and never gates it, and one teardownd owns a state dir: the daemon
 * as a real process against the emulator, with real read-only and full file systems (bind mounts
 * and a tmpfs: the suite runs as root, where chmod stops nothing).
 */
describe('teardownd run: the state dir and the reports dir', () => {
  let h: RunHarness;
  let emulator: AwsEmulator;
  let ws: TempWorkspace;
  let ids: LoxilbClusterIds;
  let queueUrl: string;
  let mounts: TestMounts;

  beforeEach(async () => {
    h = await RunHarness.start();
    ({ emulator, ws, ids, queueUrl } = h);
    mounts = new TestMounts();
  });
  afterEach(async () => {
    // Daemons first: a mount cannot go while a process still has a file open on it.
    for (const d of h.daemons) await d.stop();
    mounts.unmountAll();
    await h.stop();
  });

  const config = (extra: Record<string, unknown> = {}) => h.config(extra);
  const start = (extra: Record<string, unknown> = {}) => h.start(extra);

  /** This host in an Auto Scaling group whose terminate hook notifies the daemon's queue. */
  function inAutoScalingGroup(): void {
    emulator.autoscaling.putHook({
      asgName: 'loxilb-asg',
      hookName: 'teardownd',
      heartbeatTimeoutSeconds: 300,
      defaultResult: 'ABANDON',
      notificationQueueUrl: queueUrl,
    });
    emulator.autoscaling.addInstance('loxilb-asg', ids.masterInstanceId);
  }

  const completions = () =>
    emulator.autoscaling.history().filter((h) => h.action === 'CompleteLifecycleAction' && h.ok);

  const mountReadOnly = (dir: string) => mounts.readOnly(dir);
  const mountFull = (dir: string) => mounts.full(dir);

  it.each([
    ['read-only', mountReadOnly],
    ['full', mountFull],
  ])(
    'reports dir %s: the report is shipped to S3 and logged, the lifecycle action completed, the teardown run once',
    async (_what, breakDir) => {
      inAutoScalingGroup();
      emulator.s3.createBucket('teardownd-reports');
      const reportsDir = breakDir(ws.path('reports'));
      const d = start({ reports: { dir: reportsDir, s3: { bucket: 'teardownd-reports' } } });
      await ready(d);
      const { token } = emulator.autoscaling.startTermination(ids.masterInstanceId);
      const done = await closed(d);

      expect(done.outcome).toBe('clean');
      expect(leftovers(emulator, ids)).toEqual([]);
      expect(completions()).toEqual([expect.objectContaining({ token, result: 'CONTINUE' })]);
      const shipped = emulator.s3.objects('teardownd-reports');
      expect(shipped).toHaveLength(1);
      expect(shipped[0]!.key).toContain(String(done.episode));
      const unwritten = d.logs.find((l) => l.message?.startsWith('report could not be written'));
      expect(unwritten).toMatchObject({
        level: 'error',
        episode: done.episode,
        report: expect.objectContaining({ outcome: 'clean', episode: done.episode }),
      });
      expect(d.logs.filter((l) => l.message === 'teardown started')).toHaveLength(1);
      await DaemonProcess.until(() => emulator.sqs.deletedCount(queueUrl) === 1, 5000, 'message deleted');
      expect(readdirSync(reportsDir).filter((f) => f.endsWith('.json'))).toEqual([]);
    },
  );

  it.each([
    ['read-only', mountReadOnly, 'EROFS'],
    ['full', mountFull, 'ENOSPC'],
  ])(
    'state dir %s: runs in memory (loudly), tears down and completes the lifecycle action',
    async (_what, breakDir, errorCode) => {
      inAutoScalingGroup();
      const stateDir = breakDir(ws.path('state'));
      const d = start({ stateDir });
      await ready(d);
      expect(d.logs.find((l) => l.level === 'error' && l.stage === 'state-dir')).toMatchObject({
        resource: stateDir,
        errorCode,
        message: expect.stringContaining('running in memory'),
      });
      expect(d.logs.find((l) => l.message === 'starting')?.stateDir).toBe('memory');
      const { token } = emulator.autoscaling.startTermination(ids.masterInstanceId);
      const done = await closed(d);
      expect(done.outcome).toBe('clean');
      expect(leftovers(emulator, ids)).toEqual([]);
      expect(completions()).toEqual([expect.objectContaining({ token, result: 'CONTINUE' })]);
      expect(readdirSync(ws.path('reports'))).toHaveLength(1);
    },
  );

  it('the state dir fills up after start: the journal carries on in memory, loudly, and the episode completes', async () => {
    inAutoScalingGroup();
    const stateDir = mounts.small(ws.path('state'));
    const d = start({ stateDir });
    await ready(d);
    expect(d.logs.find((l) => l.message === 'starting')?.stateDir).toBe('disk');
    mounts.fill(stateDir);
    const { token } = emulator.autoscaling.startTermination(ids.masterInstanceId);
    const done = await closed(d);
    expect(done.outcome).toBe('clean');
    expect(leftovers(emulator, ids)).toEqual([]);
    expect(completions()).toEqual([expect.objectContaining({ token, result: 'CONTINUE' })]);
    const journalErrors = d.logs.filter((l) => l.level === 'error' && l.stage === 'journal');
    expect(journalErrors).toEqual([expect.objectContaining({ episode: done.episode, errorCode: 'ENOSPC' })]);
  });

  it('a state dir path that is a file: one line naming it, exit 2, nothing touched', async () => {
    const file = ws.path('not-a-dir');
    writeFileSync(file, 'x');
    const res = await runCli(['run', '--config', config({ stateDir: file })], emulator.env(), 15000);
    expect(res.code).toBe(2);
    expect(res.stderr).toBe(
      `teardownd: stateDir ${file} is not a directory; point stateDir at a directory (default /var/lib/teardownd)\n`,
    );
    expect(res.logs.some((l) => l.message === 'ready')).toBe(false);
    expect(emulator.calls.mutating()).toEqual([]);
    // check agrees with run.
    const check = await runCli(['check', '--config', config({ stateDir: file })], emulator.env(), 15000);
    expect(check.code).toBe(1);
    expect(check.stdout).toMatch(new RegExp(`^FAIL .*not a directory: ${file} \\(ENOTDIR\\)`, 'm'));
  });

  it('a second run, or a CLI teardown, during a run exits 2 naming its pid; kill -9 leaves no stale lock', async () => {
    const first = start();
    await ready(first);
    const pid = first.child.pid!;
    const cfg = config();
    const second = await runCli(['run', '--config', cfg], emulator.env(), 15000);
    expect(second.code).toBe(2);
    expect(second.stderr).toContain(`is in use by teardownd run (pid ${pid}`);
    expect(second.logs.some((l) => l.message === 'ready')).toBe(false);
    const manual = await runCli(
      ['teardown', '--config', cfg, '--instance-id', ids.masterInstanceId],
      emulator.env(),
      15000,
    );
    expect(manual.code).toBe(2);
    expect(manual.stderr).toContain(`is in use by teardownd run (pid ${pid}`);
    // Nothing but the first daemon's owner-tag marking reached EC2.
    expect(emulator.calls.mutating('ec2').filter((c) => c.action !== 'CreateTags')).toEqual([]);

    first.signal('SIGKILL');
    await first.exit();
    const next = start();
    await ready(next);
    expect(
      next.logs.find((l) => l.message === 'took over the state dir lock of a process that is gone'),
    ).toMatchObject({
      stalePid: pid,
    });
  });

  it('directories are created 0750 even under umask 000', async () => {
    const previous = process.umask(0);
    let d: DaemonProcess;
    try {
      d = start();
    } finally {
      process.umask(previous);
    }
    await ready(d);
    emulator.imds.setSpotAction('terminate');
    await closed(d);
    for (const dir of [ws.path('state'), ws.path('state', 'episodes'), ws.path('reports')]) {
      expect([dir, (statSync(dir).mode & 0o777).toString(8)]).toEqual([dir, '750']);
    }
  });
});
