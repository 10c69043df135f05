import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { AwsEmulator } from '../../sim/emulator/server';
import { runCli, TempWorkspace } from '../helpers/daemon-process';
import { decoysIntact, leftovers, LoxilbClusterIds, seedLoxilbCluster } from '../../sim/loxilb/footprint';
import { reportPathOf } from '../helpers/teardown-cli';

/**
 * Issue #4, end to end: what is alive is never touched. `teardownd sweep --apply` as a real child
 * process against the emulator: a live master's whole footprint, a master that is only stopped, and
 * a master that is setting up right now (subnet created moments ago, its ENI not attached yet) all
 * end with zero mutating calls.
 */

interface Report {
  outcome: string;
  candidates: Array<{ resource: string; kind: string; verdict: string; result: string; reason: string }>;
  calls: { read: number; mutate: number };
}

const MINUTE = 60000;

describe('teardownd sweep --apply: a live master is never touched', () => {
  let emulator: AwsEmulator;
  let ws: TempWorkspace;
  let ids: LoxilbClusterIds;

  beforeEach(async () => {
    emulator = await AwsEmulator.start();
    ws = new TempWorkspace();
    ids = seedLoxilbCluster(emulator, { peerLoxilbEni: true });
  });
  afterEach(async () => {
    await emulator.stop();
    ws.cleanup();
  });

  const sweepApply = async (cloudInstance = '', graceMs = 10 * MINUTE) => {
    const file = ws.writeConfig({ ownership: { cloudInstance }, sweeper: { graceMs } });
    const res = await runCli(['-c', file, 'sweep', '--apply'], emulator.env());
    const path = reportPathOf(res.stdout);
    return { ...res, report: JSON.parse(readFileSync(path!, 'utf8')) as Report };
  };
  const verdicts = (r: Report) => Object.fromEntries(r.candidates.map((c) => [c.resource, c.verdict]));

  it('a running master with its ENIs attached: every loxilb resource in use, zero mutating calls', async () => {
    const before = leftovers(emulator, ids);
    const res = await sweepApply();
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.report.outcome).toBe('clean');
    expect(verdicts(res.report)).toEqual({
      [ids.enis[0].eniId]: 'in-use',
      [ids.decoys!.peerEniId!]: 'in-use',
      [ids.subnetId]: 'in-use',
      [ids.routeTableId]: 'in-use',
      [ids.cidrAssociationId]: 'in-use',
    });
    expect(emulator.calls.mutating()).toEqual([]);
    expect(leftovers(emulator, ids)).toEqual(before);
    expect(decoysIntact(emulator, ids)).toEqual([]);
  });

  it('a stopped master may start again: its ENI stays in use even with the grace period long passed', async () => {
    emulator.ec2.setInstanceState(ids.masterInstanceId, 'stopped');
    const res = await sweepApply('', 0);
    expect(res.code).toBe(0);
    const eni = res.report.candidates.find((c) => c.resource === ids.enis[0].eniId)!;
    expect(eni).toMatchObject({ verdict: 'in-use', result: 'kept' });
    expect(eni.reason).toContain('stopped');
    expect(emulator.calls.mutating()).toEqual([]);
  });

  it('a master setting up right now (subnet just created, ENI not attached yet): left alone through the grace period, then in use', async () => {
    // Cluster "b" in the same VPC: what loxilb has done so far on becoming MASTER.
    const ec2 = emulator.ec2;
    const master = ec2.runInstance({ subnetId: ids.masterSubnetId });
    const cidr = ec2.associateVpcCidr(ids.vpcId, '124.124.124.0/24');
    const subnet = ec2.createSubnet({
      vpcId: ids.vpcId,
      cidrBlock: '124.124.124.0/24',
      availabilityZone: ids.availabilityZone,
      tags: { loxiType: 'loxilb-subnetb' },
    });
    const table = ec2.createRouteTable({ vpcId: ids.vpcId, tags: { loxiType: 'loxilb-routetableb' } });
    ec2.associateRouteTable(table.routeTableId, subnet.subnetId);

    // No ENI yet: the subnet looks unowned, but only for moments.
    const first = await sweepApply('b');
    expect(first.code).toBe(0);
    for (const id of [subnet.subnetId, table.routeTableId, cidr.associationId]) {
      expect(first.report.candidates.find((x) => x.resource === id)).toMatchObject({
        verdict: 'uncertain',
        result: 'kept',
      });
    }
    expect(first.report.candidates.find((x) => x.resource === subnet.subnetId)!.reason).toMatch(
      /first seen so \d+ ms ago: an orphan only after 600000 ms/,
    );
    // Cluster "" (the seeded one) is not part of cluster "b".
    expect(first.report.candidates.map((c) => c.resource)).not.toContain(ids.subnetId);

    // The ENI exists now, not attached yet.
    const eni = ec2.createNetworkInterface({
      subnetId: subnet.subnetId,
      description: 'loxilb-eni',
      tags: { loxiType: 'loxilb-enib' },
    }).networkInterfaceId;
    const second = await sweepApply('b');
    expect(second.code).toBe(0);
    expect(verdicts(second.report)).toEqual({
      [eni]: 'uncertain',
      [subnet.subnetId]: 'uncertain',
      [table.routeTableId]: 'uncertain',
      [cidr.associationId]: 'uncertain',
    });

    // Attached: in use, and the grace clock is dropped (a later detach starts it over).
    ec2.attachNetworkInterface(eni, master.instanceId, 1);
    const stateFile = ws.path('state', 'sweeper-first-seen.json');
    const third = await sweepApply('b');
    expect(third.code).toBe(0);
    expect(Object.values(verdicts(third.report))).toEqual(['in-use', 'in-use', 'in-use', 'in-use']);
    expect(JSON.parse(readFileSync(stateFile, 'utf8'))).toEqual({ schemaVersion: 1, regions: {} });

    expect(emulator.calls.mutating()).toEqual([]);
    expect(ec2.subnetById(subnet.subnetId)).toBeDefined();
    expect(ec2.networkInterfaceById(eni)?.attachment?.instanceId).toBe(master.instanceId);
    expect(decoysIntact(emulator, ids)).toEqual([]);
  });

  it('an unattached ENI whose owner tag names a live instance is left to its owner, however old', async () => {
    const ec2 = emulator.ec2;
    const eni = ec2.createNetworkInterface({
      subnetId: ids.subnetId,
      description: 'loxilb-eni',
      tags: { loxiType: 'loxilb-eni', 'teardownd:owner': ids.masterInstanceId },
    }).networkInterfaceId;
    const stateFile = ws.path('state', 'sweeper-first-seen.json');
    // Even a first-seen record from long ago does not make it an orphan.
    mkdirSync(ws.path('state'), { recursive: true });
    writeFileSync(
      stateFile,
      JSON.stringify({
        schemaVersion: 1,
        regions: {
          'us-east-1': {
            [eni]: { kind: 'eni', firstSeenAt: new Date(Date.now() - 60 * MINUTE).toISOString() },
          },
        },
      }),
    );
    const res = await sweepApply('', 0);
    expect(res.code).toBe(0);
    const c = res.report.candidates.find((x) => x.resource === eni)!;
    expect(c).toMatchObject({ verdict: 'uncertain', result: 'kept' });
    expect(c.reason).toContain(`owner ${ids.masterInstanceId} is running`);
    expect(emulator.calls.mutating()).toEqual([]);
    expect(ec2.networkInterfaceById(eni)).toBeDefined();
  });
});
