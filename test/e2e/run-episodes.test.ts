import { AwsEmulator } from '../../sim/emulator/server';
import { fixture, withFields } from '../fixtures/events';
import { DaemonProcess, TempWorkspace } from '../helpers/daemon-process';
import { decoysIntact, leftovers, LoxilbClusterIds, seedLoxilbCluster } from '../../sim/loxilb/footprint';
import { closed, ready, RunHarness } from '../helpers/run-harness';

/**
 * `teardownd run` as a real process against the emulator: one teardown per episode whatever the
 * sources, resume after kill -9, the shutdown probe, hostile queue contents and a flaky IMDS.
 */
describe('teardownd run: termination episodes', () => {
  let h: RunHarness;
  let emulator: AwsEmulator;
  let ids: LoxilbClusterIds;
  let queueUrl: string;

  beforeEach(async () => {
    h = await RunHarness.start();
    ({ emulator, ids, queueUrl } = h);
  });
  afterEach(() => h.stop());

  const start = (extra: Record<string, unknown> = {}, args: string[] = []) => h.start(extra, args);

  /** Mutating calls other than marking this host's loxilb ENIs with the owner tag (additive metadata, issue #4). */
  const teardownCalls = () =>
    emulator.calls
      .mutating()
      .filter((c) => !(c.action === 'CreateTags' && Object.values(c.params).includes('teardownd:owner')));

  /** Successful mutating EC2 calls, as "Action resource". */
  const successfulMutations = () =>
    emulator.calls
      .mutating('ec2')
      .filter((c) => c.status === 200)
      .map((c) => `${c.action} ${Object.values(c.params)[0]}`);

  it('the same spot interruption seen by IMDS and by SQS is one teardown', async () => {
    const d = start();
    await ready(d);
    const now = new Date();
    emulator.sqs.send(
      queueUrl,
      withFields('eventbridge-spot-interruption.json', {
        time: now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
        // This host's account and region (the fixture's us-east-2 would make it foreign).
        account: '123456789012',
        region: 'us-east-1',
        'detail.instance-id': ids.masterInstanceId,
        'detail.instance-action': 'terminate',
      }),
    );
    emulator.imds.setSpotAction('terminate');
    await closed(d);
    expect(leftovers(emulator, ids)).toEqual([]);
    expect(decoysIntact(emulator, ids)).toEqual([]);
    const done = successfulMutations();
    expect(new Set(done).size).toBe(done.length);
    // Whichever source comes first opens the episode; the other's notice joins it.
    const opened = d.logs.filter((l) => l.message === 'episode opened');
    expect(opened).toHaveLength(1);
    const merged = d.logs.filter((l) => String(l.message).startsWith('notice merged into the'));
    expect(new Set([...opened, ...merged].map((l) => l.source))).toEqual(new Set(['imds', 'sqs']));
    expect(new Set([...opened, ...merged].map((l) => l.episode)).size).toBe(1);
    expect(d.logs.filter((l) => l.message === 'teardown started')).toHaveLength(1);
    await DaemonProcess.until(
      () => emulator.sqs.deletedCount(queueUrl) === 1,
      5000,
      'the SQS message to be deleted',
    );
  });

  it('a spot notice in IMDS alone opens the episode, tears down and writes the report', async () => {
    // How fast the notice is acted on is a figure of `npm run bench` (notice → first action), not a
    // timed assertion here: a loaded CI machine must not turn latency into a red test.
    const d = start();
    await ready(d);
    expect(teardownCalls()).toEqual([]);
    const noticeAt = Date.now();
    emulator.imds.setSpotAction('terminate');
    await closed(d);
    const opened = d.logs.filter((l) => l.message === 'episode opened');
    expect(opened.map((l) => [l.source, l.kind])).toEqual([['imds', 'spot-terminate']]);
    const first = teardownCalls().find((c) => c.service === 'ec2')!;
    expect(first.at).toBeGreaterThanOrEqual(noticeAt);
    const written = d.logs.find((l) => l.message === 'report written');
    expect(written?.outcome).toBe('clean');
    expect(leftovers(emulator, ids)).toEqual([]);
  });

  it('an ASG lifecycle message: heartbeats while it works, CONTINUE with the token, then the message is deleted', async () => {
    // The teardown outlasts a heartbeat by construction: detaches are held until the emulator has
    // recorded one. Describe says 1 s (so the daemon beats every 333 ms) while the emulator's hook
    // really times out only after 60 s (timeScale), so a loaded machine cannot turn a late beat into
    // an ABANDON. No test timing depends on the scheduler being prompt.
    emulator.ec2.configure({ holdDetaches: true });
    emulator.autoscaling.configure({ timeScale: 60 });
    emulator.autoscaling.putHook({
      asgName: 'loxilb-asg',
      hookName: 'teardownd',
      heartbeatTimeoutSeconds: 1,
      defaultResult: 'ABANDON',
      notificationQueueUrl: queueUrl,
    });
    emulator.autoscaling.addInstance('loxilb-asg', ids.masterInstanceId);
    // Stalled-teardown detection must not stop heartbeats while the detach is held on purpose.
    const d = start({ lifecycle: { maxStalledHeartbeats: 1000 } });
    await ready(d);
    const { token } = emulator.autoscaling.startTermination(ids.masterInstanceId);
    const beat = () =>
      emulator.autoscaling.history().some((h) => h.action === 'RecordLifecycleActionHeartbeat' && h.ok);
    await DaemonProcess.until(beat, 30000, 'a lifecycle heartbeat while the detach is held');
    expect(emulator.calls.of('ec2', 'DeleteSubnet')).toEqual([]);
    emulator.ec2.releaseHeldDetaches();
    await closed(d);
    const history = emulator.autoscaling.history();
    expect(
      history.filter((h) => h.action === 'RecordLifecycleActionHeartbeat' && h.ok).length,
    ).toBeGreaterThanOrEqual(1);
    expect(history.filter((h) => h.action === 'Timeout')).toEqual([]);
    expect(history.filter((h) => h.action === 'CompleteLifecycleAction' && h.ok)).toEqual([
      expect.objectContaining({ token, result: 'CONTINUE' }),
    ]);
    expect(emulator.sqs.deletedCount(queueUrl)).toBe(1);
    expect(leftovers(emulator, ids)).toEqual([]);
  });

  it('kill -9 mid-teardown, then restart: the episode resumes and finishes without repeating work', async () => {
    emulator.ec2.configure({ detachDelayMs: 1500 });
    const first = start();
    await ready(first);
    emulator.imds.setSpotAction('terminate');
    await DaemonProcess.until(
      () => emulator.calls.of('ec2', 'DetachNetworkInterface').some((c) => c.status === 200),
      10000,
      'a detach',
    );
    first.child.kill('SIGKILL');
    await first.exit();
    const beforeRestart = successfulMutations();
    expect(beforeRestart.some((m) => m.startsWith('DeleteSubnet'))).toBe(false);

    const second = start();
    await second.waitForLog((l) => l.message === 'resuming episode from the journal', 15000, 'resume');
    await closed(second);
    expect(leftovers(emulator, ids)).toEqual([]);
    expect(decoysIntact(emulator, ids)).toEqual([]);
    const all = successfulMutations();
    expect(new Set(all).size).toBe(all.length);
    expect(second.logs.filter((l) => l.message === 'episode opened')).toHaveLength(0);
  });

  it('SIGTERM while the instance is running (a restart or reboot) changes nothing', async () => {
    const d = start();
    await ready(d);
    d.signal('SIGTERM');
    const { code } = await d.exit();
    expect(code).toBe(0);
    expect(teardownCalls()).toEqual([]);
    expect(leftovers(emulator, ids).length).toBeGreaterThan(0);
  });

  it('SIGTERM while EC2 says shutting-down runs the teardown before exiting', async () => {
    const d = start();
    await ready(d);
    emulator.ec2.setInstanceState(ids.masterInstanceId, 'shutting-down');
    d.signal('SIGTERM');
    await d.exit(30000);
    expect(leftovers(emulator, ids)).toEqual([]);
    expect(decoysIntact(emulator, ids)).toEqual([]);
  });

  it('poison, foreign, test and malformed messages are handled and the daemon stays up', async () => {
    const d = start();
    await ready(d);
    emulator.sqs.send(queueUrl, 'this is not json');
    emulator.sqs.send(queueUrl, fixture('asg-test-notification.json'));
    emulator.sqs.send(
      queueUrl,
      withFields('eventbridge-spot-interruption.json', {
        time: new Date().toISOString(),
        'detail.instance-id': ids.peerInstanceId,
      }),
    );
    emulator.sqs.send(
      queueUrl,
      JSON.stringify({ 'detail-type': 'Something Else', source: 'aws.custom', detail: {} }),
    );
    // The foreign one goes back with a delay (sources.sqs.foreignReleaseSeconds), never visibility 0.
    await DaemonProcess.until(
      () =>
        emulator.sqs.deletedCount(queueUrl) >= 2 &&
        emulator.sqs.visibilityChanges(queueUrl).some((c) => c.seconds >= 5 && c.seconds <= 15),
      8000,
      'decisions',
    );
    expect(emulator.sqs.releasedCount(queueUrl)).toBe(0);
    const bodies = emulator.sqs.messages(queueUrl);
    expect(bodies.find((m) => m.body === 'this is not json')?.deleted).toBe(true);
    expect(bodies.find((m) => m.body.includes('TEST_NOTIFICATION'))?.deleted).toBe(true);
    expect(bodies.find((m) => m.body.includes(ids.peerInstanceId!))?.deleted).toBe(false);
    expect(d.running).toBe(true);
    expect(teardownCalls().filter((c) => c.service === 'ec2')).toEqual([]);
    // Still watching: a real notice for this instance is acted on.
    emulator.imds.setSpotAction('terminate');
    await closed(d);
    expect(leftovers(emulator, ids)).toEqual([]);
  });

  it('IMDS answering 401, 500 and timing out: the daemon stays up and still catches the notice', async () => {
    const d = start();
    await ready(d);
    const spotPath = 'GET /latest/meta-data/spot/instance-action';
    const undo = [
      emulator.faults.add({
        service: 'imds',
        action: spotPath,
        kind: 'error',
        code: 'x',
        status: 500,
        count: 3,
      }),
      emulator.faults.add({ service: 'imds', action: spotPath, kind: 'hang', count: 2 }),
    ];
    emulator.imds.revokeTokens();
    emulator.imds.setSpotAction('terminate');
    await closed(d, 30000);
    undo.forEach((u) => u());
    expect(leftovers(emulator, ids)).toEqual([]);
    expect(emulator.calls.of('imds').filter((c) => c.injected).length).toBeGreaterThanOrEqual(3);
  });

  it('dry-run: the notice is observed and reported, with zero mutating calls of any kind', async () => {
    emulator.autoscaling.putHook({
      asgName: 'loxilb-asg',
      hookName: 'teardownd',
      heartbeatTimeoutSeconds: 30,
      notificationQueueUrl: queueUrl,
    });
    emulator.autoscaling.addInstance('loxilb-asg', ids.masterInstanceId);
    const d = start({}, ['--dry-run']);
    await ready(d);
    emulator.autoscaling.startTermination(ids.masterInstanceId);
    await d.waitForLog((l) => l.message === 'report written', 15000, 'report written');
    await new Promise((r) => setTimeout(r, 500));
    expect(
      emulator.calls.mutating().filter((c) => c.service !== 'sqs' || c.action !== 'ChangeMessageVisibility'),
    ).toEqual([]);
    expect(emulator.sqs.deletedCount(queueUrl)).toBe(0);
    expect(emulator.autoscaling.history().filter((h) => h.action !== 'Timeout')).toEqual([]);
    expect(leftovers(emulator, ids).length).toBeGreaterThan(0);
  });
});

describe('teardownd run: the report outlives the host', () => {
  it('the report and the episode’s log lines are in S3 and CloudWatch Logs before the lifecycle action is completed', async () => {
    const emulator = await AwsEmulator.start({ ec2: { detachDelayMs: 100 } });
    const ws = new TempWorkspace();
    let d: DaemonProcess | undefined;
    try {
      const ids = seedLoxilbCluster(emulator);
      emulator.imds.configure({ instanceId: ids.masterInstanceId });
      emulator.s3.createBucket('loxilb-reports');
      emulator.logs.createLogGroup('/teardownd');
      const queueUrl = emulator.sqs.createQueue('events');
      emulator.autoscaling.putHook({
        asgName: 'loxilb-asg',
        hookName: 'teardownd',
        heartbeatTimeoutSeconds: 30,
        notificationQueueUrl: queueUrl,
      });
      emulator.autoscaling.addInstance('loxilb-asg', ids.masterInstanceId);
      const config = ws.writeConfig({
        gate: { mode: 'override', override: 'full' },
        sources: { imds: { pollIntervalMs: 100 }, sqs: { queueUrl, waitTimeSeconds: 1 } },
        executor: { detachPollIntervalMs: 50 },
        sweeper: { enabled: false },
        reports: {
          s3: { bucket: 'loxilb-reports', prefix: 'teardownd/' },
          cloudwatchLogs: { logGroupName: '/teardownd' },
        },
      });
      d = new DaemonProcess(['run', '--config', config], emulator.env());
      await d.waitForLog((l) => l.message === 'ready', 15000, 'ready');
      emulator.autoscaling.startTermination(ids.masterInstanceId);
      const closedLine = await d.waitForLog((l) => l.message === 'episode closed', 20000, 'episode closed');
      await d.stop();

      const objects = emulator.s3.objects('loxilb-reports');
      const day = new Date().toISOString().slice(0, 10);
      expect(objects.map((o) => o.key)).toEqual([
        `teardownd/${ids.masterInstanceId}/${day}/${closedLine.episode}.json`,
      ]);
      const shipped = JSON.parse(objects[0].body);
      expect(shipped).toMatchObject({
        instanceId: ids.masterInstanceId,
        episode: closedLine.episode,
        outcome: 'clean',
      });

      const events = emulator.logs.events('/teardownd', `teardownd/${ids.masterInstanceId}`);
      expect(events.some((e) => e.message.includes('DeleteSubnet'))).toBe(true);
      // Shipped first, completed after: the S3 object predates the CompleteLifecycleAction call.
      const complete = emulator.calls
        .of('autoscaling', 'CompleteLifecycleAction')
        .find((c) => c.status === 200)!;
      const put = emulator.calls.of('s3', 'PutObject').find((c) => c.status === 200)!;
      expect(put.seq).toBeLessThan(complete.seq);
    } finally {
      await d?.stop();
      await emulator.stop();
      ws.cleanup();
    }
  });
});
