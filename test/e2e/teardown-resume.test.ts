import { DaemonProcess } from '../helpers/daemon-process';
import { decoysIntact, leftovers } from '../../sim/loxilb/footprint';
import { TeardownHarness } from '../helpers/teardown-harness';

/**
 * Full scope removes what loxilb's own destroy removes, and nothing is forgotten across a crash:
 * the daemon killed with SIGKILL at the steps after which AWS no longer shows what led to the next
 * one, the CLI killed mid-detach, then run again. No `cloud.cidrBlock` in the config: the CIDR is
 * found through the loxilb subnet, which a run killed after DeleteSubnet no longer has.
 */
describe('full scope and resume after a crash', () => {
  let h: TeardownHarness;

  beforeEach(async () => {
    h = await TeardownHarness.start({
      emulator: { ec2: { detachDelayMs: 80, cidrDisassociateDelayMs: 50 } },
    });
    h.emulator.imds.configure({ instanceId: h.ids.masterInstanceId });
  });
  afterEach(() => h.stop());

  const config = (extra: Record<string, unknown> = {}) =>
    h.config({ cloud: undefined, sweeper: { enabled: false }, ...extra });
  const teardown = () => h.teardown({ config: config() });
  /** Successful mutating EC2 calls as "Action resource": a resource deleted twice shows up twice. */
  const successfulMutations = () =>
    h.emulator.calls
      .mutating('ec2')
      .filter((c) => c.status === 200)
      .map((c) => `${c.action} ${Object.values(c.params)[0]}`);
  const succeeded = (action: string) => h.emulator.calls.of('ec2', action).some((c) => c.status === 200);
  const sent = (action: string) => h.emulator.calls.of('ec2', action).length > 0;

  describe('full scope as loxilb destroy', () => {
    it('an unattached tagged ENI from a failed attach: subnet, route table and CIDR still go', async () => {
      const { emulator, ids } = h;
      // loxilb created it in its subnet, the attach failed: no attachment, no owner tag.
      const failed = emulator.ec2.createNetworkInterface({
        subnetId: ids.subnetId,
        description: 'loxilb-eni',
        tags: { [ids.tagKey]: ids.tags.eni },
      }).networkInterfaceId;
      const res = await teardown();
      expect(res.stderr).toBe('');
      expect(res.code).toBe(0);
      expect(emulator.ec2.networkInterfaceById(failed)).toBeUndefined();
      expect(leftovers(emulator, ids)).toEqual([]);
      expect(decoysIntact(emulator, ids)).toEqual([]);
      const report = res.report();
      expect(report.outcome).toBe('clean');
      expect(report.actions).toContainEqual(
        expect.objectContaining({ action: 'DeleteNetworkInterface', resource: failed, outcome: 'done' }),
      );
    });

    it('an unattached tagged ENI whose owner is a running instance stays, and so does the subnet: left-behind, not clean', async () => {
      const { emulator, ids } = h;
      const kept = emulator.ec2.createNetworkInterface({
        subnetId: ids.subnetId,
        description: 'loxilb-eni',
        tags: { [ids.tagKey]: ids.tags.eni, 'teardownd:owner': ids.peerInstanceId! },
      }).networkInterfaceId;
      const res = await teardown();
      expect(res.code).toBe(1);
      expect(emulator.ec2.networkInterfaceById(kept)).toBeDefined();
      expect(emulator.ec2.subnetById(ids.subnetId)).toBeDefined();
      const report = res.report();
      expect(report.outcome).toBe('left-behind');
      expect(report.leftBehind).toContainEqual(
        expect.objectContaining({ resource: ids.subnetId, reason: expect.stringContaining(kept) }),
      );
      expect(decoysIntact(emulator, ids)).toEqual([]);
    });
  });

  describe('the daemon killed with SIGKILL, then restarted: nothing leaked, nothing deleted twice', () => {
    const start = () =>
      h.spawn([
        'run',
        '--config',
        config({
          gate: { mode: 'override', override: 'full' },
          sources: { imds: { pollIntervalMs: 100, requestTimeoutMs: 300 } },
        }),
      ]);

    const points: Array<{
      after: string;
      arrange: () => void;
      killWhen: () => boolean;
      before?: () => void;
    }> = [
      {
        // The detach went out; it completes while the daemon is dead: the ENI is `available`,
        // unattached (the owner tag the daemon wrote at start-up and the journal both still name it).
        after: 'DetachNetworkInterface',
        arrange: () => h.emulator.ec2.configure({ holdDetaches: true }),
        killWhen: () => succeeded('DetachNetworkInterface'),
        before: () => h.emulator.ec2.releaseHeldDetaches(),
      },
      {
        after: 'DeleteNetworkInterface',
        arrange: () =>
          h.emulator.faults.add({ service: 'ec2', action: 'DisassociateRouteTable', kind: 'hang', count: 1 }),
        killWhen: () => succeeded('DeleteNetworkInterface') && sent('DisassociateRouteTable'),
      },
      {
        // The subnet is gone: nothing AWS shows ties the cloud CIDR to loxilb any more.
        after: 'DeleteSubnet',
        arrange: () =>
          h.emulator.faults.add({
            service: 'ec2',
            action: 'DisassociateVpcCidrBlock',
            kind: 'hang',
            count: 1,
          }),
        killWhen: () => succeeded('DeleteSubnet') && sent('DisassociateVpcCidrBlock'),
      },
    ];

    it.each(points)('after $after', async ({ after, arrange, killWhen, before }) => {
      const { emulator, ids } = h;
      arrange();
      const first = start();
      await first.waitForLog((l) => l.message === 'ready', 15000, 'ready');
      emulator.imds.setSpotAction('terminate');
      await DaemonProcess.until(killWhen, 15000, `the daemon to get past ${after}`);
      first.child.kill('SIGKILL');
      await first.exit();
      before?.();
      expect(leftovers(emulator, ids).length).toBeGreaterThan(0);

      const second = start();
      await second.waitForLog((l) => l.message === 'resuming episode from the journal', 15000, 'resume');
      const written = await second.waitForLog((l) => l.message === 'report written', 20000, 'report written');
      expect(written.outcome).toBe('clean');
      expect(leftovers(emulator, ids)).toEqual([]);
      expect(decoysIntact(emulator, ids)).toEqual([]);
      const all = successfulMutations();
      expect(all.filter((m, i) => all.indexOf(m) !== i)).toEqual([]);
    });
  });

  it('a CLI teardown killed mid-detach finds its detached ENI on the re-run', async () => {
    // After the detach nothing on the ENI says whose it was (the CLI does not write the owner tag):
    // only its journal does (the plan says which rule found it).
    const { emulator, ids } = h;
    emulator.ec2.configure({ holdDetaches: true });
    const first = h.spawn(h.args('teardown', { config: config() }));
    await DaemonProcess.until(() => succeeded('DetachNetworkInterface'), 15000, 'the detach');
    first.child.kill('SIGKILL');
    await first.exit();
    emulator.ec2.releaseHeldDetaches();
    const eniId = ids.enis[0].eniId;
    expect(emulator.ec2.networkInterfaceById(eniId)).toMatchObject({ status: 'available' });

    // `plan` shows what the re-run will do: it reads the interrupted run's record too.
    const plan = await h.plan({ config: config(), flags: ['--json'] });
    expect(JSON.parse(plan.stdout).actions).toContainEqual(
      expect.objectContaining({
        action: 'DeleteNetworkInterface',
        resource: eniId,
        status: 'planned',
        summary: expect.stringContaining('recorded as this host’s by an earlier run of this episode'),
      }),
    );

    const res = await teardown();
    expect(res.code).toBe(0);
    expect(res.logs.some((l) => l.message === 'resuming an interrupted teardown from the CLI journal')).toBe(
      true,
    );
    expect(emulator.ec2.networkInterfaceById(eniId)).toBeUndefined();
    const report = res.report();
    expect(report.outcome).toBe('clean');
    expect(report.actions).toContainEqual(
      expect.objectContaining({ action: 'DeleteNetworkInterface', resource: eniId, outcome: 'done' }),
    );
    expect(leftovers(emulator, ids)).toEqual([]);
    expect(decoysIntact(emulator, ids)).toEqual([]);
    const all = successfulMutations();
    expect(all.filter((m, i) => all.indexOf(m) !== i)).toEqual([]);
  });
});
