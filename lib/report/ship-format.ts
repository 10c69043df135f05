import { InputLogEvent } from '@aws-sdk/client-cloudwatch-logs';
import { BufferedLogLine, EpisodeLines, truncateUtf8 } from './episode-log';

/**
 * What report shipping sends and under which names: the S3 object key, the CloudWatch Logs stream,
 * the report and its episode's log lines as log events within PutLogEvents' limits, and the count of
 * events CloudWatch rejected. Pure; ./shipping.ts does the sending.
 */

/** What shipping needs from a report (the whole document is serialised as-is). */
export interface ShippableReport {
  instanceId: string;
  episode: string;
  startedAt?: string;
  finishedAt?: string;
  outcome?: string;
}

/** PutLogEvents limits (CloudWatch Logs API reference). */
export const LOGS_MAX_EVENTS_PER_BATCH = 10_000;
export const LOGS_MAX_BATCH_BYTES = 1_048_576;
/** Each event counts its UTF-8 message plus this much towards the batch size. */
export const LOGS_EVENT_OVERHEAD_BYTES = 26;
export const LOGS_MAX_EVENT_BYTES = 256 * 1024;
/** A batch may not span more than 24 hours. */
export const LOGS_MAX_BATCH_SPAN_MS = 24 * 60 * 60 * 1000;
const MAX_EVENT_MESSAGE_BYTES = LOGS_MAX_EVENT_BYTES - LOGS_EVENT_OVERHEAD_BYTES;

/** Ids go into object keys and stream names as path segments: keep them to safe characters. */
function segment(id: string): string {
  return id.replace(/[^A-Za-z0-9._-]/g, '_');
}

function utcDay(iso: string | undefined): string | undefined {
  const t = iso ? Date.parse(iso) : NaN;
  return Number.isFinite(t) ? new Date(t).toISOString().slice(0, 10) : undefined;
}

/**
 * `<prefix><instanceId>/<YYYY-MM-DD>/<episode>.json`. An operator starts from the instance id (ASG
 * activity history, the console, an alarm) and S3 lists by prefix, so the instance id comes first:
 * `aws s3 ls s3://bucket/<prefix><instanceId>/` lists every episode of that instance, one
 * "directory" per UTC day of the teardown, and adding the date narrows it to a day. The prefix is
 * used literally (like S3's own prefixes): end it with `/` for a folder.
 */
export function reportS3Key(prefix: string, report: ShippableReport, now: number): string {
  const day =
    utcDay(report.finishedAt) ?? utcDay(report.startedAt) ?? new Date(now).toISOString().slice(0, 10);
  return `${prefix}${segment(report.instanceId)}/${day}/${segment(report.episode)}.json`;
}

/** One stream per instance, so a group holds the whole fleet and a stream one host's episodes. */
export function reportLogStreamName(prefix: string, instanceId: string): string {
  return `${prefix}${segment(instanceId)}`;
}

function toEpisodeLines(lines: EpisodeLines | BufferedLogLine[] | undefined): EpisodeLines {
  if (!lines) return { lines: [], dropped: 0 };
  return Array.isArray(lines) ? { lines, dropped: 0 } : lines;
}

/**
 * The episode's log lines in timestamp order (stable for equal times), a marker if the buffer
 * dropped some, then the report as the last event. Oversize events are cut with a marker.
 */
export function buildLogEvents(
  report: ShippableReport,
  episodeLines: EpisodeLines | BufferedLogLine[] | undefined,
  now: number,
): { events: InputLogEvent[]; truncated: number } {
  const { lines, dropped } = toEpisodeLines(episodeLines);
  const sorted = lines.filter((l) => l.message.length > 0).sort((a, b) => a.timestamp - b.timestamp);
  const startAt = Date.parse(report.startedAt ?? '');
  const events: Array<{ timestamp: number; message: string }> = [];
  if (dropped > 0) {
    events.push({
      timestamp: sorted[0]?.timestamp ?? (Number.isFinite(startAt) ? startAt : now),
      message: JSON.stringify({
        level: 'warn',
        message: `${dropped} earlier log lines of this episode were dropped by teardownd's in-memory buffer cap`,
        instanceId: report.instanceId,
        episode: report.episode,
      }),
    });
  }
  events.push(...sorted.map((l) => ({ timestamp: l.timestamp, message: l.message })));
  const finishedAt = Date.parse(report.finishedAt ?? '');
  const lastAt = events.length ? events[events.length - 1]!.timestamp : -Infinity;
  events.push({
    // Events must be in timestamp order; the report closes the episode, so it sorts last.
    timestamp: Math.max(lastAt, Number.isFinite(finishedAt) ? finishedAt : now),
    message: JSON.stringify({
      level: 'info',
      message: 'teardown report',
      instanceId: report.instanceId,
      episode: report.episode,
      outcome: report.outcome,
      report,
    }),
  });
  let truncated = 0;
  const out = events.map((e) => {
    const message = truncateUtf8(
      e.message,
      MAX_EVENT_MESSAGE_BYTES,
      `…[truncated by teardownd: the event was ${Buffer.byteLength(e.message)} bytes, over CloudWatch's ${LOGS_MAX_EVENT_BYTES}-byte event limit; the full report is in the local report file and S3]`,
    );
    if (message !== e.message) truncated += 1;
    return { timestamp: e.timestamp, message };
  });
  return { events: out, truncated };
}

/** Splits time-ordered events into PutLogEvents batches within the count, size and span limits. */
export function splitLogBatches(events: InputLogEvent[]): InputLogEvent[][] {
  const batches: InputLogEvent[][] = [];
  let batch: InputLogEvent[] = [];
  let bytes = 0;
  for (const event of events) {
    const size = Buffer.byteLength(event.message ?? '') + LOGS_EVENT_OVERHEAD_BYTES;
    const first = batch[0]?.timestamp ?? event.timestamp!;
    if (
      batch.length > 0 &&
      (batch.length >= LOGS_MAX_EVENTS_PER_BATCH ||
        bytes + size > LOGS_MAX_BATCH_BYTES ||
        event.timestamp! - first > LOGS_MAX_BATCH_SPAN_MS)
    ) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(event);
    bytes += size;
  }
  if (batch.length) batches.push(batch);
  return batches;
}

export function rejectedCount(
  info: {
    tooNewLogEventStartIndex?: number;
    tooOldLogEventEndIndex?: number;
    expiredLogEventEndIndex?: number;
  },
  batchSize: number,
): number {
  const old = Math.max(info.tooOldLogEventEndIndex ?? -1, info.expiredLogEventEndIndex ?? -1) + 1;
  const tooNew = info.tooNewLogEventStartIndex === undefined ? 0 : batchSize - info.tooNewLogEventStartIndex;
  return Math.min(batchSize, old + tooNew);
}
