import {
  CloudWatchLogsClient,
  CreateLogStreamCommand,
  PutLogEventsCommand,
  PutLogEventsCommandOutput,
} from '@aws-sdk/client-cloudwatch-logs';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { AwsCallContext, awsCall, CallConfig } from '../aws/call';
import { errorCodeOf } from '../aws/errors';
import { Clock } from '../clock';
import { Config } from '../config/schema';
import { BufferedLogLine, EpisodeLines } from './episode-log';
import { Logger } from '../log';
import {
  buildLogEvents,
  rejectedCount,
  reportLogStreamName,
  reportS3Key,
  ShippableReport,
  splitLogBatches,
} from './ship-format';

/**
 * Ships one episode's report (and its log lines) somewhere that outlives the host: a terminated
 * instance's root volume usually dies with it, so the local report file alone cannot serve "log
 * review after termination". Called after the report is written locally and BEFORE the lifecycle
 * action is completed, so it is bounded as a whole by reports.shipTimeoutMs and never throws: a
 * slow or broken destination costs at most the bound, and the result is a record, not an error.
 */

export type ReportsConfig = Pick<Config['reports'], 's3' | 'cloudwatchLogs' | 'shipTimeoutMs'>;

export interface ShipDeps {
  s3?: S3Client;
  logs?: CloudWatchLogsClient;
  clock: Clock;
  logger: Logger;
  /** Per-call timeout and retry settings (aws.*, executor.*). */
  config: CallConfig;
  /** The caller's stop signal (daemon shutdown); shipping ends at once when it fires. */
  signal?: AbortSignal;
}

/**
 * Calls of one shipment: each attempt cut by aws.callTimeoutMs; `signal` (the caller's stop, or the
 * shipment's own bound, reports.shipTimeoutMs) ends them and their retries.
 */
function callContext(deps: ShipDeps, signal: AbortSignal): AwsCallContext {
  return { clock: deps.clock, logger: deps.logger, config: deps.config, signal };
}

export type ShipStatus = 'shipped' | 'failed' | 'skipped';

export interface S3ShipResult {
  status: ShipStatus;
  durationMs: number;
  bucket?: string;
  key?: string;
  errorCode?: string;
  message?: string;
}

export interface LogsShipResult {
  status: ShipStatus;
  durationMs: number;
  logGroupName?: string;
  logStreamName?: string;
  /** Events built (log lines + marker + the report). */
  eventsTotal: number;
  /** Events in batches CloudWatch accepted. */
  eventsSent: number;
  batches: number;
  /** Events cut to the per-event size limit (with a marker). */
  truncatedEvents: number;
  /** Events CloudWatch accepted the batch of but rejected (too old/new); should be 0. */
  rejectedEvents: number;
  errorCode?: string;
  message?: string;
}

export interface ShipResult {
  /** True when no configured destination failed (skipped ones do not count). */
  ok: boolean;
  /** The bound (reports.shipTimeoutMs) cut shipping short. */
  timedOut: boolean;
  durationMs: number;
  s3: S3ShipResult;
  cloudwatchLogs: LogsShipResult;
}

interface Progress<T> {
  result: T;
  finished: boolean;
}

/** One destination's attempt: a throw becomes its `failed` result; its duration is kept either way. */
async function settle<T extends S3ShipResult | LogsShipResult>(
  deps: ShipDeps,
  progress: Progress<T>,
  attempt: (r: T, started: number) => Promise<void>,
): Promise<void> {
  const started = deps.clock.now();
  const r = progress.result;
  try {
    await attempt(r, started);
  } catch (err) {
    Object.assign(r, { status: 'failed', errorCode: errorCodeOf(err), message: (err as Error).message });
  } finally {
    r.durationMs = deps.clock.now() - started;
    progress.finished = true;
  }
}

function shipToS3(
  deps: ShipDeps,
  config: ReportsConfig,
  report: ShippableReport,
  ctx: AwsCallContext,
  progress: Progress<S3ShipResult>,
): Promise<void> {
  return settle(deps, progress, async (r, started) => {
    if (!config.s3) {
      Object.assign(r, { status: 'skipped', message: 'reports.s3 is not configured' });
      return;
    }
    r.bucket = config.s3.bucket;
    r.key = reportS3Key(config.s3.prefix, report, started);
    if (!deps.s3) {
      Object.assign(r, { status: 'failed', errorCode: 'NoClient', message: 'no S3 client was passed in' });
      return;
    }
    await awsCall(
      ctx,
      deps.s3,
      new PutObjectCommand({
        Bucket: r.bucket,
        Key: r.key,
        Body: JSON.stringify(report, null, 2) + '\n',
        ContentType: 'application/json',
      }),
      { mutating: true },
    );
    r.status = 'shipped';
  });
}

function shipToLogs(
  deps: ShipDeps,
  config: ReportsConfig,
  report: ShippableReport,
  lines: EpisodeLines | BufferedLogLine[] | undefined,
  ctx: AwsCallContext,
  progress: Progress<LogsShipResult>,
): Promise<void> {
  return settle(deps, progress, async (r, started) => {
    const cw = config.cloudwatchLogs;
    if (!cw) {
      Object.assign(r, { status: 'skipped', message: 'reports.cloudwatchLogs is not configured' });
      return;
    }
    r.logGroupName = cw.logGroupName;
    r.logStreamName = reportLogStreamName(cw.logStreamPrefix, report.instanceId);
    const { events, truncated } = buildLogEvents(report, lines, started);
    r.eventsTotal = events.length;
    r.truncatedEvents = truncated;
    if (!deps.logs) {
      Object.assign(r, {
        status: 'failed',
        errorCode: 'NoClient',
        message: 'no CloudWatch Logs client was passed in',
      });
      return;
    }
    try {
      await awsCall(
        ctx,
        deps.logs,
        new CreateLogStreamCommand({ logGroupName: r.logGroupName, logStreamName: r.logStreamName }),
        { mutating: true },
      );
    } catch (err) {
      // One stream per instance: an earlier episode of this instance (or a restart) created it.
      if (errorCodeOf(err) !== 'ResourceAlreadyExistsException') throw err;
    }
    // Sequential: batches of one stream must arrive in time order.
    for (const batch of splitLogBatches(events)) {
      const { output: out } = await awsCall<PutLogEventsCommandOutput>(
        ctx,
        deps.logs,
        new PutLogEventsCommand({
          logGroupName: r.logGroupName,
          logStreamName: r.logStreamName,
          logEvents: batch,
        }),
        { mutating: true },
      );
      r.batches += 1;
      r.eventsSent += batch.length;
      if (out.rejectedLogEventsInfo)
        r.rejectedEvents += rejectedCount(out.rejectedLogEventsInfo, batch.length);
    }
    r.status = 'shipped';
  });
}

/**
 * Ships the report to S3 and its log lines plus the report to CloudWatch Logs, each when
 * configured, concurrently, within `config.shipTimeoutMs` in total. Never throws.
 */
export async function shipReport(
  deps: ShipDeps,
  config: ReportsConfig,
  report: ShippableReport,
  logLines?: EpisodeLines | BufferedLogLine[],
): Promise<ShipResult> {
  const { clock, logger } = deps;
  const started = clock.now();
  const controller = new AbortController();
  const signal = deps.signal ? AbortSignal.any([deps.signal, controller.signal]) : controller.signal;
  const calls = callContext(deps, signal);
  const s3: Progress<S3ShipResult> = { result: { status: 'failed', durationMs: 0 }, finished: false };
  const cw: Progress<LogsShipResult> = {
    result: {
      status: 'failed',
      durationMs: 0,
      eventsTotal: 0,
      eventsSent: 0,
      batches: 0,
      truncatedEvents: 0,
      rejectedEvents: 0,
    },
    finished: false,
  };

  // The bound holds even for a send that ignores its abort signal (a hung socket, a stuck mock):
  // whichever of work / timer / caller's stop comes first decides, and the rest is abandoned.
  const work = Promise.all([
    shipToS3(deps, config, report, calls, s3),
    shipToLogs(deps, config, report, logLines, calls, cw),
  ]).then(() => 'done' as const);
  const timer = clock.sleep(config.shipTimeoutMs, controller.signal).then(
    () => 'timeout' as const,
    () => 'cancelled' as const,
  );
  const stopped = new Promise<'stopped'>((resolve) => {
    if (deps.signal?.aborted) resolve('stopped');
    deps.signal?.addEventListener('abort', () => resolve('stopped'), { once: true });
  });
  const winner = await Promise.race([work, timer, stopped]);
  const durationMs = clock.now() - started;
  const timedOut = winner === 'timeout';
  controller.abort(new Error(timedOut ? 'report shipping timed out' : 'report shipping finished'));

  const unfinished = {
    status: 'failed' as const,
    durationMs,
    errorCode: timedOut ? 'ShipTimeout' : 'Aborted',
    message: timedOut
      ? `did not finish within reports.shipTimeoutMs (${config.shipTimeoutMs} ms)`
      : `stopped by the caller before it finished (${reasonText(deps.signal?.reason)})`,
  };
  // Snapshots: a send that settles after the bound must not change what was reported.
  const s3Result: S3ShipResult = s3.finished ? { ...s3.result } : { ...s3.result, ...unfinished };
  const cwResult: LogsShipResult = cw.finished ? { ...cw.result } : { ...cw.result, ...unfinished };
  const result: ShipResult = {
    ok: s3Result.status !== 'failed' && cwResult.status !== 'failed',
    timedOut,
    durationMs,
    s3: s3Result,
    cloudwatchLogs: cwResult,
  };
  logShipResult(logger, report, result);
  return result;
}

function reasonText(reason: unknown): string {
  if (reason instanceof Error) return reason.message;
  return reason === undefined ? 'aborted' : String(reason);
}

function logShipResult(logger: Logger, report: ShippableReport, result: ShipResult): void {
  const base = { instanceId: report.instanceId, episode: report.episode, stage: 'report' };
  const { s3, cloudwatchLogs: cw } = result;
  if (s3.status !== 'skipped') {
    const fields = {
      ...base,
      action: 'ship-s3',
      resource: s3.bucket && s3.key ? `s3://${s3.bucket}/${s3.key}` : undefined,
      durationMs: s3.durationMs,
      errorCode: s3.errorCode,
    };
    if (s3.status === 'shipped') logger.info('report shipped to S3', fields);
    else logger.warn(`report not shipped to S3: ${s3.message}`, fields);
  }
  if (cw.status !== 'skipped') {
    const fields = {
      ...base,
      action: 'ship-cloudwatch-logs',
      resource: `${cw.logGroupName}:${cw.logStreamName}`,
      durationMs: cw.durationMs,
      errorCode: cw.errorCode,
      events: cw.eventsSent,
      batches: cw.batches,
      truncatedEvents: cw.truncatedEvents,
      rejectedEvents: cw.rejectedEvents,
    };
    if (cw.status === 'shipped') logger.info('report and episode log shipped to CloudWatch Logs', fields);
    else logger.warn(`report not shipped to CloudWatch Logs: ${cw.message}`, fields);
  }
}

/** One line for a journal entry or an error: where it went, or why not. */
export function describeShipResult(result: ShipResult): string {
  const part = (
    name: string,
    r: { status: ShipStatus; errorCode?: string; message?: string },
    where?: string,
  ) =>
    r.status === 'shipped'
      ? `${name}: shipped${where ? ` to ${where}` : ''}`
      : r.status === 'skipped'
        ? `${name}: skipped`
        : `${name}: failed (${r.errorCode ?? 'Unknown'}${r.message ? `: ${r.message}` : ''})`;
  const s3Where = result.s3.bucket && result.s3.key ? `s3://${result.s3.bucket}/${result.s3.key}` : undefined;
  const cwWhere =
    result.cloudwatchLogs.logGroupName &&
    `${result.cloudwatchLogs.logGroupName}/${result.cloudwatchLogs.logStreamName}`;
  return `${part('S3', result.s3, s3Where)}; ${part('CloudWatch Logs', result.cloudwatchLogs, cwWhere || undefined)}`;
}

/** One episode's shipment as the coordinator journals it: the result and its one-line summary. */
export interface EpisodeShipment extends ShipResult {
  /** Where the report went, or why not (describeShipResult). */
  summary: string;
}

/** Where the shipper takes an episode's log lines from (lib/report/episode-log.ts EpisodeLogBuffer). */
export interface EpisodeLineSource {
  take(episode: string): EpisodeLines;
}

/**
 * The coordinator's `shipReport` port: ships one episode's report with its buffered log lines and
 * returns what happened (each destination's result, already logged, and a summary for the journal).
 * Never throws: a failed or cut shipment is a result, and the coordinator goes on to complete the
 * lifecycle action. Bounded by config.shipTimeoutMs (here only) and by the caller's signal.
 */
export function createEpisodeShipper(options: {
  deps: Omit<ShipDeps, 'signal'>;
  config: ReportsConfig;
  lines?: EpisodeLineSource;
}): (
  report: object,
  ctx: { episode: string; instanceId: string; signal?: AbortSignal },
) => Promise<EpisodeShipment> {
  return async (report, ctx) => {
    const doc = report as Partial<ShippableReport>;
    const shippable: ShippableReport = {
      ...doc,
      instanceId: doc.instanceId ?? ctx.instanceId,
      episode: doc.episode ?? ctx.episode,
    };
    const result = await shipReport(
      { ...options.deps, signal: ctx.signal },
      options.config,
      shippable,
      options.lines?.take(ctx.episode),
    );
    return { ...result, summary: describeShipResult(result) };
  };
}
