import { decoysIntact, leftovers } from '../../sim/loxilb/footprint';
import { reportPathOf } from '../helpers/teardown-cli';
import { TeardownHarness } from '../helpers/teardown-harness';

/**
 * `teardownd teardown` as an operator runs it on a loxilb master: the built CLI as a child process
 * against the AWS emulator seeded with loxilb's full footprint (CIDR, subnet, route table, ENI with
 * 4 VIPs and 4 EIPs) plus decoys it must never touch.
 */
describe('teardownd teardown: scopes', () => {
  let h: TeardownHarness;

  const start = async (opts: Parameters<typeof TeardownHarness.start>[0]) => {
    h = await TeardownHarness.start(opts);
    // Static MASTER + BFD is full only when AWS shows no live peer: the master is its group's only member.
    h.emulator.autoscaling.addInstance('loxilb-asg', h.ids.masterInstanceId);
  };
  beforeEach(() => start({ emulator: { ec2: { detachDelayMs: 100, cidrDisassociateDelayMs: 50 } } }));
  afterEach(() => h.stop());

  const config = (extra: Record<string, unknown> = {}) =>
    h.config({ gate: { mode: 'static', static: { bfd: true, master: true } }, ...extra });

  it('full scope removes the whole footprint, leaves the decoys, and writes the report', async () => {
    const { emulator, ids } = h;
    const res = await h.teardown({ config: config(), scope: null });
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(leftovers(emulator, ids)).toEqual([]);
    expect(decoysIntact(emulator, ids)).toEqual([]);
    // EIPs belong to the user: disassociated, never released.
    for (const alloc of ids.enis[0].allocationIds) expect(emulator.ec2.addressById(alloc)).toBeDefined();

    const path = reportPathOf(res.stdout);
    expect(path).toBeDefined();
    const report = res.report();
    expect(path.startsWith(h.ws.path('reports'))).toBe(true);
    expect(path).toMatch(new RegExp(`${ids.masterInstanceId}-cli-[0-9TZ]+-[0-9a-f]{6}\\.json$`));
    expect(report).toMatchObject({
      schemaVersion: 1,
      instanceId: ids.masterInstanceId,
      outcome: 'clean',
      dryRun: false,
      scope: 'full',
      gate: { scope: 'full', source: 'static' },
      trigger: { kind: 'manual', source: 'cli', instanceId: ids.masterInstanceId },
      leftBehind: [],
    });
    expect(
      report.actions.map(
        (a: { action: string; resource: string; outcome: string }) =>
          `${a.action} ${a.resource} ${a.outcome}`,
      ),
    ).toEqual([
      ...ids.enis[0].eipAssociationIds.map((id) => `DisassociateAddress ${id} done`),
      `DetachNetworkInterface ${ids.enis[0].eniId} done`,
      `DeleteNetworkInterface ${ids.enis[0].eniId} done`,
      `DisassociateRouteTable ${ids.routeTableAssociationId} done`,
      `DeleteRouteTable ${ids.routeTableId} done`,
      `DeleteSubnet ${ids.subnetId} done`,
      `DisassociateVpcCidrBlock ${ids.cidrAssociationId} done`,
    ]);
    expect(res.stdout).toMatch(/teardown clean: instance i-\w+, scope full/);

    // Every action left a JSON log line with the fixed field names.
    const actionLogs = res.logs.filter((l) => l.action && l.resource && l.stage);
    expect(actionLogs).toHaveLength(10);
    for (const l of actionLogs) {
      expect(l).toMatchObject({ instanceId: ids.masterInstanceId, episode: report.episode, outcome: 'done' });
      expect(typeof l.durationMs).toBe('number');
    }
  });

  it('handover changes nothing on AWS and says so; --scope instance is refused with "use handover"', async () => {
    const { emulator, ids } = h;
    const res = await h.teardown({ config: config(), scope: 'handover' });
    expect(res.code).toBe(0);
    expect(emulator.calls.mutating()).toEqual([]);
    expect(decoysIntact(emulator, ids)).toEqual([]);
    const report = res.report();
    expect(report.outcome).toBe('handover');
    expect(report.gate).toMatchObject({ scope: 'handover', source: 'cli' });
    expect(report.actions).toEqual([]);

    const old = await h.teardown({ config: config(), scope: 'instance' });
    expect(old.code).toBe(2);
    expect(old.stderr).toMatch(/--scope: scope "instance" no longer exists: use handover/);
    expect(emulator.calls.mutating()).toEqual([]);
  });

  it('scope none changes nothing and still reports what it saw', async () => {
    const res = await h.teardown({
      config: config({ gate: { mode: 'override', override: 'none' } }),
      scope: null,
    });
    expect(res.code).toBe(0);
    expect(h.emulator.calls.mutating()).toEqual([]);
    const report = res.report();
    expect(report.outcome).toBe('scope-none');
    expect(report.actions).toHaveLength(6);
    expect(report.actions.every((a: { outcome: string }) => a.outcome === 'skipped')).toBe(true);
  });

  it('owned EIPs (release tag, policy release-owned) are released too', async () => {
    await h.stop();
    await start({ emulator: { ec2: { detachDelayMs: 50 } }, cluster: { ownedEips: true } });
    const { emulator, ids } = h;
    const res = await h.teardown({ config: config({ eip: { policy: 'release-owned' } }), scope: null });
    expect(res.code).toBe(0);
    expect(leftovers(emulator, ids)).toEqual([]);
    for (const alloc of ids.enis[0].allocationIds) expect(emulator.ec2.addressById(alloc)).toBeUndefined();
    expect(decoysIntact(emulator, ids)).toEqual([]);
  });
});
