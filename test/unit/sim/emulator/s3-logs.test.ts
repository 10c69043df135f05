import {
  CloudWatchLogsClient,
  CreateLogGroupCommand,
  CreateLogStreamCommand,
  DescribeLogStreamsCommand,
  FilterLogEventsCommand,
  GetLogEventsCommand,
  PutLogEventsCommand,
} from '@aws-sdk/client-cloudwatch-logs';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { AwsEmulator } from '../../../../sim/emulator/server';

/** S3 (path-style REST) and CloudWatch Logs (JSON 1.1): enough to prove a report arrives. */
let emulator: AwsEmulator;
const creds = { accessKeyId: 'x', secretAccessKey: 'y' };

beforeEach(async () => {
  emulator = await AwsEmulator.start();
});
afterEach(async () => {
  await emulator.stop();
});

describe('S3', () => {
  let s3: S3Client;
  beforeEach(() => {
    s3 = new S3Client({ region: 'us-east-1', endpoint: emulator.url, credentials: creds, maxAttempts: 1 });
  });
  afterEach(() => s3.destroy());

  it('the SDK addresses an IP endpoint path-style, also when the endpoint comes from AWS_ENDPOINT_URL', async () => {
    const saved = process.env.AWS_ENDPOINT_URL;
    process.env.AWS_ENDPOINT_URL = emulator.url;
    const fromEnv = new S3Client({ region: 'us-east-1', credentials: creds, maxAttempts: 1 });
    try {
      await fromEnv.send(new CreateBucketCommand({ Bucket: 'reports' }));
      await fromEnv.send(new PutObjectCommand({ Bucket: 'reports', Key: 'teardownd/a b.json', Body: '{}' }));
    } finally {
      fromEnv.destroy();
      if (saved === undefined) delete process.env.AWS_ENDPOINT_URL;
      else process.env.AWS_ENDPOINT_URL = saved;
    }
    expect(emulator.calls.of('s3').map((c) => [c.action, c.params.path])).toEqual([
      ['CreateBucket', '/reports/'],
      ['PutObject', '/reports/teardownd/a%20b.json'],
    ]);
    expect(emulator.s3.objects('reports').map((o) => o.key)).toEqual(['teardownd/a b.json']);
  });

  it('PutObject, GetObject and HeadObject round-trip body, content type, ETag and metadata', async () => {
    emulator.s3.createBucket('reports');
    const body = JSON.stringify({ episode: 'ep-1', note: 'ünïcödé' });
    const put = await s3.send(
      new PutObjectCommand({
        Bucket: 'reports',
        Key: 'teardownd/i-1/ep-1.json',
        Body: body,
        ContentType: 'application/json',
        Metadata: { instance: 'i-1' },
      }),
    );
    expect(put.ETag).toMatch(/^"[0-9a-f]{32}"$/);
    const got = await s3.send(new GetObjectCommand({ Bucket: 'reports', Key: 'teardownd/i-1/ep-1.json' }));
    expect(await got.Body!.transformToString()).toBe(body);
    expect(got).toMatchObject({
      ContentType: 'application/json',
      ETag: put.ETag,
      Metadata: { instance: 'i-1' },
    });
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'reports', Key: 'teardownd/i-1/ep-1.json' }));
    expect(head.ContentLength).toBe(Buffer.byteLength(body));
    expect(emulator.s3.object('reports', 'teardownd/i-1/ep-1.json')).toMatchObject({
      body,
      contentType: 'application/json',
      size: Buffer.byteLength(body),
      metadata: { instance: 'i-1' },
    });
  });

  it('ListObjectsV2 filters by prefix and groups by delimiter', async () => {
    emulator.s3.createBucket('reports');
    for (const key of [
      'teardownd/i-1/a.json',
      'teardownd/i-1/b.json',
      'teardownd/i-2/c.json',
      'other/x.json',
    ]) {
      emulator.s3.putObject('reports', key, key);
    }
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: 'reports', Prefix: 'teardownd/i-1/' }));
    expect(listed.Contents!.map((c) => [c.Key, c.Size])).toEqual([
      ['teardownd/i-1/a.json', 20],
      ['teardownd/i-1/b.json', 20],
    ]);
    expect(listed.KeyCount).toBe(2);
    const grouped = await s3.send(
      new ListObjectsV2Command({ Bucket: 'reports', Prefix: 'teardownd/', Delimiter: '/' }),
    );
    expect(grouped.CommonPrefixes!.map((p) => p.Prefix)).toEqual(['teardownd/i-1/', 'teardownd/i-2/']);
    expect(grouped.Contents ?? []).toEqual([]);
  });

  it('a missing bucket is NoSuchBucket; a missing key NoSuchKey (NotFound for HEAD)', async () => {
    await expect(
      s3.send(new PutObjectCommand({ Bucket: 'nowhere', Key: 'k', Body: 'x' })),
    ).rejects.toMatchObject({ name: 'NoSuchBucket', $metadata: { httpStatusCode: 404 } });
    emulator.s3.createBucket('reports');
    await expect(s3.send(new GetObjectCommand({ Bucket: 'reports', Key: 'nope' }))).rejects.toMatchObject({
      name: 'NoSuchKey',
    });
    await expect(s3.send(new HeadObjectCommand({ Bucket: 'reports', Key: 'nope' }))).rejects.toMatchObject({
      name: 'NotFound',
      $metadata: { httpStatusCode: 404 },
    });
    expect(emulator.s3.objects('reports')).toEqual([]);
  });
});

describe('CloudWatch Logs', () => {
  let logs: CloudWatchLogsClient;
  const group = '/teardownd';
  const stream = 'teardownd/i-1';
  beforeEach(() => {
    logs = new CloudWatchLogsClient({
      region: 'us-east-1',
      endpoint: emulator.url,
      credentials: creds,
      maxAttempts: 1,
    });
  });
  afterEach(() => logs.destroy());

  it('CreateLogGroup/CreateLogStream, then PutLogEvents without a sequence token, read back with GetLogEvents', async () => {
    await logs.send(new CreateLogGroupCommand({ logGroupName: group }));
    await expect(logs.send(new CreateLogGroupCommand({ logGroupName: group }))).rejects.toMatchObject({
      name: 'ResourceAlreadyExistsException',
    });
    await logs.send(new CreateLogStreamCommand({ logGroupName: group, logStreamName: stream }));
    await expect(
      logs.send(new CreateLogStreamCommand({ logGroupName: group, logStreamName: stream })),
    ).rejects.toMatchObject({ name: 'ResourceAlreadyExistsException' });
    const t = Date.now();
    for (const batch of [['episode opened', 'teardown started'], ['report written']]) {
      await logs.send(
        new PutLogEventsCommand({
          logGroupName: group,
          logStreamName: stream,
          logEvents: batch.map((message, i) => ({ timestamp: t + i, message })),
        }),
      );
    }
    const got = await logs.send(
      new GetLogEventsCommand({ logGroupName: group, logStreamName: stream, startFromHead: true }),
    );
    expect(got.events!.map((e) => e.message)).toEqual([
      'episode opened',
      'teardown started',
      'report written',
    ]);
    expect(got.events![0].ingestionTime).toBeGreaterThanOrEqual(t);
    expect(emulator.logs.events(group, stream).map((e) => e.message)).toEqual([
      'episode opened',
      'teardown started',
      'report written',
    ]);
    const streams = await logs.send(new DescribeLogStreamsCommand({ logGroupName: group }));
    expect(streams.logStreams).toEqual([
      expect.objectContaining({ logStreamName: stream, firstEventTimestamp: t, lastEventTimestamp: t }),
    ]);
  });

  it('FilterLogEvents finds events across streams by a plain pattern', async () => {
    emulator.logs.createLogStream(group, 'teardownd/i-1');
    emulator.logs.createLogStream(group, 'teardownd/i-2');
    const t = Date.now();
    for (const [s, message] of [
      ['teardownd/i-1', 'stage done eip'],
      ['teardownd/i-2', 'stage failed subnet'],
      ['teardownd/i-2', 'stage done eni'],
    ]) {
      await logs.send(
        new PutLogEventsCommand({
          logGroupName: group,
          logStreamName: s,
          logEvents: [{ timestamp: t, message }],
        }),
      );
    }
    const found = await logs.send(new FilterLogEventsCommand({ logGroupName: group, filterPattern: 'done' }));
    expect(found.events!.map((e) => [e.logStreamName, e.message])).toEqual([
      ['teardownd/i-1', 'stage done eip'],
      ['teardownd/i-2', 'stage done eni'],
    ]);
  });

  it('unknown group or stream → ResourceNotFoundException; out-of-order events are refused; too-old ones rejected', async () => {
    await expect(
      logs.send(new CreateLogStreamCommand({ logGroupName: '/missing', logStreamName: 's' })),
    ).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    emulator.logs.createLogGroup(group);
    const put = (logEvents: Array<{ timestamp: number; message: string }>) =>
      logs.send(new PutLogEventsCommand({ logGroupName: group, logStreamName: stream, logEvents }));
    await expect(put([{ timestamp: Date.now(), message: 'x' }])).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
    });
    emulator.logs.createLogStream(group, stream);
    const now = Date.now();
    await expect(
      put([
        { timestamp: now, message: 'b' },
        { timestamp: now - 1000, message: 'a' },
      ]),
    ).rejects.toMatchObject({ name: 'InvalidParameterException' });
    const partly = await put([
      { timestamp: now - 15 * 24 * 3600 * 1000, message: 'ancient' },
      { timestamp: now, message: 'fresh' },
    ]);
    expect(partly.rejectedLogEventsInfo).toEqual({ tooOldLogEventEndIndex: 1 });
    expect(emulator.logs.events(group).map((e) => e.message)).toEqual(['fresh']);
  });
});
