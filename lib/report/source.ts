import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { AwsCallContext, awsRequest } from '../aws/call';
import { errorCodeOf } from '../aws/errors';
import { checkDocument, parseJsonQuietly } from './document-schema';
import { TeardownReport, TeardownReportSchema } from './report-schema';

/**
 * Reads a teardown report for `teardownd report`: from a file, from a directory (its newest
 * report), or from `s3://bucket/key` (where lib/report/shipping.ts put it). Whatever the source,
 * the document is parsed with the report's one schema (./report-schema.ts) so a wrong file gets an
 * error naming the path and the field, not a half-rendered page.
 */

/** The report could not be read or is not a report; the message names the location (and field). */
export class ReportSourceError extends Error {
  constructor(
    message: string,
    readonly location: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ReportSourceError';
  }
}

/** Validates an already-parsed document; `origin` (a path or URL) goes into the error. */
export function parseReport(raw: unknown, origin: string): TeardownReport {
  const checked = checkDocument(TeardownReportSchema, raw);
  if (checked.ok) return checked.value;
  throw new ReportSourceError(
    `${origin} is not a teardownd report:\n  ${checked.problems.join('\n  ')}`,
    origin,
  );
}

/** Never quotes the text (see parseJsonQuietly): `report /etc/shadow` must not print its first bytes. */
function parseJsonText(text: string, origin: string): unknown {
  const json = parseJsonQuietly(text);
  if (json.ok) return json.value;
  throw new ReportSourceError(
    `${origin} is not valid JSON (a teardownd report is a JSON document; ${text.length} bytes read)`,
    origin,
  );
}

export interface S3Location {
  bucket: string;
  key: string;
}

const S3_BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** `s3://bucket/key` → its parts; null when `location` is not an s3 URL. */
export function parseS3Url(location: string): S3Location | null {
  if (!/^s3:\/\//i.test(location)) return null;
  const rest = location.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const key = slash < 0 ? '' : rest.slice(slash + 1);
  if (!bucket)
    throw new ReportSourceError(`${location}: the S3 URL has no bucket (s3://BUCKET/KEY)`, location);
  if (!S3_BUCKET.test(bucket) || bucket.includes('..'))
    throw new ReportSourceError(
      `${location}: ${JSON.stringify(bucket)} is not an S3 bucket name (3-63 of a-z, 0-9, "." and "-")`,
      location,
    );
  // HTTP clients resolve dot segments in a path-style URL (s3://bucket/../other/key would read
  // bucket "other"): a key with a "." or ".." segment is refused, not sent.
  const segments = key.split('/');
  if (segments.some((seg) => seg === '..' || seg === '.'))
    throw new ReportSourceError(
      `${location}: the S3 key must not contain "." or ".." path segments (s3://BUCKET/KEY names one object)`,
      location,
    );
  if (!key || key.endsWith('/'))
    throw new ReportSourceError(
      `${location}: the S3 URL must name one report object (s3://${bucket}/<prefix><instance-id>/<YYYY-MM-DD>/<episode>.json); ` +
        `list the candidates with: aws s3 ls s3://${bucket}/${key} --recursive`,
      location,
    );
  return { bucket, key };
}

export interface ReportSourceDeps {
  /** Needed only for s3:// locations; called lazily so local reads never build AWS clients. */
  s3?: () => S3Client | Promise<S3Client>;
  /** Clock, logger and call settings for the S3 read (lib/aws/call.ts). */
  call?: Omit<AwsCallContext, 'signal' | 'deadlineAt'>;
  signal?: AbortSignal;
}

export interface LoadedReport {
  report: TeardownReport;
  /**
   * The JSON as read (`report --json` prints it): the schema drops keys it does not know, and a
   * newer teardownd's report keeps them this way.
   */
  raw: unknown;
  /** The file path or s3:// URL actually read (for a directory: the newest report in it). */
  origin: string;
}

/** Reads the report at a file path, the newest report of a directory, or an s3:// URL. */
export async function readReport(location: string, deps: ReportSourceDeps = {}): Promise<LoadedReport> {
  const s3Location = parseS3Url(location);
  if (s3Location) return readS3Report(s3Location, location, deps);
  let info;
  try {
    info = await stat(location);
  } catch (err) {
    throw new ReportSourceError(`${location}: ${describeFsError(err)}`, location, { cause: err });
  }
  if (info.isDirectory()) return readNewestInDir(location);
  return loadReportFile(location);
}

/**
 * One report file, parsed with the report schema: the daemon reads back the report it wrote with
 * this. Throws ReportSourceError naming the path (and the field).
 */
export async function readReportFile(path: string): Promise<TeardownReport> {
  return (await loadReportFile(path)).report;
}

async function loadReportFile(path: string): Promise<LoadedReport> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ReportSourceError(`${path}: ${describeFsError(err)}`, path, { cause: err });
  }
  return loadedFrom(text, path);
}

function loadedFrom(text: string, origin: string): LoadedReport {
  const raw = parseJsonText(text, origin);
  return { report: parseReport(raw, origin), raw, origin };
}

/**
 * The newest report of a directory: by the report's own `finishedAt`, falling back to the file's
 * mtime for a file whose finishedAt cannot be read (so a broken newest file is shown, with its
 * error, rather than silently skipped in favour of an older one).
 */
async function readNewestInDir(dir: string): Promise<LoadedReport> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.json'));
  } catch (err) {
    throw new ReportSourceError(`${dir}: ${describeFsError(err)}`, dir, { cause: err });
  }
  if (names.length === 0) throw new ReportSourceError(`${dir}: no report (*.json) in this directory`, dir);
  const candidates = await Promise.all(
    names.map(async (name) => {
      const path = join(dir, name);
      let at = NaN;
      try {
        const doc = JSON.parse(await readFile(path, 'utf8')) as { finishedAt?: unknown };
        if (typeof doc?.finishedAt === 'string') at = Date.parse(doc.finishedAt);
      } catch {
        /* unreadable or not JSON: ranked by mtime below, and its error shown if it is the newest */
      }
      if (!Number.isFinite(at))
        at = await stat(path).then(
          (s) => s.mtimeMs,
          () => 0,
        );
      return { path, at };
    }),
  );
  candidates.sort((a, b) => b.at - a.at || b.path.localeCompare(a.path));
  const newest = candidates[0]!.path;
  return loadReportFile(newest);
}

async function readS3Report(loc: S3Location, url: string, deps: ReportSourceDeps): Promise<LoadedReport> {
  if (!deps.s3 || !deps.call) throw new ReportSourceError(`${url}: reading from S3 needs an S3 client`, url);
  const client = await deps.s3();
  let text: string;
  try {
    // The body is read inside the same attempt, so a stalled download is cut like a stalled answer.
    const ctx = { ...deps.call, signal: deps.signal };
    ({ output: text } = await awsRequest(
      ctx,
      'GetObject',
      async (abortSignal) => {
        const out = await client.send(new GetObjectCommand({ Bucket: loc.bucket, Key: loc.key }), {
          abortSignal,
        });
        if (!out.Body) throw new ReportSourceError(`${url}: S3 returned no body`, url);
        return out.Body.transformToString('utf8');
      },
      { mutating: false },
    ));
  } catch (err) {
    if (err instanceof ReportSourceError) throw err;
    const code = errorCodeOf(err);
    const why =
      code === 'NoSuchKey'
        ? 'no such object'
        : code === 'NoSuchBucket'
          ? 'no such bucket'
          : code === 'AccessDenied'
            ? 'access denied (the credentials need s3:GetObject on this key)'
            : (err as Error).message;
    throw new ReportSourceError(`${url}: ${why} (${code})`, url, { cause: err });
  }
  return loadedFrom(text, url);
}

function describeFsError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'is a directory';
  return (err as Error)?.message ?? String(err);
}
