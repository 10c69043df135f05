import { leftovers } from '../../sim/loxilb/footprint';
import { TeardownHarness } from '../helpers/teardown-harness';

/**
 * DESIGN.md invariant 5: `teardownd plan` and `teardownd teardown --dry-run` make zero mutating calls,
 * asserted from the emulator's own call log (every service), while showing exactly what a real run
 * would do.
 */
describe('teardownd plan and --dry-run', () => {
  let h: TeardownHarness;

  beforeEach(async () => {
    h = await TeardownHarness.start({
      emulator: { ec2: { detachDelayMs: 50 } },
      cluster: { peerLoxilbEni: true },
    });
  });
  afterEach(() => h.stop());

  it('plan prints the ordered plan as a table and changes nothing', async () => {
    const { emulator, ids } = h;
    const before = leftovers(emulator, ids);
    const res = await h.plan();
    expect(res.code).toBe(0);
    expect(emulator.calls.mutating()).toEqual([]);
    expect(emulator.calls.all().length).toBeGreaterThan(0);
    expect(leftovers(emulator, ids)).toEqual(before);
    const lines = res.stdout.split('\n');
    expect(lines[0]).toBe(`Plan for ${ids.masterInstanceId} in ${ids.vpcId} (nothing has been changed)`);
    const rows = lines.filter((l) => /^(eip|eni|route-table|subnet|cidr) /.test(l));
    expect(rows.map((r) => r.split(/\s+/).slice(0, 4).join(' '))).toEqual([
      ...ids.enis[0].eipAssociationIds.map((id) => `eip DisassociateAddress ${id} planned`),
      `eni DetachNetworkInterface ${ids.enis[0].eniId} planned`,
      `eni DeleteNetworkInterface ${ids.enis[0].eniId} planned`,
      `route-table DisassociateRouteTable ${ids.routeTableAssociationId} planned`,
      `route-table DeleteRouteTable ${ids.routeTableId} planned`,
      `subnet DeleteSubnet ${ids.subnetId} planned`,
      `cidr DisassociateVpcCidrBlock ${ids.cidrAssociationId} planned`,
    ]);
    // Logs went to stderr, not into the table.
    expect(res.stdout).not.toMatch(/^\{/m);
    expect(res.stderr).toMatch(/"message":"plan: 10 planned/);
  });

  it('plan --json prints one JSON document and nothing else on stdout', async () => {
    const { emulator, ids } = h;
    const res = await h.plan({ flags: ['--json'] });
    expect(res.code).toBe(0);
    expect(emulator.calls.mutating()).toEqual([]);
    const doc = JSON.parse(res.stdout);
    expect(doc).toMatchObject({
      instanceId: ids.masterInstanceId,
      vpcId: ids.vpcId,
      scope: 'full',
      gate: { scope: 'full', source: 'cli' },
      counts: { planned: 10, blocked: 0, skipped: 0 },
    });
    expect(doc.actions[4]).toMatchObject({
      stage: 'eni',
      action: 'DetachNetworkInterface',
      resource: ids.enis[0].eniId,
      manualCommand: `aws ec2 detach-network-interface --attachment-id ${ids.enis[0].attachmentId}`,
    });
    expect(doc.untouched).toContainEqual(expect.objectContaining({ resource: ids.decoys!.peerEniId }));
  });

  it('teardown --dry-run makes zero mutating calls and reports what it would do', async () => {
    const { emulator, ids } = h;
    const before = leftovers(emulator, ids);
    const res = await h.teardown({ flags: ['--dry-run'] });
    expect(res.code).toBe(0);
    expect(emulator.calls.mutating()).toEqual([]);
    expect(leftovers(emulator, ids)).toEqual(before);
    const report = res.report();
    expect(report).toMatchObject({ dryRun: true, outcome: 'dry-run', calls: { mutate: 0 } });
    expect(report.actions).toHaveLength(10);
    expect(
      report.actions.every(
        (a: { outcome: string; attempts: number }) => a.outcome === 'dry-run' && a.attempts === 0,
      ),
    ).toBe(true);
  });

  it('config dryRun: true is a dry run too', async () => {
    const res = await h.teardown({ config: { dryRun: true } });
    expect(res.code).toBe(0);
    expect(h.emulator.calls.mutating()).toEqual([]);
    expect(res.stdout).toMatch(/teardown dry-run/);
  });
});
