import { createHash } from 'node:crypto';
import { EmulatorContext } from './context';
import { xmlEscape } from './render';
import { EmulatorError, EmulatorRequest, EmulatorResponse, ServiceHandler } from './types';

/**
 * Just enough S3 (path-style REST) to prove a report reached a bucket: CreateBucket, PutObject,
 * GetObject, HeadObject, ListObjectsV2. Programmatic: createBucket(name), objects(bucket),
 * putObject(bucket, key, body).
 */
export interface S3ObjectView {
  key: string;
  body: string;
  contentType?: string;
  lastModified: number;
}

/** The SDK may stream a body as `aws-chunked` (size;signature CRLF data CRLF … 0 CRLF trailers). */
function decodeAwsChunked(raw: Buffer): Buffer {
  const parts: Buffer[] = [];
  let pos = 0;
  for (;;) {
    const lineEnd = raw.indexOf('\r\n', pos);
    if (lineEnd < 0) break;
    const size = parseInt(raw.subarray(pos, lineEnd).toString('latin1').split(';')[0], 16);
    if (!Number.isFinite(size) || size === 0) break;
    parts.push(raw.subarray(lineEnd + 2, lineEnd + 2 + size));
    pos = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

export class S3Service implements ServiceHandler {
  readonly service = 's3' as const;
  private buckets = new Map<string, Map<string, S3ObjectView>>();

  constructor(readonly ctx: EmulatorContext) {}

  createBucket(name: string): void {
    if (!this.buckets.has(name)) this.buckets.set(name, new Map());
  }

  putObject(bucket: string, key: string, body: string, contentType?: string): void {
    this.bucket(bucket).set(key, { key, body, contentType, lastModified: this.ctx.now() });
  }

  objects(bucket: string): S3ObjectView[] {
    return [...(this.buckets.get(bucket)?.values() ?? [])].map((o) => ({ ...o }));
  }

  snapshot(): unknown {
    return Object.fromEntries([...this.buckets.keys()].map((b) => [b, this.objects(b).map((o) => o.key)]));
  }

  stop(): void {}

  handle(req: EmulatorRequest): EmulatorResponse {
    const [bucketName, ...keyParts] = req.path.split('/').filter(Boolean).map(decodeURIComponent);
    const key = keyParts.join('/');
    switch (req.action) {
      case 'PUTBucket':
        this.createBucket(bucketName);
        return { status: 200, headers: { location: `/${bucketName}` }, body: '' };
      case 'PutObject': {
        const chunked =
          String(req.headers['content-encoding'] ?? '').includes('aws-chunked') ||
          String(req.headers['x-amz-content-sha256'] ?? '').startsWith('STREAMING-');
        const body = chunked ? decodeAwsChunked(req.body) : req.body;
        this.putObject(
          bucketName,
          key,
          body.toString('utf8'),
          req.headers['content-type'] as string | undefined,
        );
        return {
          status: 200,
          headers: { etag: `"${createHash('md5').update(body).digest('hex')}"` },
          body: '',
        };
      }
      case 'GetObject':
      case 'HeadObject': {
        const obj = this.bucket(bucketName).get(key);
        if (!obj) throw new EmulatorError('NoSuchKey', 'The specified key does not exist.', 404);
        const headers = {
          'content-type': obj.contentType ?? 'binary/octet-stream',
          'content-length': String(Buffer.byteLength(obj.body)),
          'last-modified': new Date(obj.lastModified).toUTCString(),
          etag: `"${createHash('md5').update(obj.body).digest('hex')}"`,
        };
        return { status: 200, headers, body: req.action === 'HeadObject' ? '' : obj.body };
      }
      case 'ListObjectsV2':
      case 'ListObjects': {
        const prefix = req.query.get('prefix') ?? '';
        const items = [...this.bucket(bucketName).values()]
          .filter((o) => o.key.startsWith(prefix))
          .sort((a, b) => a.key.localeCompare(b.key));
        const contents = items
          .map(
            (o) =>
              `<Contents><Key>${xmlEscape(o.key)}</Key><LastModified>${new Date(o.lastModified).toISOString()}</LastModified><ETag>&quot;${createHash('md5').update(o.body).digest('hex')}&quot;</ETag><Size>${Buffer.byteLength(o.body)}</Size><StorageClass>STANDARD</StorageClass></Contents>`,
          )
          .join('');
        return {
          status: 200,
          headers: { 'content-type': 'application/xml' },
          body: `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>${xmlEscape(bucketName)}</Name><Prefix>${xmlEscape(prefix)}</Prefix><KeyCount>${items.length}</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>${contents}</ListBucketResult>`,
        };
      }
      default:
        throw new EmulatorError('NotImplemented', `${req.action} is not implemented by the emulator`, 501);
    }
  }

  private bucket(name: string): Map<string, S3ObjectView> {
    const b = this.buckets.get(name);
    if (!b) throw new EmulatorError('NoSuchBucket', 'The specified bucket does not exist', 404);
    return b;
  }
}
