import { EmulatorContext } from './context';
import { xmlEscape } from './render';
import { md5Hex } from './sqs-queue';
import { EmulatorError, EmulatorRequest, EmulatorResponse, ServiceHandler } from './types';

/**
 * Just enough S3 (path-style REST — the SDK uses path style for an IP endpoint such as
 * http://127.0.0.1:port) to prove a report reached a bucket: CreateBucket, HeadBucket, ListBuckets,
 * PutObject, GetObject, HeadObject, DeleteObject, ListObjectsV2 (prefix, delimiter, max-keys);
 * NoSuchBucket / NoSuchKey errors. Programmatic: createBucket(name), putObject(bucket, key, body),
 * objects(bucket), object(bucket, key).
 */
export interface S3ObjectView {
  key: string;
  body: string;
  contentType?: string;
  lastModified: number;
  size: number;
  etag: string;
  /** x-amz-meta-* headers, without the prefix. */
  metadata: Record<string, string>;
}

interface StoredObject {
  key: string;
  bytes: Buffer;
  contentType?: string;
  lastModified: number;
  metadata: Record<string, string>;
}

const XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';

/** The SDK may stream a body as `aws-chunked` (size;signature CRLF data CRLF … 0 CRLF trailers). */
export function decodeAwsChunked(raw: Buffer): Buffer {
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

function xml(body: string, status = 200): EmulatorResponse {
  return {
    status,
    headers: { 'content-type': 'application/xml' },
    body: `<?xml version="1.0" encoding="UTF-8"?>\n${body}`,
  };
}

function httpDate(ms: number): string {
  return new Date(ms).toUTCString();
}

export class S3Service implements ServiceHandler {
  readonly service = 's3' as const;
  private readonly buckets = new Map<string, { createdAt: number; objects: Map<string, StoredObject> }>();

  constructor(readonly ctx: EmulatorContext) {}

  createBucket(name: string): void {
    if (!this.buckets.has(name)) this.buckets.set(name, { createdAt: this.ctx.now(), objects: new Map() });
  }

  putObject(bucket: string, key: string, body: string | Buffer, contentType?: string): void {
    this.store(bucket).set(key, {
      key,
      bytes: Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8'),
      contentType,
      lastModified: this.ctx.now(),
      metadata: {},
    });
  }

  /** The bucket's objects in key order ([] for an unknown bucket). */
  objects(bucket: string): S3ObjectView[] {
    const b = this.buckets.get(bucket);
    if (!b) return [];
    return [...b.objects.values()].sort((a, c) => (a.key < c.key ? -1 : a.key > c.key ? 1 : 0)).map(view);
  }

  object(bucket: string, key: string): S3ObjectView | undefined {
    const o = this.buckets.get(bucket)?.objects.get(key);
    return o && view(o);
  }

  snapshot(): unknown {
    return Object.fromEntries([...this.buckets.keys()].map((b) => [b, this.objects(b).map((o) => o.key)]));
  }

  stop(): void {}

  handle(req: EmulatorRequest): EmulatorResponse {
    const [bucketName, ...keyParts] = req.path.split('/').filter(Boolean).map(decodeURIComponent);
    const key = keyParts.join('/');
    if (!bucketName) {
      if (req.method === 'GET') return this.listBuckets();
      throw new EmulatorError(
        'MethodNotAllowed',
        'The specified method is not allowed against this resource.',
        405,
      );
    }
    if (!key) return this.bucketLevel(req, bucketName);
    switch (req.method) {
      case 'PUT':
        return this.put(req, bucketName, key);
      case 'GET':
      case 'HEAD':
        return this.get(req, bucketName, key);
      case 'DELETE':
        this.store(bucketName).delete(key);
        return { status: 204, body: '' };
      default:
        throw new EmulatorError(
          'NotImplemented',
          `${req.method} on an object is not implemented by the emulator`,
          501,
        );
    }
  }

  private bucketLevel(req: EmulatorRequest, bucketName: string): EmulatorResponse {
    switch (req.method) {
      case 'PUT':
        if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucketName)) {
          throw new EmulatorError('InvalidBucketName', 'The specified bucket is not valid.');
        }
        // us-east-1 answers 200 when you already own the bucket (other regions: 409 BucketAlreadyOwnedByYou).
        this.createBucket(bucketName);
        return { status: 200, headers: { location: `/${bucketName}` }, body: '' };
      case 'HEAD':
        this.store(bucketName);
        return { status: 200, headers: { 'x-amz-bucket-region': 'us-east-1' }, body: '' };
      case 'GET':
        return this.list(req, bucketName);
      case 'DELETE':
        if (this.store(bucketName).size > 0) {
          throw new EmulatorError('BucketNotEmpty', 'The bucket you tried to delete is not empty', 409);
        }
        this.buckets.delete(bucketName);
        return { status: 204, body: '' };
      default:
        throw new EmulatorError(
          'NotImplemented',
          `${req.method} on a bucket is not implemented by the emulator`,
          501,
        );
    }
  }

  private put(req: EmulatorRequest, bucketName: string, key: string): EmulatorResponse {
    const objects = this.store(bucketName);
    const chunked =
      String(req.headers['content-encoding'] ?? '').includes('aws-chunked') ||
      String(req.headers['x-amz-content-sha256'] ?? '').startsWith('STREAMING-');
    const bytes = chunked ? decodeAwsChunked(req.body) : req.body;
    const metadata: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (name.startsWith('x-amz-meta-') && value !== undefined) metadata[name.slice(11)] = String(value);
    }
    objects.set(key, {
      key,
      bytes,
      contentType: req.headers['content-type'] as string | undefined,
      lastModified: this.ctx.now(),
      metadata,
    });
    return { status: 200, headers: { etag: `"${md5Hex(bytes)}"` }, body: '' };
  }

  private get(req: EmulatorRequest, bucketName: string, key: string): EmulatorResponse {
    const obj = this.store(bucketName).get(key);
    if (!obj) throw new EmulatorError('NoSuchKey', 'The specified key does not exist.', 404);
    const headers: Record<string, string> = {
      'content-type': obj.contentType ?? 'binary/octet-stream',
      'content-length': String(obj.bytes.length),
      'last-modified': httpDate(obj.lastModified),
      etag: `"${md5Hex(obj.bytes)}"`,
      'accept-ranges': 'bytes',
    };
    for (const [k, v] of Object.entries(obj.metadata)) headers[`x-amz-meta-${k}`] = v;
    return { status: 200, headers, body: req.method === 'HEAD' ? '' : obj.bytes };
  }

  private list(req: EmulatorRequest, bucketName: string): EmulatorResponse {
    const objects = this.store(bucketName);
    const prefix = req.query.get('prefix') ?? '';
    const delimiter = req.query.get('delimiter') ?? '';
    const maxKeys = Math.min(1000, Number(req.query.get('max-keys') ?? 1000));
    const after = req.query.get('continuation-token') ?? req.query.get('start-after') ?? '';
    const keys = [...objects.keys()].filter((k) => k.startsWith(prefix) && k > after).sort();
    const contents: StoredObject[] = [];
    const commonPrefixes = new Set<string>();
    let truncatedAt: string | undefined;
    for (const k of keys) {
      if (contents.length + commonPrefixes.size >= maxKeys) {
        truncatedAt = k;
        break;
      }
      const rest = k.slice(prefix.length);
      const cut = delimiter ? rest.indexOf(delimiter) : -1;
      if (cut >= 0) commonPrefixes.add(prefix + rest.slice(0, cut + delimiter.length));
      else contents.push(objects.get(k)!);
    }
    const last = contents.length ? contents[contents.length - 1].key : undefined;
    const items = contents
      .map(
        (o) =>
          `<Contents><Key>${xmlEscape(o.key)}</Key><LastModified>${new Date(o.lastModified).toISOString()}</LastModified><ETag>&quot;${md5Hex(o.bytes)}&quot;</ETag><Size>${o.bytes.length}</Size><StorageClass>STANDARD</StorageClass></Contents>`,
      )
      .join('');
    const prefixes = [...commonPrefixes]
      .map((p) => `<CommonPrefixes><Prefix>${xmlEscape(p)}</Prefix></CommonPrefixes>`)
      .join('');
    const v2 = req.query.get('list-type') === '2';
    const next =
      truncatedAt && last
        ? v2
          ? `<NextContinuationToken>${xmlEscape(last)}</NextContinuationToken>`
          : `<NextMarker>${xmlEscape(last)}</NextMarker>`
        : '';
    return xml(
      `<ListBucketResult xmlns="${XMLNS}"><Name>${xmlEscape(bucketName)}</Name><Prefix>${xmlEscape(prefix)}</Prefix>` +
        (delimiter ? `<Delimiter>${xmlEscape(delimiter)}</Delimiter>` : '') +
        (v2 ? `<KeyCount>${contents.length + commonPrefixes.size}</KeyCount>` : '') +
        `<MaxKeys>${maxKeys}</MaxKeys><IsTruncated>${truncatedAt ? 'true' : 'false'}</IsTruncated>${next}${items}${prefixes}</ListBucketResult>`,
    );
  }

  private listBuckets(): EmulatorResponse {
    const items = [...this.buckets.entries()]
      .map(
        ([name, b]) =>
          `<Bucket><Name>${xmlEscape(name)}</Name><CreationDate>${new Date(b.createdAt).toISOString()}</CreationDate></Bucket>`,
      )
      .join('');
    return xml(
      `<ListAllMyBucketsResult xmlns="${XMLNS}"><Owner><ID>emulator</ID><DisplayName>emulator</DisplayName></Owner><Buckets>${items}</Buckets></ListAllMyBucketsResult>`,
    );
  }

  private store(name: string): Map<string, StoredObject> {
    const b = this.buckets.get(name);
    if (!b) throw new EmulatorError('NoSuchBucket', 'The specified bucket does not exist', 404);
    return b.objects;
  }
}

function view(o: StoredObject): S3ObjectView {
  return {
    key: o.key,
    body: o.bytes.toString('utf8'),
    contentType: o.contentType,
    lastModified: o.lastModified,
    size: o.bytes.length,
    etag: `"${md5Hex(o.bytes)}"`,
    metadata: { ...o.metadata },
  };
}
