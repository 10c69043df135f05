import { AutoScalingClient, DescribeAutoScalingInstancesCommand } from '@aws-sdk/client-auto-scaling';
import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { SQSClient } from '@aws-sdk/client-sqs';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { mockClient } from 'aws-sdk-client-mock';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TokenBucket } from '../../../lib/aws/pacer';
import { systemClock } from '../../../lib/clock';
import { parseConfig } from '../../../lib/config/load';
import { EpisodeTeardown, EpisodeTeardownRequest } from '../../../lib/episode/coordinator';
import { ImdsClient } from '../../../lib/sources/imds-client';
import { IMDS_PATHS } from '../../../lib/sources/imds-notices';
import { Runtime } from '../../../daemon/wiring';
import { BackgroundService, defaultRunDeps, runDaemon } from '../../../daemon/commands/run';
import { fixture } from '../../fixtures/events';
import { until } from '../../helpers/manual-clock';
import { captureLogger } from '../../helpers/log-capture';
import { fakeReport } from '../episode/fake-report';

/**
 * `runDaemon` in-process with a fake runtime: start-up order, the ready line, and the shutdown
 * probe's two branches. The real child process against the emulator is in test/e2e/daemon-*.
 */
const ec2 = mockClient(EC2Client);
const asg = mockClient(AutoScalingClient);
const instanceId = 'i-0abc';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'run-'));
  ec2.reset();
  asg.reset();
  asg.on(DescribeAutoScalingInstancesCommand).resolves({ AutoScalingInstances: [] });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function harness(opts: { imds?: Record<string, string>; state?: string } = {}) {
  const { logger, lines } = captureLogger();
  const imdsAnswers = new Map<string, string>(Object.entries(opts.imds ?? {}));
  const imds = {
    get: async (path: string) => imdsAnswers.get(path) ?? null,
    require: async () => instanceId,
  } as unknown as ImdsClient;
  const config = parseConfig({ stateDir: join(dir, 'state'), sources: { imds: { pollIntervalMs: 100 } } });
  const runtime: Runtime = {
    config,
    logger,
    clock: systemClock,
    imds,
    pacer: new TokenBucket(config.aws.mutatingBucket, systemClock),
    selfCommand: [process.execPath, '-e', 'process.exit(0)', '--'],
    env: {},
    aws: async () => ({
      region: 'us-east-1',
      ec2: new EC2Client({ region: 'us-east-1' }),
      autoScaling: new AutoScalingClient({ region: 'us-east-1' }),
      sqs: new SQSClient({ region: 'us-east-1' }),
      sns: new SNSClient({ region: 'us-east-1' }),
      s3: new S3Client({ region: 'us-east-1' }),
      logs: new CloudWatchLogsClient({ region: 'us-east-1' }),
    }),
    instanceId: async () => instanceId,
    close: () => undefined,
  };
  ec2.on(DescribeInstancesCommand).resolves({
    Reservations: [
      { Instances: [{ InstanceId: instanceId, State: { Name: (opts.state ?? 'running') as 'running' } }] },
    ],
  });
  const requests: EpisodeTeardownRequest[] = [];
  const teardown: EpisodeTeardown = {
    run: async (req) => {
      requests.push(req);
      return fakeReport('clean', req.episode, instanceId);
    },
    writeReport: async () => join(dir, 'report.json'),
    exitCode: () => 0,
  };
  let stop!: (s: NodeJS.Signals) => void;
  const stopped = new Promise<NodeJS.Signals>((r) => (stop = r));
  return { runtime, lines, requests, teardown, stop, stopped, imdsAnswers };
}

describe('teardownd run (in-process)', () => {
  it('a notice posted while the daemon was down is acted on before `ready`', async () => {
    const h = harness({
      imds: { [IMDS_PATHS.spotInstanceAction]: fixture('imds-spot-instance-action-terminate.json') },
    });
    const done = runDaemon(
      h.runtime,
      {},
      {
        teardown: () => h.teardown,
        stopRequested: () => h.stopped,
        bootId: () => 'b',
      },
    );
    await until(() => h.lines.some((l) => l.message === 'ready'), 5000, 'ready');
    const ready = h.lines.findIndex((l) => l.message === 'ready');
    const opened = h.lines.findIndex((l) => l.message === 'episode opened');
    expect(opened).toBeGreaterThanOrEqual(0);
    expect(opened).toBeLessThan(ready);
    expect(h.lines.filter((l) => l.message === 'ready')).toHaveLength(1);
    await until(() => h.requests.length === 1, 5000, 'teardown');
    h.stop('SIGTERM');
    expect(await done).toBe(0);
  });

  it('systemd is told ready/stopping only when it started the daemon (NOTIFY_SOCKET)', () => {
    const { logger } = captureLogger();
    const outside = defaultRunDeps({ logger, env: {} });
    expect([outside.notifyReady, outside.notifyStopping]).toEqual([undefined, undefined]);
    const under = defaultRunDeps({ logger, env: { NOTIFY_SOCKET: '/run/systemd/notify' } });
    expect([typeof under.notifyReady, typeof under.notifyStopping]).toEqual(['function', 'function']);
  });

  it('tells notifyReady once ready, and starts background services', async () => {
    const h = harness();
    let notified = 0;
    let started = 0;
    let stopped = 0;
    const svc: BackgroundService = {
      name: 'sweeper',
      start: (signal) => {
        started++;
        return new Promise<void>((r) => signal.addEventListener('abort', () => r()));
      },
      stop: () => void stopped++,
    };
    const done = runDaemon(
      h.runtime,
      {},
      {
        teardown: () => h.teardown,
        stopRequested: () => h.stopped,
        notifyReady: () => void notified++,
        background: () => [svc],
      },
    );
    await until(() => started === 1, 5000, 'background service');
    expect(notified).toBe(1);
    h.stop('SIGTERM');
    await done;
    expect(stopped).toBe(1);
  });

  it('SIGTERM while EC2 says running: only DescribeInstances, no teardown', async () => {
    const h = harness({ state: 'running' });
    const done = runDaemon(h.runtime, {}, { teardown: () => h.teardown, stopRequested: () => h.stopped });
    await until(() => h.lines.some((l) => l.message === 'ready'), 5000, 'ready');
    h.stop('SIGTERM');
    expect(await done).toBe(0);
    expect(h.requests).toHaveLength(0);
    expect(ec2.commandCalls(DescribeInstancesCommand)).toHaveLength(1);
    expect(h.lines.find((l) => l.stage === 'shutdown-probe')).toMatchObject({
      state: 'running',
      verdict: 'not-terminating',
    });
  });

  it('SIGTERM while EC2 says shutting-down: the teardown runs before exit', async () => {
    const h = harness({ state: 'shutting-down' });
    const done = runDaemon(h.runtime, {}, { teardown: () => h.teardown, stopRequested: () => h.stopped });
    await until(() => h.lines.some((l) => l.message === 'ready'), 5000, 'ready');
    expect(h.requests).toHaveLength(0);
    h.stop('SIGTERM');
    expect(await done).toBe(0);
    expect(h.requests).toHaveLength(1);
    expect(h.requests[0].trigger).toMatchObject({ kind: 'state-change', source: 'shutdown-probe' });
    const closed = h.lines.findIndex((l) => l.message === 'episode closed');
    const stoppedAt = h.lines.findIndex((l) => l.message === 'stopped');
    expect(closed).toBeGreaterThanOrEqual(0);
    expect(closed).toBeLessThan(stoppedAt);
  });
});
