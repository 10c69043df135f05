import { LoxilbCluster, startLoxilbCluster } from '../../sim/loxilb/cluster';
import { AwsEmulator, DAEMON_ACCESS_KEY_ID } from '../../sim/emulator/server';
import { EmulatorRequest, EmulatorResponse } from '../../sim/emulator/types';
import { DaemonProcess, TempWorkspace } from '../helpers/daemon-process';
import { currentFootprint, LoxilbClusterIds, seedLoxilbCluster } from '../../sim/loxilb/footprint';

/**
 * The survivor's sweeper never races its own loxilb's takeover. The master dies with no warning;
 * the survivor's teardownd sweeps every second in `apply` mode while its loxilb (the world's fake
 * node, setRoles mode) takes over: loxilb's CloudPrepareVIPNetWork deletes the dead master's ENI
 * itself and gives up the whole takeover on a NotFound a sweeper caused.
 *
 * Order by construction: the takeover's DeleteNetworkInterface of the dead master's ENI is held at
 * the emulator (after loxilb listed it, before it deletes it) until the daemon has finished two
 * sweeps — so at least one whole sweep ran inside the takeover's window — then released.
 */
describe('sweeper (mode apply) while the survivor takes over', () => {
  let emulator: AwsEmulator;
  let ws: TempWorkspace;
  let ids: LoxilbClusterIds;
  let cluster: LoxilbCluster | undefined;
  let daemon: DaemonProcess | undefined;

  beforeEach(async () => {
    emulator = await AwsEmulator.start({ ec2: { detachDelayMs: 30, cidrDisassociateDelayMs: 30 } });
    ws = new TempWorkspace();
    ids = seedLoxilbCluster(emulator);
    // What the master's own teardownd wrote at its start-up (lib/sweeper/ownership.ts).
    emulator.ec2.createTags([ids.enis[0].eniId], { 'teardownd:owner': ids.masterInstanceId });
    emulator.imds.configure({ instanceId: ids.peerInstanceId!, region: 'us-east-1', az: 'us-east-1b' });
  });
  afterEach(async () => {
    await daemon?.stop();
    await cluster?.stop();
    await emulator.stop();
    ws.cleanup();
  });

  /** Holds the first request matching `when` until `release()`; `held` resolves when it arrives. */
  function holdFirst(when: (req: EmulatorRequest) => boolean) {
    const ec2 = emulator.ec2;
    const handle = ec2.handle.bind(ec2);
    let arrived!: () => void;
    const held = new Promise<void>((r) => (arrived = r));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let seen = false;
    ec2.handle = ((req: EmulatorRequest): EmulatorResponse | Promise<EmulatorResponse> => {
      if (seen || !when(req)) return handle(req);
      seen = true;
      arrived();
      return gate.then(() => handle(req));
    }) as typeof ec2.handle;
    return { held, release };
  }
  const callerOf = (req: EmulatorRequest) =>
    /Credential=([^/,\s]+)\//.exec(String(req.headers.authorization ?? ''))?.[1];

  it('the takeover succeeds; the sweeper leaves the dead master’s ENI to it', async () => {
    // kube-loxilb's rounds are driven by the test (setRole), not by a timer.
    cluster = await startLoxilbCluster(emulator, ids, {
      mode: 'setroles',
      electorPollMs: 600_000,
      retry: { count: 3, intervalMs: 20 },
    });
    const peer = cluster.peer!;
    const file = ws.writeConfig({
      gate: { mode: 'override', override: 'none' },
      sources: { imds: { pollIntervalMs: 200 } },
      // Every second, no jitter, no attach grace: only the takeover grace (default 10 min) protects.
      sweeper: { schedule: '* * * * * *', jitterMs: 0, graceMs: 0, mode: 'apply' },
    });
    daemon = new DaemonProcess(['-c', file, 'run'], emulator.env());
    await daemon.waitForLog((l) => l.message === 'ready', 15000, 'ready');
    const sweeps = () => daemon!.logs.filter((l) => /^sweep us-east-1: /.test(String(l.message))).length;

    // The master dies with no warning: EC2 detaches its loxilb ENI, which its owner tag ties to a
    // terminated instance. kube-loxilb elects the survivor.
    emulator.ec2.terminateInstance(ids.masterInstanceId);
    const deadEni = ids.enis[0].eniId;
    const { held, release } = holdFirst(
      (req) =>
        req.action === 'DeleteNetworkInterface' &&
        callerOf(req) === peer.accessKeyId &&
        req.form.get('NetworkInterfaceId') === deadEni,
    );
    peer.setRole('MASTER');
    await held;
    const before = sweeps();
    await DaemonProcess.until(() => sweeps() >= before + 2, 20000, 'two sweeps inside the takeover');
    release();

    const takeover = await peer.waitForTakeover(15000);
    expect({ status: takeover.status, failedCall: takeover.failedCall }).toEqual({
      status: 'succeeded',
      failedCall: undefined,
    });
    // The daemon touched nothing of loxilb's but its own owner tag.
    const daemonChanges = emulator.calls
      .by(DAEMON_ACCESS_KEY_ID)
      .filter((c) => c.mutating && c.action !== 'CreateTags')
      .map((c) => c.action);
    expect(daemonChanges).toEqual([]);
    // What the sweeps said about the ENI while the takeover held it.
    const verdicts = daemon.logs.filter((l) => l.resource === deadEni && /^orphan /.test(String(l.message)));
    expect(verdicts).toEqual([]);
    // The survivor owns loxilb's VIP network, the dead master's ENI is gone (deleted by loxilb).
    const now = currentFootprint(emulator, ids);
    expect(now.enis).toEqual([expect.objectContaining({ instanceId: ids.peerInstanceId, deviceIndex: 1 })]);
    expect(emulator.ec2.networkInterfaceById(deadEni)).toBeUndefined();
    expect(
      emulator.calls
        .by(peer.accessKeyId)
        .filter((c) => c.action === 'DeleteNetworkInterface' && c.status === 200)
        .map((c) => c.params.NetworkInterfaceId),
    ).toContain(deadEni);
  });
});
