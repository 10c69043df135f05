import { leftovers } from '../../sim/loxilb/footprint';
import { actionOf, reportOf } from '../helpers/teardown-cli';
import { TeardownHarness } from '../helpers/teardown-harness';

/**
 * A teardown never outlives its budget: what cannot finish before the deadline is skipped and the
 * report says so; SIGTERM/SIGINT stop it the same way. Either way the report is written and the
 * exit code says something was left behind.
 */
describe('teardownd teardown: deadline and abort', () => {
  let h: TeardownHarness;

  beforeEach(async () => {
    // An ENI that takes far longer to detach than the budget allows.
    h = await TeardownHarness.start({ emulator: { ec2: { detachDelayMs: 20000 } } });
  });
  afterEach(() => h.stop());

  const config = (executor: Record<string, unknown>) =>
    h.config({ executor: { detachPollIntervalMs: 50, ...executor } });

  it('what cannot finish before the deadline is skipped and reported', async () => {
    const { emulator, ids } = h;
    const res = await h.teardown({ config: config({ defaultDeadlineMs: 1500, deadlineReserveMs: 500 }) });
    expect(res.code).toBe(1);
    const report = res.report();
    expect(report.outcome).toBe('left-behind');
    const del = actionOf(report, 'DeleteNetworkInterface');
    expect(del).toMatchObject({ outcome: 'deadline', errorCode: 'DetachTimeout' });
    expect(del.message).toMatch(/still detaching when the deadline came/);
    expect(actionOf(report, 'DeleteSubnet').outcome).toBe('blocked');
    // Done before the deadline stays done.
    expect(leftovers(emulator, ids).filter((l) => l.kind === 'eip-association')).toEqual([]);
    expect(report.leftBehind.map((l: { resource: string }) => l.resource)).toContain(ids.enis[0].eniId);
  });

  it('SIGTERM stops the run; the report lists what was not done', async () => {
    const daemon = h.spawn(h.args('teardown', { config: config({}) }));
    await daemon.waitForLog(
      (l) => l.action === 'DetachNetworkInterface' && l.outcome === 'done',
      15000,
      'the detach',
    );
    daemon.signal('SIGTERM');
    const { code } = await daemon.exit(10000);
    expect(code).toBe(1);
    const report = reportOf(daemon.stdout);
    const del = actionOf(report, 'DeleteNetworkInterface');
    expect(del).toMatchObject({ outcome: 'skipped', aborted: true });
    expect(del.message).toMatch(/aborted: received SIGTERM/);
    expect(h.emulator.calls.mutating('ec2').map((c) => c.action)).not.toContain('DeleteSubnet');
    expect(report.leftBehind.length).toBeGreaterThanOrEqual(4);
  });
});
