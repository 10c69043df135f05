import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import {
  CloudWatchLogsClient,
  CreateLogStreamCommand,
  InputLogEvent,
  PutLogEventsCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { systemClock } from '../../../lib/clock';
import { parseConfig } from '../../../lib/config/load';
import { BufferedLogLine, EpisodeLogBuffer } from '../../../lib/report/episode-log';
import { createLogger, nullLogger } from '../../../lib/log';
import {
  buildLogEvents,
  LOGS_EVENT_OVERHEAD_BYTES,
  LOGS_MAX_BATCH_BYTES,
  LOGS_MAX_EVENT_BYTES,
  LOGS_MAX_EVENTS_PER_BATCH,
  reportS3Key,
  splitLogBatches,
} from '../../../lib/report/ship-format';
import { createEpisodeShipper, ReportsConfig, shipReport } from '../../../lib/report/shipping';

const report = JSON.parse(
  readFileSync(join(__dirname, '../../fixtures/reports/left-behind.json'), 'utf8'),
) as {
  instanceId: string;
  episode: string;
  startedAt: string;
  finishedAt: string;
  outcome: string;
};

const both: ReportsConfig = {
  s3: { bucket: 'ops-reports', prefix: 'teardownd/' },
  cloudwatchLogs: { logGroupName: '/loxilb/teardownd', logStreamPrefix: 'teardownd/' },
  shipTimeoutMs: 2000,
};

function awsError(name: string, status = 400): Error {
  return Object.assign(new Error(`${name}: injected`), { name, $metadata: { httpStatusCode: status } });
}

function lines(n: number, size = 20, from = Date.parse('2024-05-01T12:00:00.000Z')): BufferedLogLine[] {
  return Array.from({ length: n }, (_, i) => ({
    timestamp: from + i,
    message: JSON.stringify({ message: `line ${i}`, pad: 'x'.repeat(Math.max(0, size - 30)) }),
  }));
}

const s3 = mockClient(S3Client);
const logs = mockClient(CloudWatchLogsClient);

beforeEach(() => {
  s3.reset();
  logs.reset();
  s3.on(PutObjectCommand).resolves({});
  logs.on(CreateLogStreamCommand).resolves({});
  logs.on(PutLogEventsCommand).resolves({});
});

function deps(extra: Partial<Parameters<typeof shipReport>[0]> = {}) {
  return {
    s3: new S3Client({ region: 'us-east-1' }),
    logs: new CloudWatchLogsClient({ region: 'us-east-1' }),
    clock: systemClock,
    logger: nullLogger(),
    config: parseConfig({}),
    ...extra,
  };
}

function sentEvents(): InputLogEvent[] {
  return logs.commandCalls(PutLogEventsCommand).flatMap((c) => c.args[0].input.logEvents ?? []);
}

describe('report shipping', () => {
  it('puts the report in S3 under <prefix><instanceId>/<day>/<episode>.json as JSON', async () => {
    const result = await shipReport(deps(), both, report, []);
    expect(result.ok).toBe(true);
    const [put] = s3.commandCalls(PutObjectCommand);
    const input = put!.args[0].input;
    expect(input.Bucket).toBe('ops-reports');
    expect(input.Key).toBe(`teardownd/${report.instanceId}/2024-05-01/${report.episode}.json`);
    expect(input.ContentType).toBe('application/json');
    expect(JSON.parse(String(input.Body))).toEqual(report);
    expect(result.s3).toMatchObject({ status: 'shipped', bucket: 'ops-reports', key: input.Key });
  });

  it('dates the key by the UTC day the teardown finished and keeps ids to safe characters', () => {
    const key = reportS3Key(
      'p/',
      { instanceId: 'i-1', episode: 'ep/1 x', finishedAt: '2024-12-31T23:59:59.999-01:00' },
      0,
    );
    expect(key).toBe('p/i-1/2025-01-01/ep_1_x.json');
  });

  it('skips destinations that are not configured without calling AWS', async () => {
    const result = await shipReport(deps(), { shipTimeoutMs: 1000 }, report, lines(3));
    expect(result.ok).toBe(true);
    expect(result.s3.status).toBe('skipped');
    expect(result.cloudwatchLogs.status).toBe('skipped');
    expect(s3.calls()).toHaveLength(0);
    expect(logs.calls()).toHaveLength(0);
  });

  it('an S3 failure is recorded with its AWS code, never thrown, and CloudWatch still gets the report', async () => {
    s3.on(PutObjectCommand).rejects(awsError('AccessDenied', 403));
    const result = await shipReport(deps(), both, report, lines(2));
    expect(result.ok).toBe(false);
    expect(result.s3).toMatchObject({ status: 'failed', errorCode: 'AccessDenied' });
    expect(result.cloudwatchLogs.status).toBe('shipped');
  });

  it('a configured destination without a client is a failure, not a silent skip', async () => {
    const result = await shipReport(deps({ s3: undefined }), both, report, []);
    expect(result.s3).toMatchObject({ status: 'failed', errorCode: 'NoClient' });
    expect(result.ok).toBe(false);
  });

  it('creates the per-instance stream, tolerates it existing, and sends lines in time order with the report last', async () => {
    logs.on(CreateLogStreamCommand).rejects(awsError('ResourceAlreadyExistsException'));
    const t0 = Date.parse(report.startedAt);
    const unordered: BufferedLogLine[] = [
      { timestamp: t0 + 50, message: '{"message":"second"}' },
      { timestamp: t0 + 10, message: '{"message":"first"}' },
      { timestamp: t0 + 50, message: '{"message":"third"}' },
    ];
    const result = await shipReport(deps(), both, report, unordered);
    expect(result.cloudwatchLogs).toMatchObject({
      status: 'shipped',
      logGroupName: '/loxilb/teardownd',
      logStreamName: `teardownd/${report.instanceId}`,
      eventsSent: 4,
      batches: 1,
    });
    const create = logs.commandCalls(CreateLogStreamCommand)[0]!.args[0].input;
    expect(create.logStreamName).toBe(`teardownd/${report.instanceId}`);
    const events = sentEvents();
    expect(events.slice(0, 3).map((e) => JSON.parse(e.message!).message)).toEqual([
      'first',
      'second',
      'third',
    ]);
    const last = JSON.parse(events[3]!.message!);
    expect(last.message).toBe('teardown report');
    expect(last.report).toEqual(report);
    const times = events.map((e) => e.timestamp!);
    expect([...times].sort((a, b) => a - b)).toEqual(times);
  });

  it('a missing log group fails CloudWatch shipping with its code and sends no events', async () => {
    logs.on(CreateLogStreamCommand).rejects(awsError('ResourceNotFoundException'));
    const result = await shipReport(deps(), both, report, lines(2));
    expect(result.cloudwatchLogs).toMatchObject({ status: 'failed', errorCode: 'ResourceNotFoundException' });
    expect(logs.commandCalls(PutLogEventsCommand)).toHaveLength(0);
    expect(result.s3.status).toBe('shipped');
  });

  it('splits more than 10,000 events into batches within the PutLogEvents count limit', async () => {
    const result = await shipReport(deps(), both, report, lines(LOGS_MAX_EVENTS_PER_BATCH + 1500));
    const calls = logs.commandCalls(PutLogEventsCommand);
    expect(calls.length).toBe(2);
    for (const c of calls)
      expect(c.args[0].input.logEvents!.length).toBeLessThanOrEqual(LOGS_MAX_EVENTS_PER_BATCH);
    expect(result.cloudwatchLogs.eventsSent).toBe(LOGS_MAX_EVENTS_PER_BATCH + 1501);
    const messages = sentEvents().map((e) => e.message!);
    expect(JSON.parse(messages[0]!).message).toBe('line 0');
    expect(JSON.parse(messages[messages.length - 2]!).message).toBe(
      `line ${LOGS_MAX_EVENTS_PER_BATCH + 1499}`,
    );
  });

  it('splits batches by size: no batch over 1 MiB counting 26 bytes per event', () => {
    const big = lines(9, 200 * 1024).map((l) => ({ timestamp: l.timestamp, message: l.message }));
    const batches = splitLogBatches(big);
    expect(batches.length).toBeGreaterThan(1);
    expect(batches.flat()).toEqual(big);
    for (const b of batches) {
      const bytes = b.reduce((n, e) => n + Buffer.byteLength(e.message!) + LOGS_EVENT_OVERHEAD_BYTES, 0);
      expect(bytes).toBeLessThanOrEqual(LOGS_MAX_BATCH_BYTES);
    }
  });

  it('splits batches that would span more than 24 hours', () => {
    const t = Date.parse('2024-05-01T00:00:00Z');
    const events = [t, t + 3_600_000, t + 25 * 3_600_000].map((timestamp) => ({ timestamp, message: 'x' }));
    expect(splitLogBatches(events).map((b) => b.length)).toEqual([2, 1]);
  });

  it('cuts an oversize event to the 256 KiB limit with a marker', () => {
    const huge = [{ timestamp: Date.parse(report.startedAt), message: 'é'.repeat(200 * 1024) }];
    const { events, truncated } = buildLogEvents(report, huge, Date.now());
    expect(truncated).toBe(1);
    const cut = events[0]!.message!;
    expect(Buffer.byteLength(cut) + LOGS_EVENT_OVERHEAD_BYTES).toBeLessThanOrEqual(LOGS_MAX_EVENT_BYTES);
    expect(cut).toMatch(/truncated by teardownd/);
    expect(cut).not.toContain('\uFFFD');
  });

  it('says how many lines the buffer dropped before the first shipped line', async () => {
    await shipReport(deps(), both, report, { lines: lines(2), dropped: 7 });
    const first = JSON.parse(sentEvents()[0]!.message!);
    expect(first.message).toMatch(/^7 earlier log lines/);
  });

  it('a failure mid-way records how many events were accepted', async () => {
    // Not retryable (a throttled batch is retried through lib/aws/call.ts, see below).
    logs.on(PutLogEventsCommand).resolvesOnce({}).rejects(awsError('AccessDeniedException'));
    const result = await shipReport(deps(), both, report, lines(LOGS_MAX_EVENTS_PER_BATCH + 5));
    expect(result.cloudwatchLogs).toMatchObject({
      status: 'failed',
      errorCode: 'AccessDeniedException',
      eventsSent: LOGS_MAX_EVENTS_PER_BATCH,
      batches: 1,
    });
  });

  it('a throttled batch and a 5xx on S3 are retried through the one call path and still ship', async () => {
    logs.on(PutLogEventsCommand).rejectsOnce(awsError('ThrottlingException')).resolves({});
    s3.on(PutObjectCommand).rejectsOnce(awsError('InternalError')).resolves({});
    const result = await shipReport(
      deps({ config: parseConfig({ executor: { retryBaseDelayMs: 1, retryMaxDelayMs: 2 } }) }),
      both,
      report,
      lines(2),
    );
    expect(result.ok).toBe(true);
    expect(result.cloudwatchLogs).toMatchObject({ status: 'shipped', batches: 1 });
    expect(logs.commandCalls(PutLogEventsCommand)).toHaveLength(2);
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(2);
  });

  it('a hung endpoint cannot hold shipping past shipTimeoutMs: the result says which destination timed out', async () => {
    s3.on(PutObjectCommand).callsFake(() => new Promise(() => undefined));
    const result = await shipReport(deps(), { ...both, shipTimeoutMs: 150 }, report, lines(2));
    expect(result.timedOut).toBe(true);
    expect(result.ok).toBe(false);
    expect(result.s3).toMatchObject({ status: 'failed', errorCode: 'ShipTimeout' });
    expect(result.s3.message).toMatch(/shipTimeoutMs \(150 ms\)/);
    expect(result.cloudwatchLogs.status).toBe('shipped');
  });

  it('ends at once when the caller stops it (daemon shutdown)', async () => {
    logs.on(PutLogEventsCommand).callsFake(() => new Promise(() => undefined));
    const stop = new AbortController();
    const pending = shipReport(deps({ signal: stop.signal }), { ...both, shipTimeoutMs: 60_000 }, report, []);
    setTimeout(() => stop.abort(), 20);
    const result = await pending;
    expect(result.timedOut).toBe(false);
    expect(result.cloudwatchLogs).toMatchObject({ status: 'failed', errorCode: 'Aborted' });
  });

  it('logs where the report went with the fixed field names', async () => {
    const out: Record<string, unknown>[] = [];
    const stream = new Writable({
      write(chunk, _enc, cb) {
        out.push(JSON.parse(String(chunk)));
        cb();
      },
    });
    s3.on(PutObjectCommand).rejects(awsError('NoSuchBucket', 404));
    await shipReport(deps({ logger: createLogger({ stream }) }), both, report, []);
    await new Promise((r) => setImmediate(r));
    const s3Line = out.find((l) => l.action === 'ship-s3')!;
    expect(s3Line).toMatchObject({
      level: 'warn',
      instanceId: report.instanceId,
      episode: report.episode,
      stage: 'report',
      errorCode: 'NoSuchBucket',
    });
    expect(s3Line.resource).toBe(
      `s3://ops-reports/teardownd/${report.instanceId}/2024-05-01/${report.episode}.json`,
    );
    expect(out.find((l) => l.action === 'ship-cloudwatch-logs')).toMatchObject({ level: 'info', events: 1 });
  });

  describe('the coordinator seam (createEpisodeShipper)', () => {
    it("ships the report with that episode's buffered log lines, and only that episode's", async () => {
      const buffer = new EpisodeLogBuffer();
      const logger = createLogger({
        stream: new Writable({ write: (_c, _e, cb) => cb() }),
        transports: [buffer],
      });
      logger.info('eni detached', { episode: report.episode, stage: 'eni' });
      logger.info('other episode', { episode: 'someone-else' });
      await new Promise((r) => setImmediate(r));
      const ship = createEpisodeShipper({ deps: deps({ logger }), config: both, lines: buffer });
      await ship(report, {
        episode: report.episode,
        instanceId: report.instanceId,
        signal: new AbortController().signal,
      });
      const messages = sentEvents().map((e) => JSON.parse(e.message!).message);
      expect(messages).toEqual(['eni detached', 'teardown report']);
      expect(buffer.bufferedEpisodes).toEqual(['someone-else']);
    });

    it('returns (never throws) the per-destination result and its summary when a destination failed', async () => {
      s3.on(PutObjectCommand).rejects(awsError('AccessDenied', 403));
      const ship = createEpisodeShipper({ deps: deps(), config: both });
      const result = await ship(report, { episode: report.episode, instanceId: report.instanceId });
      expect(result.ok).toBe(false);
      expect(result.s3.errorCode).toBe('AccessDenied');
      expect(result.summary).toMatch(/S3: failed \(AccessDenied/);
      expect(result.summary).toMatch(/CloudWatch Logs: shipped to \/loxilb\/teardownd\/teardownd\//);
    });
  });
});
