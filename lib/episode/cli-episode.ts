import { join } from 'node:path';
import type { EngineEvent } from '../execute/executor';
import { RememberedFacts, rememberFacts } from '../discovery/inventory';
import { EpisodeState, Journal, JournalFs, JournalOptions, JournalStep, ReportRecord } from './journal';
import { Logger } from '../log';
import { TerminationNotice } from '../notice';

/**
 * The journal of a hand-run `teardownd teardown`, so a run killed mid-way (kill -9, a lost SSH
 * session) is finished by the next run instead of forgotten: once an ENI is detached it is no longer
 * "attached here", and after `DeleteSubnet` the CIDR no longer "holds the loxilb subnet" — only the
 * record of what discovery found before the first change still names them.
 *
 * It is the daemon's journal format (lib/episode/journal.ts) in its own directory, `<stateDir>/cli/episodes/`:
 * the daemon resumes every unfinished episode it finds in `<stateDir>/episodes/` as a termination of
 * its host, and a hand-run teardown that was interrupted is not one.
 *
 * An unfinished CLI episode of the same instance is resumed by the next real (not dry-run) run, with
 * its episode id and its record; a dry-run reads the record and writes nothing. The journal serves the
 * teardown and never gates it: a state dir that cannot be read or written is logged and the run goes
 * on from what AWS shows.
 *
 * The caller holds the state-dir lock (lib/episode/state-dir.ts) around this: a CLI teardown during a `run`
 * refuses before it opens anything here, and two CLI runs never share an episode file.
 */

export interface CliEpisode {
  episode: string;
  /** An interrupted run of this instance is being finished. */
  resumed: boolean;
  remembered?: RememberedFacts;
  /** The engine's event sink: journals the gate, the discovery record (awaited) and each action. */
  onEvent(event: EngineEvent): Promise<void>;
  /** Journals the report and closes this episode (and any older unfinished one of the instance). */
  close(report: ReportRecord): Promise<void>;
}

export interface OpenCliEpisodeOptions {
  stateDir: string;
  instanceId: string;
  bootId: string;
  notice: TerminationNotice;
  dryRun: boolean;
  /** A fresh episode id, when none is resumed. */
  newEpisode: () => string;
  logger: Logger;
  fs?: JournalFs;
  /** false: the state dir cannot be written (lib/episode/state-dir.ts memory mode): nothing is read or kept. */
  persist?: boolean;
  now: () => string;
}

/** Where the CLI keeps its episodes: `<stateDir>/cli/episodes/`. */
export function cliJournal(stateDir: string, fs?: JournalFs, options?: JournalOptions): Journal {
  return new Journal(join(stateDir, 'cli'), fs, options);
}

export async function openCliEpisode(opts: OpenCliEpisodeOptions): Promise<CliEpisode> {
  const { logger, instanceId } = opts;
  const log = { instanceId, stage: 'journal' };
  const journal = cliJournal(opts.stateDir, opts.fs, { persist: opts.persist ?? true, logger });
  let unfinished: EpisodeState[] = [];
  let writable = !opts.dryRun && (opts.persist ?? true);
  try {
    const loaded = await journal.load();
    for (const u of loaded.unreadable) {
      logger.warn('CLI journal file unreadable; ignoring it', { ...log, resource: u.file, error: u.error });
    }
    unfinished = unfinishedOf(loaded.episodes, instanceId);
  } catch (err) {
    writable = false;
    logger.warn('cannot read the CLI journal; going on without it (an interrupted run will not be resumed)', {
      ...log,
      resource: journal.dir,
      error: (err as Error).message,
    });
  }
  const latest = unfinished[unfinished.length - 1];
  const remembered = recordOf(unfinished);
  const episode = latest && !opts.dryRun ? latest.episode : opts.newEpisode();

  const append = async (step: JournalStep, ep = episode): Promise<void> => {
    if (!writable) return;
    try {
      await journal.append(ep, step);
    } catch (err) {
      writable = false;
      logger.warn('cannot write the CLI journal; going on without it', {
        ...log,
        episode,
        resource: journal.dir,
        error: (err as Error).message,
      });
    }
  };

  if (latest && !opts.dryRun) {
    logger.info('resuming an interrupted teardown from the CLI journal', {
      ...log,
      episode,
      openedAt: latest.openedAt,
      actionsFinished: latest.actionsFinished.length,
      remembered,
    });
    await append({ type: 'notice', at: opts.now(), notice: opts.notice });
  } else {
    await append({
      type: 'opened',
      at: opts.now(),
      episode,
      instanceId,
      bootId: opts.bootId,
      dryRun: opts.dryRun,
      notice: opts.notice,
    });
  }
  await append({ type: 'teardown-started', at: opts.now(), deadlineAt: null });

  return {
    episode,
    resumed: !!latest && !opts.dryRun,
    remembered,
    async onEvent(event) {
      if (event.type === 'discovered')
        await append({ type: 'discovered', at: opts.now(), facts: event.facts });
      else if (event.type === 'gate-decided') {
        const { type: _type, ...decision } = event;
        await append({ type: 'gate', at: opts.now(), decision });
      } else if (event.type === 'action-finished') await append({ type: 'action', at: opts.now(), event });
    },
    async close(report) {
      await append({ type: 'report', at: opts.now(), report });
      await append({ type: 'closed', at: opts.now() });
      if (opts.dryRun) return;
      for (const e of unfinished) {
        if (e.episode !== episode) await append({ type: 'closed', at: opts.now() }, e.episode);
      }
      if (writable) await journal.prune(50).catch(() => undefined);
    },
  };
}

/** Unfinished real runs of this instance, oldest first. */
function unfinishedOf(episodes: EpisodeState[], instanceId: string): EpisodeState[] {
  return episodes
    .filter((e) => e.instanceId === instanceId && !e.closed && !e.dryRun)
    .sort((a, b) => a.openedAt.localeCompare(b.openedAt));
}

/** What the unfinished runs discovered, together. */
function recordOf(unfinished: EpisodeState[]): RememberedFacts | undefined {
  let out: RememberedFacts | undefined;
  for (const e of unfinished) {
    const facts = (e.discovered as RememberedFacts | undefined) ?? {
      ownEniIds: [],
      subnetIds: [],
      routeTableIds: [],
    };
    out = rememberFacts(out, facts);
  }
  return out;
}

/**
 * Read-only: the record an interrupted CLI run left (for `plan`, so it shows what the next real run
 * would do). Undefined when there is none or the journal cannot be read.
 */
export async function readCliRecord(
  stateDir: string,
  instanceId: string,
): Promise<RememberedFacts | undefined> {
  try {
    return recordOf(unfinishedOf((await cliJournal(stateDir).load()).episodes, instanceId));
  } catch {
    return undefined;
  }
}
