import { readdirSync, readFileSync } from 'node:fs';
import { AwsEmulator } from '../../sim/emulator/server';
import { DaemonProcess, TempWorkspace } from '../helpers/daemon-process';
import { decoysIntact, LoxilbClusterIds, seedLoxilbCluster } from '../../sim/loxilb/footprint';

/**
 * Issue #4 inside the daemon: `teardownd run` on a surviving host marks its own loxilb ENI with the
 * owner tag at start-up and sweeps on its node-cron schedule. The master vanished without notice; the
 * survivor's sweeper removes the master's orphan ENI but keeps the cluster's shared subnet, route
 * table and CIDR (the survivor is a live member of the cluster). Under --dry-run it only reports.
 */
describe('teardownd run: ownership marking and the scheduled sweep', () => {
  let emulator: AwsEmulator;
  let ws: TempWorkspace;
  let ids: LoxilbClusterIds;
  let daemon: DaemonProcess | undefined;

  beforeEach(async () => {
    emulator = await AwsEmulator.start();
    ws = new TempWorkspace();
    // The peer's own loxilb ENI (an explicit decoy: loxilb keeps one ENI per cluster).
    ids = seedLoxilbCluster(emulator, { vips: 2, eips: 1, peerLoxilbEni: true });
    // The master dies with no notice at all; its loxilb ENI (never marked) is left unattached.
    emulator.ec2.terminateInstance(ids.masterInstanceId);
    emulator.imds.configure({ instanceId: ids.peerInstanceId!, region: 'us-east-1', az: 'us-east-1b' });
  });
  afterEach(async () => {
    await daemon?.stop();
    daemon = undefined;
    await emulator.stop();
    ws.cleanup();
  });

  const start = (extra: string[] = []) => {
    const file = ws.writeConfig({
      gate: { mode: 'override', override: 'handover' },
      sources: { imds: { pollIntervalMs: 200 } },
      // Every second, up to 200 ms of jitter; no grace (nor takeover grace): the dead master's ENI is
      // an orphan at once.
      sweeper: { schedule: '* * * * * *', jitterMs: 200, graceMs: 0, takeoverGraceMs: 0, mode: 'apply' },
    });
    daemon = new DaemonProcess(['-c', file, 'run', ...extra], emulator.env());
    return daemon;
  };
  const sweepReports = () => {
    try {
      return readdirSync(ws.path('reports')).filter((f) => /^sweep-us-east-1-.*\.json$/.test(f));
    } catch {
      return [];
    }
  };

  it("marks its own loxilb ENI, removes the dead master's orphan ENI, keeps the shared resources", async () => {
    const d = start();
    await d.waitForLog((l) => l.message === 'ready', 10000, 'ready');
    await d.waitForLog(
      (l) => String(l.message).startsWith('marked 1 loxilb ENI'),
      10000,
      'ownership marking',
    );
    expect(emulator.ec2.networkInterfaceById(ids.decoys!.peerEniId!)?.tags['teardownd:owner']).toBe(
      ids.peerInstanceId,
    );
    await DaemonProcess.until(
      () => emulator.ec2.networkInterfaceById(ids.enis[0].eniId) === undefined,
      10000,
      "the master's orphan ENI to go",
    );
    await d.waitForLog((l) => l.stage === 'sweep' && l.outcome === 'cleaned', 10000, 'the sweep summary');
    await DaemonProcess.until(() => sweepReports().length > 0, 5000, 'a sweep report');
    await d.stop();
    expect(await d.exit()).toEqual({ code: 0, signal: null });
    expect(d.stderr).toBe('');

    // The survivor keeps the cluster's shared resources, and the user's EIPs were only disassociated.
    expect(emulator.ec2.subnetById(ids.subnetId)).toBeDefined();
    expect(emulator.ec2.routeTableById(ids.routeTableId)).toBeDefined();
    expect(emulator.ec2.vpcById(ids.vpcId)!.cidrAssociations.map((a) => a.associationId)).toContain(
      ids.cidrAssociationId,
    );
    expect(emulator.ec2.addressById(ids.enis[0].allocationIds[0])?.association).toBeUndefined();
    expect(decoysIntact(emulator, ids).filter((p) => !p.includes("master's primary ENI"))).toEqual([]);
    const report = JSON.parse(readFileSync(ws.path('reports', sweepReports()[0]), 'utf8'));
    expect(report).toMatchObject({ mode: 'apply', sweeperInstanceId: ids.peerInstanceId });
    expect(report.candidates.find((c: { resource: string }) => c.resource === ids.subnetId)).toMatchObject({
      verdict: 'in-use',
      reason: expect.stringContaining(ids.peerInstanceId!),
    });
    // Sweeps never overlapped, and each mutating call happened once.
    const deletes = emulator.calls
      .mutating('ec2')
      .filter((c) => c.action === 'DeleteNetworkInterface' && c.status === 200);
    expect(deletes.map((c) => c.params.NetworkInterfaceId)).toEqual([ids.enis[0].eniId]);
  });

  it('--dry-run: no owner tag written, the sweep only reports, zero mutating calls', async () => {
    const d = start(['--dry-run']);
    await d.waitForLog((l) => l.message === 'ready', 10000, 'ready');
    await d.waitForLog(
      (l) => l.stage === 'sweep' && l.outcome === 'orphans-found',
      10000,
      'a report-mode sweep',
    );
    await d.stop();
    expect(await d.exit()).toEqual({ code: 0, signal: null });
    expect(emulator.calls.mutating()).toEqual([]);
    expect(emulator.ec2.networkInterfaceById(ids.enis[0].eniId)).toBeDefined();
    expect(
      emulator.ec2.networkInterfaceById(ids.decoys!.peerEniId!)?.tags['teardownd:owner'],
    ).toBeUndefined();
    await DaemonProcess.until(() => sweepReports().length > 0, 5000, 'a sweep report');
    const report = JSON.parse(readFileSync(ws.path('reports', sweepReports()[0]), 'utf8'));
    expect(report).toMatchObject({ mode: 'report', outcome: 'orphans-found' });
  });
});
