import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigInput } from '../../../lib/config/schema';
import { EniInfo } from '../../../lib/discovery/ec2-reads';
import { runTeardown } from '../../../lib/episode/engine';
import { HaObserver } from '../../../lib/gate/ha-observer';
import { createLoxilbApi } from '../../../lib/gate/loxilb-api';
import { takeoverView } from '../../../lib/gate/own-takeover';
import { nullLogger } from '../../../lib/log';
import { bfdBody, ciStateBody, FakeLoxilb } from '../../../sim/loxilb/fake-peer';
import { EmulatorEc2 } from '../../helpers/emulator-ec2';
import { ManualClock } from '../../helpers/manual-clock';

const ME = 'i-0aaaaaaaaaaaaaaa1';
const PEER = 'i-0bbbbbbbbbbbbbbb2';

const eni = (id: string, attachment?: EniInfo['attachment']): EniInfo => ({
  networkInterfaceId: id,
  tags: { loxiType: 'loxilb-eni' },
  attachment,
  privateIps: [{ address: '123.123.123.5', primary: true }],
});

describe('takeoverView: is this node’s own loxilb takeover over?', () => {
  it('complete: its own loxilb ENI attached (not the primary) and no other one left', () => {
    const v = takeoverView(
      [eni('eni-mine', { instanceId: ME, status: 'attached', deviceIndex: 1 })],
      [{ subnetId: 'subnet-1', tags: {} } as never],
      ME,
    );
    expect(v.complete).toBe(true);
    expect(v.seen).toMatch(/own loxilb ENI eni-mine; no other loxilb ENI; 1 loxilb subnet/);
  });

  it.each([
    [
      'the old master’s ENI not wiped yet (phase A)',
      [eni('eni-old', { instanceId: PEER, status: 'attached', deviceIndex: 1 })],
    ],
    ['its own ENI created but not attached (phase B)', [eni('eni-new')]],
    [
      'its own ENI still attaching',
      [eni('eni-new', { instanceId: ME, status: 'attaching', deviceIndex: 1 })],
    ],
    [
      'its own ENI attached while the old one is still there',
      [
        eni('eni-new', { instanceId: ME, status: 'attached', deviceIndex: 1 }),
        eni('eni-old', { instanceId: PEER, status: 'detaching', deviceIndex: 1 }),
      ],
    ],
  ])('not complete: %s', (_what, enis) => {
    expect(takeoverView(enis, [], ME).complete).toBe(false);
  });

  it('the key changes when the ENIs change (an IP assigned, an attachment state)', () => {
    const a = takeoverView([eni('eni-new', { instanceId: ME, status: 'attaching', deviceIndex: 1 })], [], ME);
    const b = takeoverView([eni('eni-new', { instanceId: ME, status: 'attached', deviceIndex: 1 })], [], ME);
    const c = takeoverView(
      [
        {
          ...eni('eni-new'),
          privateIps: [...eni('x').privateIps, { address: '123.123.123.6', primary: false }],
        },
      ],
      [],
      ME,
    );
    expect(new Set([a.key, b.key, c.key, takeoverView([eni('eni-new')], [], ME).key]).size).toBe(4);
  });
});

describe('a full teardown of a node promoted to MASTER waits for its own takeover', () => {
  let fake: FakeLoxilb;
  let ec2: EmulatorEc2;
  let stateDir: string;
  beforeEach(async () => {
    fake = await FakeLoxilb.start();
    stateDir = mkdtempSync(join(tmpdir(), 'own-takeover-'));
  });
  afterEach(async () => {
    await fake.stop();
    await ec2.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });

  async function setup(cluster: Record<string, unknown>, configInput: ConfigInput = {}) {
    ec2 = await EmulatorEc2.start({
      cluster: { masterInstanceId: ME, peerInstanceId: PEER, cloudCidr: '123.123.123.0/28', ...cluster },
    });
    const api = createLoxilbApi({ baseUrl: fake.url, timeoutMs: 500, fetch });
    const { clock, deps } = ec2.engine(
      {
        executor: { detachPollIntervalMs: 50 },
        gate: { takeover: { waitMs: 30000, quietMs: 3000, pollMs: 500 } },
        ...configInput,
      },
      { loxilb: api },
    );
    const observer = new HaObserver({ api, clock, logger: nullLogger(), stateDir });
    deps.observer = observer;
    return { clock, deps, observer };
  }

  /** The observer sees this node BACKUP, then MASTER with its peer's session down: promoted. */
  async function promoted(observer: HaObserver, clock: ManualClock): Promise<number> {
    fake.set({ cistate: ciStateBody('BACKUP'), bfd: bfdBody([{ remoteIp: '10.0.1.12', state: 'BFDUp' }]) });
    await observer.observeOnce();
    clock.advance(1000);
    fake.set({ cistate: ciStateBody('MASTER'), bfd: bfdBody([{ remoteIp: '10.0.1.12', state: 'BFDDown' }]) });
    return clock.now();
  }

  const peerLoxilbEni = () =>
    ec2.emulator.ec2
      .networkInterfaces()
      .find((n) => n.attachment?.instanceId === PEER && n.attachment.deviceIndex === 1)!.networkInterfaceId;

  it('takeover already over (its own ENI, no other): full at once, the report says complete', async () => {
    const { clock, deps, observer } = await setup({});
    const seenMaster = await promoted(observer, clock);
    const report = await clock.run(runTeardown(deps, { instanceId: ME, episode: 'e', dryRun: false }));
    expect(report.gate).toMatchObject({ scope: 'full', takeover: { settled: 'complete', waitedMs: 0 } });
    expect(report.gate.takeover!.promotedAt).toBe(new Date(seenMaster).toISOString());
    expect(report.outcome).toBe('clean');
  });

  it('takeover still changing past the wait: handover, nothing changed, the reason says why', async () => {
    const { clock, deps, observer } = await setup({ peerLoxilbEni: true });
    await promoted(observer, clock);
    // The old master's ENI is still there and keeps changing (the takeover's phase A at work).
    ec2.beforeCall((call) => {
      if (call.action === 'DescribeNetworkInterfaces')
        ec2.emulator.ec2.assignPrivateIps(peerLoxilbEni(), { count: 1 });
    });
    const report = await clock.run(runTeardown(deps, { instanceId: ME, episode: 'e', dryRun: false }));
    expect(report.gate).toMatchObject({ scope: 'handover', takeover: { settled: 'timeout' } });
    expect(report.gate.takeover!.waitedMs).toBeGreaterThanOrEqual(29000);
    expect(report.gate.reason).toMatch(
      /own loxilb takeover had not settled after \d+ s \(own loxilb ENI .*other loxilb ENIs/,
    );
    expect(ec2.mutatingCalls()).toEqual([]);
    expect(report.outcome).toBe('handover');
  });

  it('the wait never takes more than half the time left before the deadline', async () => {
    const { clock, deps, observer } = await setup(
      { peerLoxilbEni: true },
      { executor: { deadlineReserveMs: 0, detachPollIntervalMs: 50 } },
    );
    await promoted(observer, clock);
    ec2.beforeCall((call) => {
      if (call.action === 'DescribeNetworkInterfaces')
        ec2.emulator.ec2.assignPrivateIps(peerLoxilbEni(), { count: 1 });
    });
    const report = await clock.run(
      runTeardown(deps, { instanceId: ME, episode: 'e', dryRun: false, deadlineAt: clock.now() + 10000 }),
    );
    expect(report.gate.takeover).toMatchObject({ settled: 'timeout' });
    expect(report.gate.takeover!.waitedMs).toBeLessThanOrEqual(5000);
  });

  it('a takeover that stopped (aborted: nothing changes any more) settles as quiet, then full', async () => {
    const { clock, deps, observer } = await setup({ peerLoxilbEni: true });
    await promoted(observer, clock);
    const report = await clock.run(runTeardown(deps, { instanceId: ME, episode: 'e', dryRun: true }));
    expect(report.gate).toMatchObject({ scope: 'full', takeover: { settled: 'quiet' } });
    expect(report.gate.takeover!.waitedMs).toBeGreaterThanOrEqual(3000);
    expect(report.gate.takeover!.seen).toMatch(/other loxilb ENIs/);
  });

  it('a node that was MASTER all along (no promotion seen) does not wait', async () => {
    const { clock, deps, observer } = await setup({ peerLoxilbEni: true });
    fake.set({ cistate: ciStateBody('MASTER'), bfd: bfdBody([{ remoteIp: '10.0.1.12', state: 'BFDDown' }]) });
    await observer.observeOnce();
    clock.advance(1000);
    const report = await clock.run(runTeardown(deps, { instanceId: ME, episode: 'e', dryRun: true }));
    expect(report.gate.scope).toBe('full');
    expect(report.gate.takeover).toBeUndefined();
  });

  it('a promotion older than gate.takeover.recentMs does not wait', async () => {
    const { clock, deps, observer } = await setup(
      { peerLoxilbEni: true },
      { gate: { takeover: { recentMs: 60000 } } },
    );
    await promoted(observer, clock);
    await observer.observeOnce();
    clock.advance(61000);
    const report = await clock.run(runTeardown(deps, { instanceId: ME, episode: 'e', dryRun: true }));
    expect(report.gate).toMatchObject({ scope: 'full' });
    expect(report.gate.takeover?.settled).toBeUndefined();
  });
});
