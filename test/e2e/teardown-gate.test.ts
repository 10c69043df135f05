import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bfdBody, ciStateBody, FakeLoxilb } from '../../sim/loxilb/fake-peer';
import { decoysIntact, leftovers } from '../../sim/loxilb/footprint';
import { TeardownHarness } from '../helpers/teardown-harness';

/**
 * The gate asks loxilb's REST API (a fake speaking loxilb's real JSON on an ephemeral 127.0.0.1 port)
 * and decides the way loxilb itself would: only the last node standing — MASTER of llb-inst0, BFD
 * running, every session exactly BFDDown — tears down; anyone else hands over to the peer's takeover
 * and changes nothing.
 */
describe('teardownd teardown: the gate asks loxilb', () => {
  let h: TeardownHarness;
  let loxilb: FakeLoxilb;

  beforeEach(async () => {
    h = await TeardownHarness.start({
      emulator: { ec2: { detachDelayMs: 50, cidrDisassociateDelayMs: 30 } },
    });
    loxilb = await FakeLoxilb.start();
  });
  afterEach(async () => {
    await loxilb.stop();
    await h.stop();
  });

  const config = (gate: Record<string, unknown> = {}) =>
    h.config({ gate: { mode: 'loxilb-api', loxilbApiUrl: loxilb.url, apiTimeoutMs: 500, ...gate } });
  /** No --scope: the gate decides. */
  const teardown = (cfg = config()) => h.teardown({ config: cfg, scope: null });
  const plan = async (cfg = config()) => {
    const res = await h.plan({ config: cfg, scope: null, flags: ['--json'] });
    expect(res.code).toBe(0);
    return JSON.parse(res.stdout);
  };
  const peersDown = bfdBody([
    { remoteIp: '10.0.2.11', state: 'BFDDown' },
    { remoteIp: '10.0.3.12', state: 'BFDDown' },
  ]);
  const everything = () => leftovers(h.emulator, h.ids).map((l) => l.kind);
  const peerPrimaryIp = () =>
    h.emulator.ec2.networkInterfaceById(h.ids.peerPrimaryEniId!)!.privateIps[0].privateIpAddress;

  it('MASTER with every BFD peer down → full: the whole footprint goes', async () => {
    loxilb.set({ cistate: ciStateBody('MASTER'), bfd: peersDown });
    const res = await teardown();
    expect(res.code).toBe(0);
    expect(loxilb.requests.sort()).toEqual(['/netlox/v1/config/bfd/all', '/netlox/v1/config/cistate/all']);
    expect(leftovers(h.emulator, h.ids)).toEqual([]);
    expect(decoysIntact(h.emulator, h.ids)).toEqual([]);
    const report = res.report();
    expect(report.gate).toMatchObject({
      scope: 'full',
      source: 'loxilb-api',
      details: {
        haState: 'MASTER',
        bfdPeers: [
          { remoteIp: '10.0.2.11', state: 'BFDDown' },
          { remoteIp: '10.0.3.12', state: 'BFDDown' },
        ],
      },
    });
    expect(report.gate.reason).toMatch(/last node standing/);
  });

  it('MASTER with a BFD peer still up (its instance running) → handover: nothing changed, the peer named', async () => {
    const before = everything();
    const peerIp = peerPrimaryIp();
    loxilb.set({
      cistate: ciStateBody('MASTER'),
      bfd: bfdBody([
        { remoteIp: peerIp, state: 'BFDAdminDown' },
        { remoteIp: '10.0.3.12', state: 'BFDDown' },
      ]),
    });
    const res = await teardown();
    expect(res.code).toBe(0);
    expect(h.emulator.calls.mutating()).toEqual([]);
    expect(everything()).toEqual(before);
    expect(res.stdout).toContain(`peer ${peerIp} ${h.ids.peerInstanceId}: can take over`);
    const report = res.report();
    expect(report.outcome).toBe('handover');
    expect(report.gate.reason).toContain(
      `${peerIp} (${h.ids.peerInstanceId}): BFD BFDAdminDown; instance running`,
    );
    expect(report.gate.peers).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ ip: peerIp, instanceId: h.ids.peerInstanceId, alive: true }),
      ]),
    );
  });

  it('MASTER whose BFD peer AWS is terminating → full', async () => {
    const peerIp = peerPrimaryIp();
    h.emulator.ec2.setInstanceState(h.ids.peerInstanceId!, 'shutting-down');
    loxilb.set({ cistate: ciStateBody('MASTER'), bfd: bfdBody([{ remoteIp: peerIp, state: 'BFDUp' }]) });
    const res = await teardown();
    expect(res.code).toBe(0);
    const report = res.report();
    expect(report.gate.reason).toMatch(/instance is shutting-down/);
    expect(report.gate).toMatchObject({ scope: 'full', source: 'loxilb-api' });
    expect(leftovers(h.emulator, h.ids)).toEqual([]);
  });

  it('BACKUP → handover', async () => {
    loxilb.set({ cistate: ciStateBody('BACKUP'), bfd: peersDown });
    const doc = await plan();
    expect(doc.gate).toMatchObject({ scope: 'handover', source: 'loxilb-api' });
    expect(doc.gate.reason).toMatch(/BACKUP/);
    expect(doc.actions).toEqual([]);
  });

  it('BFD off (kube-loxilb --setRoles: HTTP 500 "bfd session not running"), not in any group → handover, said why', async () => {
    loxilb.set({ cistate: ciStateBody('MASTER'), bfdNotRunning: true });
    const doc = await plan();
    expect(doc.gate).toMatchObject({
      scope: 'handover',
      source: 'loxilb-api',
      details: { bfdRunning: false },
    });
    expect(doc.gate.reason).toMatch(/BFD off.*membership unknown .*in no Auto Scaling group/);
  });

  it('loxilb unreachable → handover, and the report says why', async () => {
    const url = loxilb.url;
    await loxilb.stop();
    const before = everything();
    const res = await teardown(config({ loxilbApiUrl: url }));
    expect(res.code).toBe(0);
    expect(h.emulator.calls.mutating()).toEqual([]);
    expect(everything()).toEqual(before);
    const report = res.report();
    expect(report.gate).toMatchObject({
      scope: 'handover',
      source: 'fallback',
      details: { errorCode: 'ECONNREFUSED' },
    });
    expect(report.gate.reason).toMatch(/loxilb API unreachable .*ECONNREFUSED/);
  });

  it('loxilb down, the daemon observed it moments ago: plan decides from that observation, as the daemon would, and leaves its file alone', async () => {
    const url = loxilb.url;
    await loxilb.stop();
    const stateDir = mkdtempSync(join(tmpdir(), 'teardownd-state-'));
    try {
      const file = join(stateDir, 'ha-observation.json');
      const kept = JSON.stringify({
        schemaVersion: 1,
        observedAt: new Date().toISOString(),
        url,
        view: {
          ciStates: [{ instance: 'llb-inst0', state: 'MASTER' }],
          bfdRunning: true,
          bfdSessions: [{ remoteIp: '10.0.2.11', state: 'BFDDown' }],
        },
      });
      writeFileSync(file, kept);
      // 5 × 60 s: the observation stays usable however slow this machine is.
      const doc = await plan(
        h.config({
          stateDir,
          gate: {
            mode: 'loxilb-api',
            loxilbApiUrl: url,
            apiTimeoutMs: 500,
            observeIntervalMs: 60000,
            observationMaxAgeIntervals: 5,
          },
        }),
      );
      expect(doc.gate).toMatchObject({ scope: 'full', source: 'loxilb-api', observation: { live: false } });
      expect(doc.gate.reason).toMatch(/last observation, \d+ s old/);
      expect(readFileSync(file, 'utf8')).toBe(kept);
      expect(h.emulator.calls.mutating()).toEqual([]);
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  it('loxilb hanging → cut off by gate.apiTimeoutMs, handover', async () => {
    loxilb.set({ hang: true });
    const doc = await plan(config({ apiTimeoutMs: 200 }));
    expect(doc.gate).toMatchObject({
      scope: 'handover',
      source: 'fallback',
      details: { errorCode: 'timeout' },
    });
  });
});
