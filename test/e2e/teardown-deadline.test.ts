import { AwsEmulator } from '../../sim/emulator/server';
import { DaemonProcess, runCli, TempWorkspace } from '../helpers/daemon-process';
import { leftovers, LoxilbClusterIds, seedLoxilbCluster } from '../../sim/loxilb/footprint';
import { reportOf } from '../helpers/teardown-cli';

/**
 * A teardown never outlives its budget: what cannot finish before the deadline is skipped and the
 * report says so; SIGTERM/SIGINT stop it the same way. Either way the report is written and the
 * exit code says something was left behind.
 */
describe('teardownd teardown: deadline and abort', () => {
  let emulator: AwsEmulator;
  let ws: TempWorkspace;
  let ids: LoxilbClusterIds;
  let daemon: DaemonProcess | undefined;

  beforeEach(async () => {
    // An ENI that takes far longer to detach than the budget allows.
    emulator = await AwsEmulator.start({ ec2: { detachDelayMs: 20000 } });
    ws = new TempWorkspace();
    ids = seedLoxilbCluster(emulator);
  });
  afterEach(async () => {
    await daemon?.stop();
    daemon = undefined;
    await emulator.stop();
    ws.cleanup();
  });

  const args = (executor: Record<string, unknown>) => [
    '-c',
    ws.writeConfig({
      cloud: { cidrBlock: ids.cloudCidr },
      executor: { detachPollIntervalMs: 50, ...executor },
    }),
    'teardown',
    '--instance-id',
    ids.masterInstanceId,
    '--scope',
    'full',
  ];

  it('what cannot finish before the deadline is skipped and reported', async () => {
    const res = await runCli(args({ defaultDeadlineMs: 1500, deadlineReserveMs: 500 }), emulator.env());
    expect(res.code).toBe(1);
    const report = reportOf(res.stdout);
    expect(report.outcome).toBe('left-behind');
    const del = report.actions.find((a: { action: string }) => a.action === 'DeleteNetworkInterface');
    expect(del).toMatchObject({ outcome: 'deadline', errorCode: 'DetachTimeout' });
    expect(del.message).toMatch(/still detaching when the deadline came/);
    expect(report.actions.find((a: { action: string }) => a.action === 'DeleteSubnet').outcome).toBe(
      'blocked',
    );
    // Done before the deadline stays done.
    expect(leftovers(emulator, ids).filter((l) => l.kind === 'eip-association')).toEqual([]);
    expect(report.leftBehind.map((l: { resource: string }) => l.resource)).toContain(ids.enis[0].eniId);
  });

  it('SIGTERM stops the run; the report lists what was not done', async () => {
    daemon = new DaemonProcess(args({}), emulator.env());
    await daemon.waitForLog(
      (l) => l.action === 'DetachNetworkInterface' && l.outcome === 'done',
      15000,
      'the detach',
    );
    daemon.signal('SIGTERM');
    const { code } = await daemon.exit(10000);
    expect(code).toBe(1);
    const report = reportOf(daemon.stdout);
    const del = report.actions.find((a: { action: string }) => a.action === 'DeleteNetworkInterface');
    expect(del).toMatchObject({ outcome: 'skipped', aborted: true });
    expect(del.message).toMatch(/aborted: received SIGTERM/);
    expect(emulator.calls.mutating('ec2').map((c) => c.action)).not.toContain('DeleteSubnet');
    expect(report.leftBehind.length).toBeGreaterThanOrEqual(4);
  });
});
