import { decoysIntact, leftovers } from '../../sim/loxilb/footprint';
import { actionOf } from '../helpers/teardown-cli';
import { TeardownHarness } from '../helpers/teardown-harness';

/**
 * A teardown under a throttling storm, injected 5xx and dropped connections still finishes with
 * nothing leaked: throttling and server errors are retried with backoff and jitter, and "not found"
 * after a retried call that had in fact succeeded counts as done.
 */
describe('teardownd teardown under faults', () => {
  let h: TeardownHarness;

  beforeEach(async () => {
    h = await TeardownHarness.start({
      emulator: { ec2: { detachDelayMs: 60, cidrDisassociateDelayMs: 30 } },
      cluster: { enis: 2 },
    });
  });
  afterEach(() => h.stop());

  const teardown = () =>
    h.teardown({
      config: {
        // Enough attempts that a 50% storm cannot exhaust them (0.5^25), short delays for the test.
        executor: { detachPollIntervalMs: 30, maxAttempts: 25, retryBaseDelayMs: 5, retryMaxDelayMs: 40 },
      },
      timeoutMs: 60000,
    });

  it('a throttling storm (half of all EC2 calls refused) still ends clean', async () => {
    const { emulator, ids } = h;
    emulator.faults.add({ service: 'ec2', kind: 'throttle', probability: 0.5 });
    const res = await teardown();
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(leftovers(emulator, ids)).toEqual([]);
    expect(decoysIntact(emulator, ids)).toEqual([]);
    const throttled = emulator.calls.all().filter((c) => c.errorCode === 'RequestLimitExceeded');
    expect(throttled.length).toBeGreaterThan(5);
    const report = res.report();
    expect(report.outcome).toBe('clean');
    expect(report.actions.some((a: { attempts: number }) => a.attempts > 1)).toBe(true);
  });

  it('an EC2 token bucket drained by the fleet still ends clean', async () => {
    const { emulator, ids } = h;
    emulator.faults.addBucket({ service: 'ec2', capacity: 4, refillPerSecond: 40 });
    const res = await teardown();
    expect(res.code).toBe(0);
    expect(leftovers(emulator, ids)).toEqual([]);
    expect(emulator.calls.all().some((c) => c.injected === 'bucket')).toBe(true);
  });

  it('injected 5xx and dropped connections still end clean', async () => {
    const { emulator, ids } = h;
    emulator.faults.add({
      service: 'ec2',
      kind: 'error',
      code: 'InternalError',
      status: 500,
      probability: 0.3,
    });
    emulator.faults.add({
      service: 'ec2',
      kind: 'error',
      code: 'Unavailable',
      status: 503,
      probability: 0.1,
    });
    emulator.faults.add({ service: 'ec2', kind: 'drop', probability: 0.1 });
    const res = await teardown();
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(leftovers(emulator, ids)).toEqual([]);
    expect(decoysIntact(emulator, ids)).toEqual([]);
    expect(emulator.calls.all().filter((c) => c.injected).length).toBeGreaterThan(3);
  });

  it('a denied permission is reported with the AWS code and the manual command, exit 1', async () => {
    const { emulator, ids } = h;
    emulator.ec2.denyActions(['DeleteSubnet']);
    const res = await teardown();
    expect(res.code).toBe(1);
    const report = res.report();
    expect(actionOf(report, 'DeleteSubnet')).toMatchObject({
      outcome: 'failed',
      errorCode: 'UnauthorizedOperation',
    });
    expect(report.leftBehind).toContainEqual(
      expect.objectContaining({
        resource: ids.subnetId,
        errorCode: 'UnauthorizedOperation',
        manualCommand: `aws ec2 delete-subnet --subnet-id ${ids.subnetId}`,
      }),
    );
    // Everything that did not depend on the subnet still went.
    expect(leftovers(emulator, ids).map((l) => l.kind)).toEqual(['subnet', 'cidr-association']);
  });

  it('a discovery that is refused changes nothing: plan says why, teardown reports it (exit 1)', async () => {
    const { emulator } = h;
    emulator.ec2.denyActions(['DescribeNetworkInterfaces']);
    const plan = await h.plan();
    expect(plan.code).toBe(1);
    expect(plan.stderr).toMatch(/discovery failed, no plan \(UnauthorizedOperation\)/);
    expect(plan.stdout).toBe('');

    const res = await teardown();
    expect(res.code).toBe(1);
    expect(emulator.calls.mutating()).toEqual([]);
    const report = res.report();
    expect(report).toMatchObject({
      outcome: 'left-behind',
      error: { stage: 'inventory', errorCode: 'UnauthorizedOperation' },
    });
    expect(report.leftBehind[0].reason).toMatch(/discovery failed, nothing was changed/);
  });
});
