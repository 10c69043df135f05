import { Writable } from 'node:stream';
import { EpisodeLogBuffer, truncateUtf8 } from '../../../lib/report/episode-log';
import { createLogger } from '../../../lib/log';

function sink(): Writable {
  return new Writable({ write: (_c, _e, cb) => cb() });
}

/** winston hands lines to transports through streams: let them drain. */
const settle = () => new Promise((r) => setImmediate(r));

describe('EpisodeLogBuffer', () => {
  it("keeps an episode's lines as the logger formatted them, and only lines that carry an episode", async () => {
    const buffer = new EpisodeLogBuffer();
    const logger = createLogger({ stream: sink(), transports: [buffer] });
    const log = logger.child({ instanceId: 'i-1', episode: 'ep-1' });
    logger.info('daemon started');
    log.info('teardown started', { stage: 'plan' });
    log.warn('eni detach slow', { stage: 'eni', resource: 'eni-1' });
    logger.child({ episode: 'ep-2' }).info('another episode');
    await settle();

    const { lines, dropped } = buffer.take('ep-1');
    expect(dropped).toBe(0);
    const parsed = lines.map((l) => JSON.parse(l.message));
    expect(parsed.map((p) => p.message)).toEqual(['teardown started', 'eni detach slow']);
    expect(parsed[1]).toMatchObject({ level: 'warn', episode: 'ep-1', instanceId: 'i-1', resource: 'eni-1' });
    expect(lines[0]!.timestamp).toBe(Date.parse(parsed[0].timestamp));
    expect(buffer.take('ep-2').lines).toHaveLength(1);
  });

  it('take removes the lines, and lines the episode logs after its take are not kept', async () => {
    const buffer = new EpisodeLogBuffer();
    const logger = createLogger({ stream: sink(), transports: [buffer] });
    logger.info('x', { episode: 'ep' });
    await settle();
    expect(buffer.take('ep').lines).toHaveLength(1);
    logger.info('report shipped', { episode: 'ep' });
    await settle();
    expect(buffer.take('ep')).toEqual({ lines: [], dropped: 0 });
    expect(buffer.bufferedEpisodes).toEqual([]);
  });

  it('caps lines per episode, dropping the oldest and counting them', async () => {
    const buffer = new EpisodeLogBuffer({ maxLinesPerEpisode: 3 });
    const logger = createLogger({ stream: sink(), transports: [buffer] });
    for (let i = 0; i < 5; i += 1) logger.info(`line ${i}`, { episode: 'ep' });
    await settle();
    const { lines, dropped } = buffer.take('ep');
    expect(dropped).toBe(2);
    expect(lines.map((l) => JSON.parse(l.message).message)).toEqual(['line 2', 'line 3', 'line 4']);
  });

  it('caps bytes per episode', async () => {
    const buffer = new EpisodeLogBuffer({ maxBytesPerEpisode: 1000 });
    const logger = createLogger({ stream: sink(), transports: [buffer] });
    for (let i = 0; i < 10; i += 1) logger.info('y'.repeat(300), { episode: 'ep', n: i });
    await settle();
    const { lines, dropped } = buffer.take('ep');
    expect(lines.reduce((n, l) => n + Buffer.byteLength(l.message), 0)).toBeLessThanOrEqual(1000);
    expect(dropped + lines.length).toBe(10);
    expect(JSON.parse(lines[lines.length - 1]!.message).n).toBe(9);
  });

  it('forgets the least recently written episode beyond maxEpisodes', async () => {
    const buffer = new EpisodeLogBuffer({ maxEpisodes: 2 });
    const logger = createLogger({ stream: sink(), transports: [buffer] });
    logger.info('a', { episode: 'a' });
    logger.info('b', { episode: 'b' });
    logger.info('a again', { episode: 'a' });
    logger.info('c', { episode: 'c' });
    await settle();
    expect(buffer.bufferedEpisodes.sort()).toEqual(['a', 'c']);
  });

  it('cuts one very long line with a marker instead of holding it whole', async () => {
    const buffer = new EpisodeLogBuffer({ maxLineBytes: 200 });
    const logger = createLogger({ stream: sink(), transports: [buffer] });
    logger.info('z'.repeat(5000), { episode: 'ep' });
    await settle();
    const [line] = buffer.take('ep').lines;
    expect(Buffer.byteLength(line!.message)).toBeLessThanOrEqual(200);
    expect(line!.message).toMatch(/line truncated by teardownd/);
  });
});

describe('truncateUtf8', () => {
  it('never cuts inside a multi-byte character', () => {
    for (let max = 20; max < 30; max += 1) {
      const out = truncateUtf8('€'.repeat(50), max, '…');
      expect(Buffer.byteLength(out)).toBeLessThanOrEqual(max);
      expect(out).not.toContain('\uFFFD');
      expect(out.endsWith('…')).toBe(true);
    }
  });
  it('returns text that fits unchanged', () => {
    expect(truncateUtf8('short', 100, '…')).toBe('short');
  });
});
