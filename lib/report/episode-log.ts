// winston's README way to write a transport; winston-transport is winston's own dependency (the
// `winston.transport` type export has no runtime value in winston 3).
import TransportStream from 'winston-transport';

/**
 * Keeps the log lines of each termination episode in memory so they can be shipped with the report
 * (lib/report/shipping.ts) before the host — and its root volume with the journald copy — goes
 * away. A line belongs to an episode when it carries an `episode` field (winston child loggers
 * give every line of a teardown that field).
 *
 * Memory is bounded: at most `maxLinesPerEpisode` lines and `maxBytesPerEpisode` bytes per
 * episode (oldest dropped first and counted), and at most `maxEpisodes` episodes (the episode
 * least recently written to is forgotten first: an episode nobody ships must not grow the daemon).
 */

/** One formatted log line (the JSON text the stdout transport wrote) and its time. */
export interface BufferedLogLine {
  /** Epoch ms, from the line's `timestamp` field (else the time it was buffered). */
  timestamp: number;
  message: string;
}

export interface EpisodeLines {
  /** Oldest first. */
  lines: BufferedLogLine[];
  /** Lines dropped by the caps before `take`; the shipper says so in the shipped log. */
  dropped: number;
}

export interface EpisodeLogBufferOptions extends TransportStream.TransportStreamOptions {
  maxLinesPerEpisode?: number;
  maxBytesPerEpisode?: number;
  maxEpisodes?: number;
  /** One line longer than this is cut (with a marker) before it is buffered. */
  maxLineBytes?: number;
  /** Time source for lines without a parsable timestamp. */
  now?: () => number;
}

/** winston puts the fully formatted line under this symbol (triple-beam's MESSAGE). */
const MESSAGE = Symbol.for('message');

interface EpisodeEntry {
  lines: BufferedLogLine[];
  bytes: number;
  dropped: number;
}

export class EpisodeLogBuffer extends TransportStream {
  readonly maxLinesPerEpisode: number;
  readonly maxBytesPerEpisode: number;
  readonly maxEpisodes: number;
  readonly maxLineBytes: number;
  private readonly now: () => number;
  /** Map iteration order = least recently written first (entries are re-inserted on write). */
  private readonly episodes = new Map<string, EpisodeEntry>();
  /**
   * Episodes already taken (shipped): their later lines (the shipping result, the completion) can
   * no longer be shipped by this process, so they are not kept. Bounded like `episodes`.
   */
  private readonly taken = new Set<string>();

  constructor(options: EpisodeLogBufferOptions = {}) {
    const { maxLinesPerEpisode, maxBytesPerEpisode, maxEpisodes, maxLineBytes, now, ...transport } = options;
    super(transport);
    this.maxLinesPerEpisode = maxLinesPerEpisode ?? 5000;
    this.maxBytesPerEpisode = maxBytesPerEpisode ?? 4 * 1024 * 1024;
    this.maxEpisodes = maxEpisodes ?? 8;
    this.maxLineBytes = maxLineBytes ?? 64 * 1024;
    this.now = now ?? Date.now;
  }

  override log(info: Record<string | symbol, unknown>, callback: () => void): void {
    const episode = info.episode;
    if (typeof episode === 'string' && episode.length > 0 && !this.taken.has(episode))
      this.add(episode, info);
    setImmediate(() => this.emit('logged', info));
    callback();
  }

  /**
   * Removes and returns the episode's lines (oldest first) and how many were dropped. Lines the
   * episode logs after this are not buffered.
   */
  take(episode: string): EpisodeLines {
    const entry = this.episodes.get(episode);
    this.episodes.delete(episode);
    this.taken.add(episode);
    if (this.taken.size > 64) this.taken.delete(this.taken.values().next().value as string);
    return { lines: entry?.lines ?? [], dropped: entry?.dropped ?? 0 };
  }

  /** Episodes currently buffered (least recently written first). */
  get bufferedEpisodes(): string[] {
    return [...this.episodes.keys()];
  }

  private add(episode: string, info: Record<string | symbol, unknown>): void {
    const formatted = info[MESSAGE];
    const message = truncateUtf8(
      typeof formatted === 'string' ? formatted : safeJson(info),
      this.maxLineBytes,
      '…[line truncated by teardownd]',
    );
    const parsed = typeof info.timestamp === 'string' ? Date.parse(info.timestamp) : NaN;
    const line: BufferedLogLine = { timestamp: Number.isFinite(parsed) ? parsed : this.now(), message };

    let entry = this.episodes.get(episode);
    if (entry) this.episodes.delete(episode);
    else entry = { lines: [], bytes: 0, dropped: 0 };
    this.episodes.set(episode, entry);

    entry.lines.push(line);
    entry.bytes += Buffer.byteLength(message);
    while (
      entry.lines.length > this.maxLinesPerEpisode ||
      (entry.bytes > this.maxBytesPerEpisode && entry.lines.length > 1)
    ) {
      const old = entry.lines.shift()!;
      entry.bytes -= Buffer.byteLength(old.message);
      entry.dropped += 1;
    }
    while (this.episodes.size > this.maxEpisodes) {
      const oldest = this.episodes.keys().next().value as string;
      this.episodes.delete(oldest);
    }
  }
}

function safeJson(info: Record<string | symbol, unknown>): string {
  try {
    return JSON.stringify(info);
  } catch {
    return String(info.message);
  }
}

/**
 * Cuts `text` to at most `maxBytes` UTF-8 bytes including `marker`, never in the middle of a
 * character. Returns the text unchanged when it fits.
 */
export function truncateUtf8(text: string, maxBytes: number, marker: string): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  const room = Math.max(0, maxBytes - Buffer.byteLength(marker, 'utf8'));
  let end = room;
  // Step back over UTF-8 continuation bytes (10xxxxxx) so the cut lands on a character boundary.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end -= 1;
  return bytes.subarray(0, end).toString('utf8') + marker;
}
