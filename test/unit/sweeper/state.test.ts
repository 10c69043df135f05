import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIRST_SEEN_FILE, FirstSeenStore } from '../../../lib/sweeper/state';

const T = Date.parse('2025-01-01T00:00:00.000Z');

describe('sweeper first-seen state file', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'teardownd-first-seen-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('what is saved loads back, per region, and the file keeps its documented shape', async () => {
    const store = new FirstSeenStore(dir);
    await store.save('us-east-1', {
      'eni-b': { kind: 'eni', firstSeenMs: T + 1 },
      'subnet-a': { kind: 'subnet', firstSeenMs: T },
    });
    await store.save('eu-west-1', { 'eni-x': { kind: 'eni', firstSeenMs: T - 5 } });
    expect(await new FirstSeenStore(dir).load('us-east-1')).toEqual({
      firstSeen: { 'eni-b': T + 1, 'subnet-a': T },
    });
    expect(await new FirstSeenStore(dir).load('eu-west-1')).toEqual({ firstSeen: { 'eni-x': T - 5 } });
    expect(JSON.parse(readFileSync(join(dir, FIRST_SEEN_FILE), 'utf8'))).toEqual({
      schemaVersion: 1,
      regions: {
        'us-east-1': {
          'eni-b': { kind: 'eni', firstSeenAt: '2025-01-01T00:00:00.001Z' },
          'subnet-a': { kind: 'subnet', firstSeenAt: '2025-01-01T00:00:00.000Z' },
        },
        'eu-west-1': { 'eni-x': { kind: 'eni', firstSeenAt: '2024-12-31T23:59:59.995Z' } },
      },
    });
  });

  it('a file of the wrong shape restarts the clocks with a warning naming the file and the field', async () => {
    writeFileSync(join(dir, FIRST_SEEN_FILE), JSON.stringify({ schemaVersion: 1, regions: ['us-east-1'] }));
    const loaded = await new FirstSeenStore(dir).load('us-east-1');
    expect(loaded.firstSeen).toEqual({});
    expect(loaded.warning).toContain(`${join(dir, FIRST_SEEN_FILE)} is not a sweeper state file`);
    expect(loaded.warning).toMatch(/regions: .*grace clocks restart/);
  });

  it('a bad record restarts only its own clock, and the warning names the record and its field', async () => {
    writeFileSync(
      join(dir, FIRST_SEEN_FILE),
      JSON.stringify({
        schemaVersion: 1,
        regions: {
          'us-east-1': {
            'eni-good': { kind: 'eni', firstSeenAt: '2025-01-01T00:00:00.000Z' },
            'eni-bad': { kind: 'eni', firstSeenAt: 'last tuesday' },
          },
        },
      }),
    );
    const loaded = await new FirstSeenStore(dir).load('us-east-1');
    expect(loaded.firstSeen).toEqual({ 'eni-good': T });
    expect(loaded.warning).toMatch(
      /regions\.us-east-1 for eni-bad \(firstSeenAt: must be an ISO 8601 time\)/,
    );
  });
});
