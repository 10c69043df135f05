import { AwsEmulator } from '../../sim/emulator/server';
import { DaemonProcess, runCli, TempWorkspace } from '../helpers/daemon-process';
import { seedLoxilbCluster } from '../../sim/loxilb/footprint';
import { flood, spotNotice } from '../../sim/notice-flood';

/**
 * Issue 11: every host hears its own notices. Real daemon processes against the emulator: three
 * hosts on one SNS topic (a queue each, filtered on the instance id), flooded with notices about
 * other instances and unrelated events; then the same on the shared-queue option.
 */

const WAIT_SECONDS = 1;

describe('teardownd run: a queue per host on the group topic', () => {
  let emulator: AwsEmulator;
  let workspaces: TempWorkspace[];
  let daemons: DaemonProcess[];
  let topicArn: string;
  let hosts: string[];

  beforeEach(async () => {
    emulator = await AwsEmulator.start({ sqs: { recreateAfterDeleteMs: 1500 } });
    const ids = seedLoxilbCluster(emulator);
    hosts = [1, 2, 3].map(
      (n) =>
        emulator.ec2.runInstance({ subnetId: ids.masterSubnetId, instanceId: `i-0${n}${n}${n}0000000000001` })
          .instanceId,
    );
    topicArn = emulator.sns.createTopic('teardownd');
    workspaces = [];
    daemons = [];
  });
  afterEach(async () => {
    for (const d of daemons) await d.stop();
    await emulator.stop();
    for (const w of workspaces) w.cleanup();
  });

  /** A daemon for `instanceId` with its own state dir; IMDS off (one emulator IMDS, three hosts). */
  function start(instanceId: string, ws?: TempWorkspace, extra: Record<string, unknown> = {}): DaemonProcess {
    if (!ws) {
      ws = new TempWorkspace();
      workspaces.push(ws);
    }
    const config = ws.writeConfig({
      gate: { mode: 'override', override: 'none' },
      sources: {
        imds: { enabled: false },
        sqs: { topicArn, waitTimeSeconds: WAIT_SECONDS, visibilityTimeoutSeconds: 5, recreateRetryMs: 200 },
      },
      sweeper: { enabled: false },
      ...extra,
    });
    const d = new DaemonProcess(['run', '--config', config, '--instance-id', instanceId], emulator.env());
    daemons.push(d);
    return d;
  }

  const ready = (d: DaemonProcess) => d.waitForLog((l) => l.message === 'ready', 20000, 'ready');
  const queueName = (id: string) => `teardownd-${id}`;
  const queueExists = (id: string) => emulator.sqs.queueNames().includes(queueName(id));
  const subscriptionsOf = (id: string) =>
    emulator.sns.subscriptions(topicArn).filter((s) => s.endpoint.endsWith(`:${queueName(id)}`));
  const receivesOn = (id: string) =>
    emulator.calls
      .all()
      .filter((c) => c.action === 'ReceiveMessage' && String(c.params.QueueUrl).endsWith(`/${queueName(id)}`))
      .length;

  it('three hosts, 1,000 notices about others: each acts on its own notice only, then its queue goes', async () => {
    const ds = hosts.map((id) => start(id));
    await Promise.all(ds.map(ready));
    for (const id of hosts) {
      expect(queueExists(id)).toBe(true);
      expect(subscriptionsOf(id)).toHaveLength(1);
      expect(subscriptionsOf(id)[0].attributes).toMatchObject({
        RawMessageDelivery: 'true',
        FilterPolicyScope: 'MessageBody',
      });
    }

    const floodStarted = Date.now();
    const before = hosts.map(receivesOn);
    for (const body of flood(1000)) emulator.sns.publish(topicArn, body);
    // Not one of the 1,000 reached any host's queue.
    for (const id of hosts) expect(emulator.sqs.messages(`teardownd-${id}`)).toEqual([]);

    for (const id of hosts) emulator.sns.publish(topicArn, spotNotice(id));
    await Promise.all(
      ds.map((d) => d.waitForLog((l) => l.message === 'episode closed', 30000, 'episode closed')),
    );
    const elapsedS = (Date.now() - floodStarted) / 1000;

    hosts.forEach((id, i) => {
      const opened = ds[i].logs.filter((l) => l.message === 'episode opened');
      expect(opened).toHaveLength(1);
      expect(opened[0]).toMatchObject({ instanceId: id, source: 'sqs', kind: 'spot-terminate' });
      // No message about anyone else was ever received, released or deleted by this host.
      const decided = ds[i].logs.filter((l) => String(l.message).startsWith('sqs message '));
      expect(decided.map((l) => l.category)).toEqual(['termination']);
      // About one long poll per wait period (plus the one in flight at each end), never a spin.
      expect(receivesOn(id) - before[i]).toBeLessThanOrEqual(Math.ceil(elapsedS / WAIT_SECONDS) + 3);
    });

    // After the episode (gate none, not in a group: nothing to complete) queue and subscription go.
    // The log line comes after the DeleteQueue answer: wait for it, then look at the emulator.
    await Promise.all(
      ds.map((d) =>
        d.waitForLog(
          (l) => l.message === 'per-host queue and subscription removed: this host is going',
          15000,
          'queue removed',
        ),
      ),
    );
    for (const id of hosts) {
      expect(queueExists(id)).toBe(false);
      expect(subscriptionsOf(id)).toEqual([]);
    }
    // Every owner's notice was received once and deleted: none redelivered, none dead-lettered.
    const own = emulator.sns.deliveries().filter((x) => x.outcome === 'delivered');
    expect(own).toHaveLength(3);
  }, 90000);

  it('a restart keeps the queue and its pending notice; a stop or dry-run never removes it', async () => {
    const [id] = hosts;
    const ws = new TempWorkspace();
    workspaces.push(ws);
    const first = start(id, ws);
    await ready(first);
    const url = first.logs.find((l) => l.message === 'per-host queue ready')?.queueUrl;
    expect(url).toBeDefined();
    await first.stop(20000); // the instance is running: a service restart, not a termination
    // Output may trail the exit event: wait (bounded) for the line rather than read it at once.
    await DaemonProcess.until(
      () => first.logs.some((l) => l.message === 'shutdown is not a termination; exiting without changes'),
      5000,
      'the shutdown verdict',
    );
    expect(queueExists(id)).toBe(true);
    expect(subscriptionsOf(id)).toHaveLength(1);

    // Published while the daemon was down: the queue keeps it.
    emulator.sns.publish(topicArn, spotNotice(id));
    expect(emulator.sqs.messages(queueName(id))).toHaveLength(1);

    // A dry-run daemon uses the queue as it is and removes nothing.
    const dry = start(id, ws, { dryRun: true });
    await ready(dry);
    await dry.waitForLog((l) => l.message === 'episode closed', 20000, 'dry-run episode closed');
    await dry.stop(20000);
    expect(queueExists(id)).toBe(true);
    await DaemonProcess.until(() => dry.logs.some((l) => l.message === 'per-host queue kept'), 5000, 'kept');
    expect(dry.logs.find((l) => l.message === 'per-host queue kept')).toMatchObject({
      reason: 'dry-run episode',
    });

    const second = start(id, ws);
    await ready(second);
    expect(second.logs.find((l) => l.message === 'per-host queue ready')?.queueUrl).toBe(url);
    expect(subscriptionsOf(id)).toHaveLength(1);
    await second.waitForLog(
      (l) => l.message === 'episode closed' && l.dryRun !== true,
      20000,
      'episode closed',
    );
    expect(second.logs.find((l) => l.message === 'episode opened')).toMatchObject({ source: 'sqs' });
    await DaemonProcess.until(() => !queueExists(id), 15000, 'queue deleted');
    expect(subscriptionsOf(id)).toEqual([]);
  }, 90000);

  it("the sweeper removes a dead host's queue and subscription; a host whose name SQS still refuses waits", async () => {
    const [live, dead] = hosts;
    const dl = start(live);
    const dd = start(dead);
    await Promise.all([ready(dl), ready(dd)]);
    // Something about another host sent straight to a host's queue (past the filter) is deleted:
    // nobody else reads that queue, so handing it back would keep it forever.
    emulator.sqs.send(queueName(live), spotNotice(dead));
    await DaemonProcess.until(
      () => emulator.sqs.deletedCount(queueName(live)) === 1,
      10000,
      'foreign deleted',
    );
    dd.signal('SIGKILL'); // the host died without warning
    await dd.exit();
    emulator.ec2.terminateInstance(dead);
    emulator.ec2.settle();

    const ws = new TempWorkspace();
    workspaces.push(ws);
    const config = ws.writeConfig({ sources: { imds: { enabled: false }, sqs: { topicArn } } });
    const sweep = await runCli(['sweep', '--apply', '--config', config], emulator.env(), 60000);
    expect(sweep.stderr).not.toMatch(/TypeError|ReferenceError/);
    expect(sweep.stdout).toContain('per-host queues of gone instances: 1 (1 removed), 1 kept, 0 error(s)');
    expect(queueExists(dead)).toBe(false);
    expect(subscriptionsOf(dead)).toEqual([]);
    expect(queueExists(live)).toBe(true);
    expect(subscriptionsOf(live)).toHaveLength(1);
    expect(
      sweep.logs.find((l) => l.message === 'removed the per-host queue of a gone instance'),
    ).toMatchObject({
      owner: dead,
    });

    // The live host's queue is deleted by hand while its daemon is down: SQS refuses the name for
    // 60 s; the daemon waits it out (the window is closed by hand once the refusal was seen).
    await dl.stop(20000);
    emulator.sqs.configure({ recreateAfterDeleteMs: 60000 });
    emulator.sqs.deleteQueue(queueName(live));
    const again = start(live);
    await again.waitForLog(
      (l) => l.message === 'queue name deleted recently; SQS refuses it for 60 s, retrying',
      20000,
      'QueueDeletedRecently retry',
    );
    expect(queueExists(live)).toBe(false);
    emulator.sqs.configure({ recreateAfterDeleteMs: 0 });
    await ready(again);
    expect(queueExists(live)).toBe(true);
    expect(subscriptionsOf(live)).toHaveLength(1);
  }, 90000);
});

describe('teardownd run: per-host queue setup when SNS is down', () => {
  let emulator: AwsEmulator;
  let ws: TempWorkspace;
  let d: DaemonProcess | undefined;
  afterEach(async () => {
    await d?.stop();
    await emulator.stop();
    ws.cleanup();
  });

  it('the daemon is ready without its queue, and subscribes once SNS answers again', async () => {
    emulator = await AwsEmulator.start();
    ws = new TempWorkspace();
    const topicArn = emulator.sns.createTopic('teardownd');
    emulator.faults.add({
      service: 'sns',
      action: 'Subscribe',
      kind: 'error',
      code: 'InternalError',
      status: 500,
    });
    const config = ws.writeConfig({
      gate: { mode: 'override', override: 'none' },
      sources: { imds: { enabled: false }, sqs: { topicArn, waitTimeSeconds: 1 } },
      sweeper: { enabled: false },
    });
    d = new DaemonProcess(
      ['run', '--config', config, '--instance-id', 'i-0abc0000000000001'],
      emulator.env(),
    );
    await d.waitForLog(
      (l) => l.message === 'per-host queue setup failed; retrying (IMDS still watches meanwhile)',
      20000,
    );
    await d.waitForLog((l) => l.message === 'ready', 20000, 'ready');
    expect(emulator.sns.subscriptions(topicArn)).toEqual([]);
    emulator.faults.clear();
    await d.waitForLog((l) => l.message === 'per-host queue ready', 20000, 'queue ready after the outage');
    expect(emulator.sns.subscriptions(topicArn)).toHaveLength(1);
    // And it consumes: its own notice opens an episode.
    emulator.sns.publish(topicArn, spotNotice('i-0abc0000000000001'));
    await d.waitForLog((l) => l.message === 'episode opened', 20000, 'episode opened');
  }, 60000);
});

describe('teardownd run: the shared-queue option', () => {
  let emulator: AwsEmulator;
  let workspaces: TempWorkspace[];
  let daemons: DaemonProcess[];

  beforeEach(async () => {
    emulator = await AwsEmulator.start();
    workspaces = [];
    daemons = [];
  });
  afterEach(async () => {
    for (const d of daemons) await d.stop();
    await emulator.stop();
    for (const w of workspaces) w.cleanup();
  });

  it('no host spins on foreign messages, and every owner gets its notice before the DLQ could take it', async () => {
    const hosts = ['i-0aaa0000000000001', 'i-0bbb0000000000002', 'i-0ccc0000000000003'];
    const release = { min: 2, max: 4 };
    // The documented sizing rule: maxReceiveCount ≥ 10 × the number of consumers.
    const queueUrl = emulator.sqs.createQueue('teardownd-shared', {
      deadLetterQueue: 'teardownd-shared-dlq',
      maxReceiveCount: 10 * hosts.length,
    });
    const ds = hosts.map((id) => {
      const ws = new TempWorkspace();
      workspaces.push(ws);
      const config = ws.writeConfig({
        gate: { mode: 'override', override: 'none' },
        sources: {
          imds: { enabled: false },
          sqs: {
            queueUrl,
            waitTimeSeconds: WAIT_SECONDS,
            visibilityTimeoutSeconds: 5,
            foreignReleaseSeconds: release,
          },
        },
        sweeper: { enabled: false },
      });
      const d = new DaemonProcess(['run', '--config', config, '--instance-id', id], emulator.env());
      daemons.push(d);
      return d;
    });
    await Promise.all(ds.map((d) => d.waitForLog((l) => l.message === 'ready', 20000, 'ready')));
    const started = Date.now();
    const bodies = flood(100);
    for (const b of bodies) emulator.sqs.send(queueUrl, b);
    for (const id of hosts) emulator.sqs.send(queueUrl, spotNotice(id));
    // Bound: with N hosts an owner waits on average (N − 1) × the mean delay; generous here.
    await Promise.all(
      ds.map((d) => d.waitForLog((l) => l.message === 'episode opened', 60000, 'episode opened')),
    );
    const elapsedS = (Date.now() - started) / 1000;
    hosts.forEach((id, i) =>
      expect(ds[i].logs.find((l) => l.message === 'episode opened')).toMatchObject({ instanceId: id }),
    );
    // No spin: a foreign message comes back no sooner than `min` seconds after each receive.
    const maxReceives = 1 + Math.floor(elapsedS / release.min);
    const flooded = emulator.sqs.messages(queueUrl).filter((m) => !hosts.some((h) => m.body.includes(h)));
    expect(Math.max(...flooded.map((m) => m.receiveCount))).toBeLessThanOrEqual(maxReceives);
    // Every release had a delay within the configured range, never 0.
    const delays = emulator.sqs.visibilityChanges(queueUrl).map((c) => c.seconds);
    expect(delays.length).toBeGreaterThan(0);
    expect(delays.filter((s) => s !== 5 && (s < release.min || s > release.max))).toEqual([]);
    // None of the owners' notices reached the dead-letter queue.
    const dlq = emulator.sqs.messages('teardownd-shared-dlq');
    expect(dlq.filter((m) => hosts.some((h) => m.body.includes(h)))).toEqual([]);
  }, 120000);
});
