import * as nodeFs from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { checkDocument, isoTime, parseDocumentText } from '../report/document-schema';
import { writeJsonAtomic } from '../report/report';

/**
 * The sweeper's grace-period clock: when it first saw each resource that is waiting on
 * sweeper.graceMs (an unattached loxilb ENI with no owner tag; a shared resource of a cluster that
 * looks gone). EC2 reports no creation time for an ENI (only Attachment.AttachTime, while attached),
 * so "older than the grace period" has to be "seen so for that long across sweeps".
 *
 * Kept in a local file under config.stateDir rather than in a `teardownd:first-seen` tag: stamping a
 * tag is a CreateTags call, i.e. a mutating call, which report mode must never make, and an extra
 * write on resources another host may be creating at that very moment. The cost: each host keeps its
 * own clock, so a newly started host waits a full grace period before its sweeper calls such a
 * resource an orphan — later, never sooner, which is the safe side. A record is dropped as soon as
 * the resource stops waiting (attached, owner tag written, gone), so the clock restarts if it waits
 * again. A lost or unreadable file only restarts the clocks.
 *
 * File: `<stateDir>/sweeper-first-seen.json`
 *   { "schemaVersion": 1, "regions": { "<region>": { "<resource id>": { "kind": "eni", "firstSeenAt": "<ISO 8601>" } } } }
 */

export const FIRST_SEEN_FILE = 'sweeper-first-seen.json';

export const FirstSeenRecordSchema = z.object({
  kind: z.string(),
  /** ISO 8601. */
  firstSeenAt: isoTime,
});
export type FirstSeenRecord = z.infer<typeof FirstSeenRecordSchema>;

/**
 * Records are checked one by one (FirstSeenRecordSchema) when a region is loaded: a bad record
 * restarts its own clock, not every clock in the file.
 */
const FirstSeenFileSchema = z.object({
  schemaVersion: z.literal(1),
  regions: z.record(z.string(), z.record(z.string(), z.unknown())),
});
type FileShape = z.infer<typeof FirstSeenFileSchema>;

export interface FirstSeenFs {
  readFile(path: string, encoding: 'utf8'): Promise<string>;
  mkdir(path: string, opts: { recursive: true; mode: number }): Promise<unknown>;
  writeFile(path: string, data: string, opts: { mode: number }): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  rm(path: string, opts: { force: true }): Promise<void>;
}

export interface FirstSeenLoad {
  /** Resource id → epoch ms. */
  firstSeen: Record<string, number>;
  /** Set when the file could not be used (the clocks restart). */
  warning?: string;
}

export class FirstSeenStore {
  readonly path: string;

  constructor(
    readonly stateDir: string,
    private readonly fs: FirstSeenFs = nodeFs,
  ) {
    this.path = join(stateDir, FIRST_SEEN_FILE);
  }

  private async readAll(): Promise<{ data: FileShape; warning?: string }> {
    const empty: FileShape = { schemaVersion: 1, regions: {} };
    let text: string;
    try {
      text = await this.fs.readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { data: empty };
      return {
        data: empty,
        warning: `cannot read ${this.path} (${(err as Error).message}): grace clocks restart`,
      };
    }
    try {
      return { data: parseDocumentText(FirstSeenFileSchema, text, this.path, 'a sweeper state file') };
    } catch (err) {
      return { data: empty, warning: `${(err as Error).message}: grace clocks restart` };
    }
  }

  async load(region: string): Promise<FirstSeenLoad> {
    const { data, warning } = await this.readAll();
    const firstSeen: Record<string, number> = {};
    const bad: string[] = [];
    for (const [id, raw] of Object.entries(data.regions[region] ?? {})) {
      const rec = checkDocument(FirstSeenRecordSchema, raw);
      if (rec.ok) firstSeen[id] = Date.parse(rec.value.firstSeenAt);
      else bad.push(`${id} (${rec.problems.join('; ')})`);
    }
    const warnings = [
      warning,
      bad.length ? `${this.path}: unreadable record in regions.${region} for ${bad.join(', ')}` : undefined,
    ];
    const w = warnings.filter(Boolean).join('; ');
    return w ? { firstSeen, warning: w } : { firstSeen };
  }

  /** Replaces the region's records (other regions are kept). Atomic: temp file, then rename. */
  async save(region: string, records: Record<string, { kind: string; firstSeenMs: number }>): Promise<void> {
    const { data } = await this.readAll();
    const out: Record<string, FirstSeenRecord> = {};
    for (const id of Object.keys(records).sort()) {
      out[id] = { kind: records[id].kind, firstSeenAt: new Date(records[id].firstSeenMs).toISOString() };
    }
    if (Object.keys(out).length) data.regions[region] = out;
    else delete data.regions[region];
    await writeJsonAtomic(this.stateDir, FIRST_SEEN_FILE, data, this.fs);
  }
}
