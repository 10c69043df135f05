import { mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { systemClock } from '../../../lib/clock';
import { parseConfig } from '../../../lib/config/load';
import { nullLogger } from '../../../lib/log';
import { parseS3Url, readReport, ReportSourceError } from '../../../lib/report/source';

const fixtureText = readFileSync(join(__dirname, '../../fixtures/reports/left-behind.json'), 'utf8');
const fixture = JSON.parse(fixtureText) as Record<string, unknown>;

function withEpisode(episode: string, finishedAt: string): string {
  return JSON.stringify({ ...fixture, episode, finishedAt });
}

async function sourceError(p: Promise<unknown>): Promise<ReportSourceError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ReportSourceError);
    return err as ReportSourceError;
  }
  throw new Error('expected a ReportSourceError');
}

describe('report source', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'teardownd-report-source-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reads and validates a report file', async () => {
    const file = join(dir, 'r.json');
    writeFileSync(file, fixtureText);
    const { report, origin } = await readReport(file);
    expect(origin).toBe(file);
    expect(report.instanceId).toBe('i-0a1b2c3d4e5f60718');
    expect(report.leftBehind).toHaveLength(2);
  });

  it('from a directory, picks the report that finished last, not the last file name or write', async () => {
    writeFileSync(join(dir, 'b.json'), withEpisode('older', '2024-05-01T10:00:00Z'));
    writeFileSync(join(dir, 'a.json'), withEpisode('newest', '2024-05-02T10:00:00Z'));
    writeFileSync(join(dir, 'c.json'), withEpisode('middle', '2024-05-01T11:00:00Z'));
    writeFileSync(join(dir, 'notes.txt'), 'not a report');
    const { report, origin } = await readReport(dir);
    expect(report.episode).toBe('newest');
    expect(origin).toBe(join(dir, 'a.json'));
  });

  it('a newest file without a readable finishedAt is ranked by mtime, and its error is shown', async () => {
    writeFileSync(join(dir, 'good.json'), withEpisode('good', '2024-05-01T10:00:00Z'));
    utimesSync(join(dir, 'good.json'), new Date('2024-05-01T10:00:00Z'), new Date('2024-05-01T10:00:00Z'));
    writeFileSync(join(dir, 'broken.json'), '{"schemaVersion": 1,');
    const err = await sourceError(readReport(dir));
    expect(err.message).toContain(join(dir, 'broken.json'));
    expect(err.message).toMatch(/not valid JSON/);
    // The parser's own message would quote the file's first bytes.
    expect(err.message).not.toContain('schemaVersion');
  });

  it('an empty directory, a missing path and a non-report name what is wrong', async () => {
    expect((await sourceError(readReport(dir))).message).toMatch(/no report \(\*\.json\)/);
    const missing = join(dir, 'nope.json');
    expect((await sourceError(readReport(missing))).message).toBe(`${missing}: no such file or directory`);
    const wrong = join(dir, 'wrong.json');
    writeFileSync(
      wrong,
      JSON.stringify({ ...fixture, actions: [{ ...(fixture.actions as object[])[0], outcome: 'exploded' }] }),
    );
    const err = await sourceError(readReport(wrong));
    expect(err.message).toContain(`${wrong} is not a teardownd report`);
    expect(err.message).toMatch(/actions\.0\.outcome/);
    expect(err.location).toBe(wrong);
  });

  it('rejects a report of an unknown schema version by field name', async () => {
    const file = join(dir, 'v2.json');
    writeFileSync(file, JSON.stringify({ ...fixture, schemaVersion: 2 }));
    expect((await sourceError(readReport(file))).message).toMatch(/schemaVersion/);
  });

  it('parses s3:// URLs and refuses ones that name no object', () => {
    expect(parseS3Url('s3://bucket/a/b/c.json')).toEqual({ bucket: 'bucket', key: 'a/b/c.json' });
    expect(parseS3Url('/var/lib/teardownd/reports')).toBeNull();
    expect(() => parseS3Url('s3://bucket/teardownd/i-1/')).toThrow(
      /aws s3 ls s3:\/\/bucket\/teardownd\/i-1\//,
    );
    expect(() => parseS3Url('s3:///key')).toThrow(/no bucket/);
  });

  it('refuses keys with "." or ".." segments and names that are not buckets: nothing is requested', () => {
    for (const url of ['s3://b-1/../other/k.json', 's3://b-1/a/./k.json', 's3://b-1/a/..', 's3://b-1/..'])
      expect(() => parseS3Url(url)).toThrow(/must not contain "\." or "\.\." path segments/);
    for (const url of ['s3://../k.json', 's3://Bucket/k.json', 's3://a..b/k.json'])
      expect(() => parseS3Url(url)).toThrow(/is not an S3 bucket name/);
    // Dots inside a segment are an ordinary key.
    expect(parseS3Url('s3://b-1/a/..b/c..json')).toEqual({ bucket: 'b-1', key: 'a/..b/c..json' });
  });

  describe('from S3', () => {
    const s3 = mockClient(S3Client);
    beforeEach(() => s3.reset());
    const client = () => new S3Client({ region: 'us-east-1' });
    const call = { clock: systemClock, config: parseConfig({}), logger: nullLogger() };

    it('gets the object and validates it', async () => {
      s3.on(GetObjectCommand, { Bucket: 'ops', Key: 'teardownd/i-1/2024-05-01/e.json' }).resolves({
        Body: { transformToString: async () => fixtureText } as never,
      });
      const url = 's3://ops/teardownd/i-1/2024-05-01/e.json';
      const { report, origin } = await readReport(url, { s3: client, call });
      expect(origin).toBe(url);
      expect(report.episode).toBe(fixture.episode);
    });

    it('a missing object names the URL and the AWS code', async () => {
      s3.on(GetObjectCommand).rejects(
        Object.assign(new Error('The specified key does not exist.'), { name: 'NoSuchKey' }),
      );
      const err = await sourceError(readReport('s3://ops/x.json', { s3: client, call }));
      expect(err.message).toBe('s3://ops/x.json: no such object (NoSuchKey)');
    });

    it('a non-report object names the URL and the field', async () => {
      s3.on(GetObjectCommand).resolves({ Body: { transformToString: async () => '{"hello":1}' } as never });
      const err = await sourceError(readReport('s3://ops/x.json', { s3: client, call }));
      expect(err.message).toMatch(/^s3:\/\/ops\/x\.json is not a teardownd report/);
      expect(err.message).toMatch(/episode/);
    });
  });
});
