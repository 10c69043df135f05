import { DaemonProcess } from '../helpers/daemon-process';
import { closed, ready, RunHarness } from '../helpers/run-harness';
import { decoysIntact, leftovers, LoxilbClusterIds } from '../../sim/loxilb/footprint';
import { reportOf as readReportOf } from '../helpers/teardown-cli';
import { TeardownHarness } from '../helpers/teardown-harness';

/**
 * An AWS that hangs or throttles (issue 10, items 1–2): every call is cut by aws.callTimeoutMs and
 * by the deadline, retried where safe until the deadline, and mutating EC2 calls are paced by the
 * per-process bucket. The CLI teardown ends by its deadline with an honest report; the daemon
 * closes its episode and completes the lifecycle action; SIGTERM exits even with a call hung.
 * Per-call timeouts are short in config so each test takes seconds.
 */

interface Report {
  outcome: string;
  durationMs: number;
  startedAt: string;
  finishedAt: string;
  deadlineAt?: string;
  actions: Array<{ action: string; outcome: string; attempts: number; errorCode?: string }>;
  leftBehind: Array<{ resource: string; reason: string; manualCommand: string }>;
}

const reportOf = (stdout: string): Report => readReportOf(stdout) as Report;

/** A left-behind report is honest when every resource it leaves names why and how to remove it. */
function expectHonest(report: Report): void {
  expect(['clean', 'left-behind']).toContain(report.outcome);
  if (report.outcome === 'clean') expect(report.leftBehind).toEqual([]);
  for (const l of report.leftBehind) {
    expect(l.reason).toMatch(/\w/);
    expect(l.manualCommand).toMatch(/^aws ec2 /);
  }
  // Nothing ends `failed` because AWS was slow or busy: only the deadline may stop a retryable call.
  expect(report.actions.filter((a) => a.outcome === 'failed')).toEqual([]);
}

describe('AWS calls that hang or are throttled', () => {
  let h: TeardownHarness | undefined;
  let ids: LoxilbClusterIds;

  const start = async (opts: { seed?: number; enis?: number } = {}) => {
    h = await TeardownHarness.start({
      emulator: { seed: opts.seed, ec2: { detachDelayMs: 100 } },
      cluster: { enis: opts.enis ?? 1 },
    });
    ids = h.ids;
    return h.emulator;
  };
  afterEach(async () => {
    await h?.stop();
    h = undefined;
  });

  /** CLI teardown with a 20 s deadline (executor.defaultDeadlineMs) unless told otherwise. */
  const teardown = (config: Record<string, unknown> = {}) =>
    h!.teardown({
      config: {
        aws: { callTimeoutMs: 1000 },
        ...config,
        executor: {
          defaultDeadlineMs: 20000,
          detachPollIntervalMs: 50,
          retryBaseDelayMs: 20,
          retryMaxDelayMs: 200,
          ...(config.executor as Record<string, unknown> | undefined),
        },
      },
      // Generous: the run itself is bounded by its 20 s deadline.
      timeoutMs: 90000,
    });

  it('the first DescribeNetworkInterfaces never answers: cut by aws.callTimeoutMs, retried, clean', async () => {
    const em = await start();
    em.faults.add({ service: 'ec2', action: 'DescribeNetworkInterfaces', kind: 'hang', count: 1 });
    const res = await teardown();
    expect(res.signal).toBeNull();
    expect(res.code).toBe(0);
    const report = reportOf(res.stdout);
    expect(report.outcome).toBe('clean');
    expect(leftovers(em, ids)).toEqual([]);
    expect(decoysIntact(em, ids)).toEqual([]);
    const describes = em.calls.of('ec2', 'DescribeNetworkInterfaces');
    // The hung request was given up by the client (the emulator saw the socket close), then retried.
    expect(describes[0]).toMatchObject({ errorCode: 'ConnectionDropped', injected: 'drop' });
    expect(describes.length).toBeGreaterThanOrEqual(2);
    expect(res.logs.some((l) => l.message === 'retrying AWS call' && l.errorCode === 'CallTimeout')).toBe(
      true,
    );
  });

  it('a DetachNetworkInterface that never answers is cut and retried; the run ends clean', async () => {
    const em = await start();
    em.faults.add({ service: 'ec2', action: 'DetachNetworkInterface', kind: 'hang', count: 1 });
    const res = await teardown();
    expect(res.code).toBe(0);
    const report = reportOf(res.stdout);
    expect(report.outcome).toBe('clean');
    expect(report.actions.find((a) => a.action === 'DetachNetworkInterface')).toMatchObject({
      outcome: 'done',
      attempts: 2,
    });
    expect(leftovers(em, ids)).toEqual([]);
  });

  it('a call still hung when the deadline comes is cut there: the report says deadline, honestly', async () => {
    const em = await start();
    em.faults.add({ service: 'ec2', action: 'DetachNetworkInterface', kind: 'hang' });
    // The per-call timeout is longer than the whole budget: only the deadline can end the detach.
    const res = await teardown({
      aws: { callTimeoutMs: 60000 },
      executor: { defaultDeadlineMs: 4000, deadlineReserveMs: 1000 },
    });
    expect(res.signal).toBeNull();
    expect(res.code).toBe(1);
    const report = reportOf(res.stdout);
    expectHonest(report);
    expect(report.outcome).toBe('left-behind');
    expect(report.actions.find((a) => a.action === 'DetachNetworkInterface')).toMatchObject({
      outcome: 'deadline',
      errorCode: 'DeadlineExceeded',
    });
    expect(report.leftBehind.map((l) => l.resource)).toContain(ids.enis[0].eniId);
    // The executor stopped at its deadline: the report ends there, not a call timeout later.
    expect(Date.parse(report.finishedAt)).toBeLessThan(Date.parse(report.deadlineAt!) + 5000);
  });

  it('3 % of EC2 requests hanging: a full teardown ends by its deadline, clean or honestly left-behind', async () => {
    // Seed 15 draws hangs for the 6th, 12th and 30th EC2 request: the run meets at least two.
    const em = await start({ seed: 15, enis: 4 });
    em.faults.add({ service: 'ec2', kind: 'hang', probability: 0.03 });
    const res = await teardown();
    expect(res.signal).toBeNull();
    expect([0, 1]).toContain(res.code);
    const report = reportOf(res.stdout);
    expectHonest(report);
    expect(em.calls.all().filter((c) => c.injected === 'drop').length).toBeGreaterThanOrEqual(2);
    expect(Date.parse(report.finishedAt)).toBeLessThan(Date.parse(report.deadlineAt!) + 2000);
    expect(decoysIntact(em, ids)).toEqual([]);
  });

  it('80 % of EC2 calls throttled: keeps trying until the deadline, nothing given up early', async () => {
    const em = await start({ enis: 2 });
    em.faults.add({ service: 'ec2', kind: 'throttle', probability: 0.8 });
    // Eight attempts (executor.maxAttempts) are 0.8^8 ≈ 17 % likely to be all refused: with ~50 calls
    // a run that stopped after maxAttempts would fail some. Under a deadline only the deadline stops.
    const res = await teardown({ executor: { defaultDeadlineMs: 45000, deadlineReserveMs: 0 } });
    expect(res.signal).toBeNull();
    const report = reportOf(res.stdout);
    expectHonest(report);
    expect(report.outcome).toBe('clean');
    expect(res.code).toBe(0);
    expect(leftovers(em, ids)).toEqual([]);
  });

  it('a large footprint paced by aws.mutatingBucket is not throttled by an EC2-like bucket; unpaced it is', async () => {
    const em = await start({ enis: 6 });
    // EC2's bucket for mutating calls, scaled down: 12 burst, 10/s. Ours is smaller than theirs by
    // 10 tokens, so arrival jitter of up to a second on a loaded machine still fits.
    const mutating = /^(?!Describe)/;
    em.faults.addBucket({ service: 'ec2', action: mutating, capacity: 12, refillPerSecond: 10 });
    const refused = () => em.calls.all().filter((c) => c.injected === 'bucket').length;

    const paced = await teardown({
      aws: { callTimeoutMs: 5000, mutatingBucket: { capacity: 2, refillPerSecond: 10 } },
    });
    expect(paced.code).toBe(0);
    expect(reportOf(paced.stdout).outcome).toBe('clean');
    expect(em.calls.mutating('ec2').length).toBeGreaterThanOrEqual(40);
    expect(refused()).toBe(0);

    // The same footprint sent as fast as the executor allows drains that bucket (and retries).
    ids = h!.seed({ enis: 6, cloudCidr: '123.123.124.0/24', decoys: false });
    const unpaced = await teardown({
      aws: { callTimeoutMs: 5000, mutatingBucket: { capacity: 10000, refillPerSecond: 10000 } },
    });
    expect(reportOf(unpaced.stdout).outcome).toBe('clean');
    expect(refused()).toBeGreaterThan(0);
  });
});

describe('the daemon when AWS calls hang', () => {
  let h: RunHarness;
  beforeEach(async () => {
    h = await RunHarness.start();
  });
  afterEach(() => h.stop());

  it('the daemon with a hung DescribeNetworkInterfaces: closes the episode, writes the report, completes the lifecycle action', async () => {
    const { emulator: em, ids, queueUrl } = h;
    em.autoscaling.putHook({
      asgName: 'loxilb-asg',
      hookName: 'teardownd',
      heartbeatTimeoutSeconds: 300,
      defaultResult: 'ABANDON',
      notificationQueueUrl: queueUrl,
    });
    em.autoscaling.addInstance('loxilb-asg', ids.masterInstanceId);
    const d = h.start({ aws: { callTimeoutMs: 1000 } });
    await ready(d);
    await d.waitForLog((l) => /^marked 1 loxilb ENI/.test(String(l.message)), 15000, 'ownership marking');
    // Armed once start-up and ownership marking are done: the next Describe is the teardown's.
    em.faults.add({ service: 'ec2', action: 'DescribeNetworkInterfaces', kind: 'hang', count: 1 });
    const { token } = em.autoscaling.startTermination(ids.masterInstanceId);
    await closed(d, 45000);
    expect(d.logs.find((l) => l.message === 'report written')?.outcome).toBe('clean');
    expect(em.calls.of('ec2', 'DescribeNetworkInterfaces').some((c) => c.injected === 'drop')).toBe(true);
    expect(em.autoscaling.history().filter((e) => e.action === 'CompleteLifecycleAction' && e.ok)).toEqual([
      expect.objectContaining({ token, result: 'CONTINUE' }),
    ]);
    expect(leftovers(em, ids)).toEqual([]);
  });

  it('SIGTERM while EC2 calls hang: the daemon exits, it does not wait on them', async () => {
    const em = h.emulator;
    // Every DescribeNetworkInterfaces hangs and one attempt may take a minute: only the stop signal
    // can end the teardown's discovery and the ownership marker's pass.
    const d = h.start({ aws: { callTimeoutMs: 60000 } });
    await ready(d);
    em.faults.add({ service: 'ec2', action: 'DescribeNetworkInterfaces', kind: 'hang' });
    em.imds.setSpotAction('terminate');
    await DaemonProcess.until(
      () => em.calls.of('ec2', 'DescribeNetworkInterfaces').some((c) => c.status === 0),
      15000,
      'a hung DescribeNetworkInterfaces',
    );
    d.signal('SIGTERM');
    // Bounded generously; before the one call path this never exited (SIGKILL at the bound).
    const { code, signal } = await d.exit(30000);
    expect(signal).toBeNull();
    expect(code).toBe(0);
    expect(d.logs.some((l) => l.message === 'stopped')).toBe(true);
    expect(em.calls.mutating('ec2').map((c) => c.action)).not.toContain('DeleteSubnet');
  });
});
