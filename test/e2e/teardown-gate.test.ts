import { readFileSync } from 'node:fs';
import { AwsEmulator } from '../emulator/server';
import { runCli, TempWorkspace } from '../helpers/daemon-process';
import { bfdBody, ciStateBody, FakeLoxilb } from '../helpers/fake-loxilb';
import { decoysIntact, leftovers, LoxilbClusterIds, seedLoxilbCluster } from '../helpers/footprint';

/**
 * The gate asks loxilb's REST API (a fake speaking loxilb's real JSON on an ephemeral 127.0.0.1 port)
 * and decides the scope the way loxilb itself would: only the last node standing — MASTER of
 * llb-inst0, BFD running, every peer down — takes the shared subnet/route table/CIDR with it.
 */
describe('teardownd teardown: the gate asks loxilb', () => {
  let emulator: AwsEmulator;
  let loxilb: FakeLoxilb;
  let ws: TempWorkspace;
  let ids: LoxilbClusterIds;

  beforeEach(async () => {
    emulator = await AwsEmulator.start({ ec2: { detachDelayMs: 50, cidrDisassociateDelayMs: 30 } });
    loxilb = await FakeLoxilb.start();
    ws = new TempWorkspace();
    ids = seedLoxilbCluster(emulator);
  });
  afterEach(async () => {
    await loxilb.stop();
    await emulator.stop();
    ws.cleanup();
  });

  const config = (gate: Record<string, unknown> = {}) =>
    ws.writeConfig({
      cloud: { cidrBlock: ids.cloudCidr },
      gate: { mode: 'loxilb-api', loxilbApiUrl: loxilb.url, apiTimeoutMs: 500, ...gate },
      executor: { detachPollIntervalMs: 30 },
    });
  const teardown = (cfg = config()) =>
    runCli(['-c', cfg, 'teardown', '--instance-id', ids.masterInstanceId], emulator.env());
  const plan = async (cfg = config()) => {
    const res = await runCli(
      ['-c', cfg, 'plan', '--instance-id', ids.masterInstanceId, '--json'],
      emulator.env(),
    );
    expect(res.code).toBe(0);
    return JSON.parse(res.stdout);
  };
  const reportOf = (stdout: string) => JSON.parse(readFileSync(/^report: (.+)$/m.exec(stdout)![1], 'utf8'));
  const peersDown = bfdBody([
    { remoteIp: '10.0.2.11', state: 'BFDDown' },
    { remoteIp: '10.0.3.12', state: 'BFDAdminDown' },
  ]);

  it('MASTER with every BFD peer down → full: the whole footprint goes', async () => {
    loxilb.set({ cistate: ciStateBody('MASTER'), bfd: peersDown });
    const res = await teardown();
    expect(res.code).toBe(0);
    expect(loxilb.requests.sort()).toEqual(['/netlox/v1/config/bfd/all', '/netlox/v1/config/cistate/all']);
    expect(leftovers(emulator, ids)).toEqual([]);
    expect(decoysIntact(emulator, ids)).toEqual([]);
    const report = reportOf(res.stdout);
    expect(report.gate).toMatchObject({
      scope: 'full',
      source: 'loxilb-api',
      details: {
        haState: 'MASTER',
        bfdPeers: [
          { remoteIp: '10.0.2.11', state: 'BFDDown' },
          { remoteIp: '10.0.3.12', state: 'BFDAdminDown' },
        ],
      },
    });
    expect(report.gate.reason).toMatch(/last node standing/);
  });

  it('MASTER with a BFD peer still up → instance: the peer keeps the shared resources', async () => {
    loxilb.set({
      cistate: ciStateBody('MASTER'),
      bfd: bfdBody([
        { remoteIp: '10.0.2.11', state: 'BFDUp' },
        { remoteIp: '10.0.3.12', state: 'BFDDown' },
      ]),
    });
    const res = await teardown();
    expect(res.code).toBe(0);
    expect(leftovers(emulator, ids).map((l) => l.kind)).toEqual([
      'route-table-association',
      'route-table',
      'subnet',
      'cidr-association',
    ]);
    expect(reportOf(res.stdout).gate.reason).toMatch(/10\.0\.2\.11 \(BFDUp\)/);
  });

  it('BACKUP → instance', async () => {
    loxilb.set({ cistate: ciStateBody('BACKUP'), bfd: peersDown });
    const doc = await plan();
    expect(doc.gate).toMatchObject({ scope: 'instance', source: 'loxilb-api' });
    expect(doc.gate.reason).toMatch(/BACKUP/);
    expect(doc.actions.map((a: { stage: string }) => a.stage)).not.toContain('subnet');
  });

  it('kube-loxilb --setRoles → instance, without asking loxilb', async () => {
    loxilb.set({ cistate: ciStateBody('MASTER'), bfd: peersDown });
    const doc = await plan(config({ static: { setRoles: true } }));
    expect(doc.gate.scope).toBe('instance');
    expect(doc.gate.reason).toMatch(/setRoles/);
    expect(loxilb.requests).toEqual([]);
  });

  it('loxilb unreachable → instance, and the report says why', async () => {
    const url = loxilb.url;
    await loxilb.stop();
    const res = await teardown(config({ loxilbApiUrl: url }));
    expect(res.code).toBe(0);
    expect(leftovers(emulator, ids).map((l) => l.kind)).toEqual([
      'route-table-association',
      'route-table',
      'subnet',
      'cidr-association',
    ]);
    const report = reportOf(res.stdout);
    expect(report.gate).toMatchObject({
      scope: 'instance',
      source: 'fallback',
      details: { errorCode: 'ECONNREFUSED' },
    });
    expect(report.gate.reason).toMatch(/loxilb API unreachable .*ECONNREFUSED.*safe scope/);
  });

  it('loxilb hanging → cut off by gate.apiTimeoutMs, instance', async () => {
    loxilb.set({ hang: true });
    const doc = await plan(config({ apiTimeoutMs: 200 }));
    expect(doc.gate).toMatchObject({
      scope: 'instance',
      source: 'fallback',
      details: { errorCode: 'timeout' },
    });
  });
});
