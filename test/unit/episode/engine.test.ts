import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { ConfigInput } from '../../../lib/config/schema';
import { buildPlanFor, EngineEvent, runTeardown } from '../../../lib/episode/engine';
import { createLoxilbApi, LoxilbApi } from '../../../lib/gate/loxilb-api';
import { bfdBody, ciStateBody, FakeLoxilb } from '../../../sim/loxilb/fake-peer';
import { EmulatorEc2 } from '../../helpers/emulator-ec2';

const ME = 'i-0aaaaaaaaaaaaaaa1';

describe('engine', () => {
  let fake: FakeLoxilb;
  let ec2: EmulatorEc2;
  beforeEach(async () => {
    fake = await FakeLoxilb.start();
    ec2 = await EmulatorEc2.start({ cluster: { masterInstanceId: ME, cloudCidr: '123.123.123.0/28' } });
  });
  afterEach(async () => {
    await fake.stop();
    await ec2.stop();
  });

  const subnetExists = () => ec2.emulator.ec2.subnetById(ec2.ids.subnetId) !== undefined;
  const eniExists = () => ec2.emulator.ec2.networkInterfaceById(ec2.ids.enis[0].eniId) !== undefined;

  function setup(configInput: ConfigInput = {}, loxilb?: LoxilbApi) {
    const { clock, deps } = ec2.engine(
      { executor: { detachPollIntervalMs: 50 }, ...configInput },
      { loxilb: loxilb ?? createLoxilbApi({ baseUrl: fake.url, timeoutMs: 500, fetch }) },
    );
    return { ec2, clock, deps };
  }

  it('asks loxilb: MASTER with every BFD peer down → full teardown', async () => {
    fake.set({ cistate: ciStateBody('MASTER'), bfd: bfdBody([{ remoteIp: '10.0.1.12', state: 'BFDDown' }]) });
    const { clock, deps } = setup();
    const report = await clock.run(runTeardown(deps, { instanceId: ME, episode: 'e', dryRun: false }));
    expect(report.gate).toMatchObject({ scope: 'full', source: 'loxilb-api' });
    expect(subnetExists()).toBe(false);
  });

  it('full for an instance EC2 no longer knows, with no loxilb ENI or journal naming its VPC: left behind, not clean', async () => {
    const gone = 'i-0fffffffffffffff9';
    const { ec2, clock, deps } = setup({ gate: { mode: 'override', override: 'full' } });
    const report = await clock.run(runTeardown(deps, { instanceId: gone, episode: 'e', dryRun: false }));
    expect(report.outcome).toBe('left-behind');
    expect(report.leftBehind).toEqual([
      expect.objectContaining({
        resource: gone,
        kind: 'inventory',
        reason: expect.stringContaining(
          `the cluster's tagged ones in this region: ${ec2.ids.subnetId}, ${ec2.ids.routeTableId}`,
        ),
      }),
    ]);
    expect(ec2.mutatingCalls()).toEqual([]);
    expect(subnetExists()).toBe(true);
  });

  it('loxilb unreachable → handover: nothing touched, and the report says why', async () => {
    const { ec2, clock, deps } = setup();
    await fake.stop();
    const report = await clock.run(runTeardown(deps, { instanceId: ME, episode: 'e', dryRun: false }));
    expect(report.gate).toMatchObject({ scope: 'handover', source: 'fallback' });
    expect(report.gate.reason).toMatch(/unreachable/);
    expect(report.outcome).toBe('handover');
    expect(ec2.mutatingCalls()).toEqual([]);
    expect(eniExists()).toBe(true);
  });

  it('MASTER whose BFD peer is up, AWS view unavailable → handover naming the peer', async () => {
    fake.set({ cistate: ciStateBody('MASTER'), bfd: bfdBody([{ remoteIp: '10.0.1.12', state: 'BFDUp' }]) });
    const { ec2, clock, deps } = setup();
    const report = await clock.run(runTeardown(deps, { instanceId: ME, episode: 'e', dryRun: false }));
    expect(report.outcome).toBe('handover');
    expect(report.gate.peers).toEqual([
      expect.objectContaining({ ip: '10.0.1.12', bfdState: 'BFDUp', alive: true }),
    ]);
    expect(ec2.mutatingCalls()).toEqual([]);
  });

  it("the gate's AWS reads (the peer's instance, its group, its spot request) are in the report's calls", async () => {
    const peerIp = ec2.ids.peerPrivateIp!;
    fake.set({ cistate: ciStateBody('MASTER'), bfd: bfdBody([{ remoteIp: peerIp, state: 'BFDUp' }]) });
    const { clock, deps } = setup();
    const env = ec2.emulator.env();
    const autoScaling = new AutoScalingClient({
      endpoint: ec2.emulator.url,
      region: env.AWS_REGION,
      credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY },
      maxAttempts: 1,
    });
    try {
      const report = await clock.run(
        runTeardown({ ...deps, autoScaling }, { instanceId: ME, episode: 'e', dryRun: false }),
      );
      expect(report.gate).toMatchObject({
        scope: 'handover',
        peers: [{ instanceId: ec2.ids.peerInstanceId }],
      });
      const received = ec2.calls().length + ec2.emulator.calls.of('autoscaling').length;
      expect(received).toBeGreaterThan(0);
      expect(report.calls).toEqual({ read: received, mutate: 0 });
    } finally {
      autoScaling.destroy();
    }
  });

  it('BFD off (HTTP 500 "bfd session not running") is not "unreachable": the cluster decides', async () => {
    fake.set({ cistate: ciStateBody('MASTER'), bfdNotRunning: true });
    const { clock, deps } = setup();
    const report = await clock.run(runTeardown(deps, { instanceId: ME, episode: 'e', dryRun: true }));
    expect(report.gate).toMatchObject({
      scope: 'handover',
      source: 'loxilb-api',
      details: { bfdRunning: false },
    });
    expect(report.gate.reason).toMatch(/BFD off.*membership unknown/);
  });

  it('a deadline closer than the reserve still gets the work done, up to the deadline itself', async () => {
    const { clock, deps } = setup({ executor: { deadlineReserveMs: 10000, detachPollIntervalMs: 50 } });
    const report = await clock.run(
      runTeardown(deps, {
        instanceId: ME,
        episode: 'e',
        dryRun: false,
        scopeOverride: 'full',
        deadlineAt: clock.now() + 3000,
      }),
    );
    expect(report.actions.filter((a) => a.outcome === 'deadline')).toEqual([]);
    expect(eniExists()).toBe(false);
    expect(subnetExists()).toBe(false);
  });

  it('reuses the episode’s gate decision without asking loxilb again', async () => {
    const { clock, deps } = setup();
    const report = await clock.run(
      runTeardown(deps, {
        instanceId: ME,
        episode: 'e',
        dryRun: true,
        gateDecision: { scope: 'handover', source: 'loxilb-api', reason: 'journaled' },
      }),
    );
    expect(fake.requests).toEqual([]);
    expect(report.gate.reason).toBe('journaled');
  });

  it('emits gate, plan and action events in order', async () => {
    const { clock, deps } = setup();
    const events: EngineEvent[] = [];
    const report = await clock.run(
      runTeardown(deps, {
        instanceId: ME,
        episode: 'e',
        dryRun: false,
        scopeOverride: 'full',
        onEvent: (e) => void events.push(e),
      }),
    );
    // The event minus its type is the decision itself (the daemon journals it and reuses it on resume).
    const { type, ...decision } = events[0];
    expect(type).toBe('gate-decided');
    expect(decision).toEqual(report.gate);
    // What discovery found comes before the plan and before any change, for the journal.
    expect(events[1]).toMatchObject({
      type: 'discovered',
      facts: {
        vpcId: ec2.ids.vpcId,
        ownEniIds: [ec2.ids.enis[0].eniId],
        subnetIds: [ec2.ids.subnetId],
        routeTableIds: [ec2.ids.routeTableId],
        cidr: { associationId: ec2.ids.cidrAssociationId },
      },
    });
    expect(events[2]).toEqual({ type: 'plan-built', planned: 10, blocked: 0, skipped: 0 });
    expect(events.filter((e) => e.type === 'action-finished')).toHaveLength(10);
    expect(events.filter((e) => e.type === 'action-started')).toHaveLength(10);
  });

  it('no change goes out before the discovery record is on disk (the engine awaits the journal write)', async () => {
    const { ec2, clock, deps } = setup();
    let landed = false;
    let mutatingBeforeLanded = -1;
    const report = await clock.run(
      runTeardown(deps, {
        instanceId: ME,
        episode: 'e',
        dryRun: false,
        scopeOverride: 'full',
        onEvent: async (e) => {
          if (e.type !== 'discovered') return;
          mutatingBeforeLanded = ec2.mutatingCalls().length;
          // A slow disk: the write lands only after a few turns of the event loop.
          for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
          landed = ec2.mutatingCalls().length === 0;
        },
      }),
    );
    expect(mutatingBeforeLanded).toBe(0);
    expect(landed).toBe(true);
    expect(report.outcome).toBe('clean');
  });

  it('a failed discovery changes nothing and is reported, not thrown', async () => {
    const { ec2, clock, deps } = setup();
    ec2.fail('DescribeNetworkInterfaces', {
      code: 'UnauthorizedOperation',
      status: 403,
      message: 'You are not authorized',
    });
    const report = await clock.run(
      runTeardown(deps, { instanceId: ME, episode: 'e', dryRun: false, scopeOverride: 'full' }),
    );
    expect(ec2.mutatingCalls()).toEqual([]);
    expect(report.outcome).toBe('left-behind');
    expect(report.error).toMatchObject({ stage: 'inventory', errorCode: 'UnauthorizedOperation' });
    expect(report.leftBehind[0].manualCommand).toMatch(/^aws ec2 describe-network-interfaces/);
  });

  it('buildPlanFor plans without a single mutating call', async () => {
    const { ec2, clock, deps } = setup();
    const { plan, gate } = await clock.run(
      buildPlanFor(deps, { instanceId: ME, episode: 'e', dryRun: true, scopeOverride: 'full' }),
    );
    expect(gate.source).toBe('cli');
    expect(plan.actions).toHaveLength(10);
    expect(ec2.mutatingCalls()).toEqual([]);
  });
});
