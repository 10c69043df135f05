import { randomBytes } from 'node:crypto';
import * as nodeFs from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Logger } from '../log';

/**
 * The state dir (`stateDir`, default /var/lib/teardownd) and the one lock that says which
 * teardownd process owns it. State on disk serves the teardown and never gates it:
 *
 *  - a path that exists but is not a directory is bad input: `StateDirError` (exit 2, one line);
 *  - a directory that cannot be written (read-only mount, full disk, no permission) is not an error:
 *    the caller runs in memory (`mode: 'memory'`, no lock, the journal does not survive a restart)
 *    and this module says so loudly in the log;
 *  - otherwise the lock file `<stateDir>/teardownd.lock` is taken exclusively. A second process
 *    (a unit started twice, `teardownd run` by hand next to the service, a CLI `teardown` during a
 *    `run`) gets `StateDirError` naming the holder's pid.
 *
 * A `kill -9` cannot leave the lock stale: the file records the holder's pid, the start time of
 * that pid (from /proc, so a recycled pid is not mistaken for the holder) and the kernel boot id.
 * A holder that is gone is taken over through a rename to a private name, so two processes that
 * both find the same stale lock cannot both end up holding it.
 *
 * Use:
 *   const state = await openStateDir(config.stateDir, { logger, holder: 'run' });
 *   try { … new Journal(config.stateDir, undefined, { persist: state.mode === 'disk', logger }) … }
 *   finally { await state.release(); }
 */

export type StateDirMode = 'disk' | 'memory';

export interface LockHolder {
  pid: number;
  /** The command that holds it (`run`, `teardown`). */
  command: string;
  /** ISO 8601. */
  since: string;
  /** Field 22 of /proc/<pid>/stat (clock ticks after boot), when /proc is readable. */
  startTime?: string;
  bootId?: string;
}

export interface OpenedStateDir {
  mode: StateDirMode;
  path: string;
  /** The lock this process holds (disk mode only). */
  lock?: { path: string; holder: LockHolder };
  /** Why the state dir is not used (memory mode), e.g. "EROFS: read-only file system". */
  problem?: { errorCode: string; message: string };
  /** Removes the lock if this process still holds it. Safe to call more than once. */
  release(): Promise<void>;
}

/** The state dir cannot be used at all: not a directory, or held by another live process. Exit 2. */
export class StateDirError extends Error {
  constructor(
    message: string,
    readonly path: string,
    readonly reason: 'not-a-directory' | 'locked',
    readonly holder?: LockHolder,
  ) {
    super(message);
    this.name = 'StateDirError';
  }
}

export const LOCK_FILE = 'teardownd.lock';

/** Errors that mean "this directory cannot be written" (run in memory), not "bad input". */
const UNWRITABLE = new Set(['EROFS', 'EACCES', 'EPERM', 'ENOSPC', 'EDQUOT', 'EIO']);

type Fs = Pick<
  typeof nodeFs,
  'mkdir' | 'stat' | 'writeFile' | 'link' | 'unlink' | 'readFile' | 'rename' | 'rm'
>;

export interface OpenStateDirOptions {
  logger: Logger;
  /** The command taking the lock, for the refusal message of the next one (`run`, `teardown`). */
  holder?: string;
  fs?: Fs;
  pid?: number;
  /** Whether `pid` is a live process that is still the one that wrote the lock. */
  isAlive?: (holder: LockHolder) => boolean;
  now?: () => number;
}

function codeOf(err: unknown): string {
  return (err as NodeJS.ErrnoException)?.code ?? (err as Error)?.name ?? 'Error';
}

function readProc(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Field 22 (starttime) of /proc/<pid>/stat; the command name in field 2 may hold spaces or ')'. */
export function procStartTime(pid: number, read = readProc): string | undefined {
  const stat = read(`/proc/${pid}/stat`);
  if (!stat) return undefined;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19];
}

function currentBootId(): string | undefined {
  return readProc('/proc/sys/kernel/random/boot_id');
}

/** A lock holder is alive when its pid exists, in this boot, and is still the same process. */
export function holderIsAlive(holder: LockHolder): boolean {
  const boot = currentBootId();
  if (holder.bootId && boot && holder.bootId !== boot) return false;
  try {
    process.kill(holder.pid, 0);
  } catch (err) {
    // EPERM: the pid exists but belongs to another user — alive.
    if (codeOf(err) === 'ESRCH') return false;
  }
  const started = procStartTime(holder.pid);
  return !(holder.startTime && started && started !== holder.startTime);
}

function describeHolder(h: LockHolder): string {
  return `teardownd ${h.command} (pid ${h.pid}, since ${h.since})`;
}

export async function openStateDir(path: string, options: OpenStateDirOptions): Promise<OpenedStateDir> {
  const fs = options.fs ?? nodeFs;
  const { logger } = options;
  const memory = (err: unknown, what: string): OpenedStateDir => {
    const problem = { errorCode: codeOf(err), message: (err as Error)?.message ?? String(err) };
    logger.error(
      `state dir ${path} cannot be written (${what}: ${problem.errorCode}); running in memory: no lock against a second teardownd, and the journal will not survive a restart`,
      { stage: 'state-dir', resource: path, errorCode: problem.errorCode, error: problem.message },
    );
    return { mode: 'memory', path, problem, release: async () => undefined };
  };

  try {
    const info = await fs.stat(path);
    if (!info.isDirectory()) throw notADirectory(path);
  } catch (err) {
    if (err instanceof StateDirError) throw err;
    if (codeOf(err) === 'ENOTDIR') throw notADirectory(path);
    if (codeOf(err) !== 'ENOENT') return memory(err, 'stat');
    try {
      await fs.mkdir(path, { recursive: true, mode: 0o750 });
    } catch (mkErr) {
      if (codeOf(mkErr) === 'ENOTDIR' || codeOf(mkErr) === 'EEXIST') throw notADirectory(path);
      return memory(mkErr, 'mkdir');
    }
  }

  const pid = options.pid ?? process.pid;
  const holder: LockHolder = {
    pid,
    command: options.holder ?? 'run',
    since: new Date((options.now ?? Date.now)()).toISOString(),
  };
  const startTime = procStartTime(pid);
  if (startTime) holder.startTime = startTime;
  const bootId = currentBootId();
  if (bootId) holder.bootId = bootId;
  const isAlive = options.isAlive ?? holderIsAlive;
  const lockPath = join(path, LOCK_FILE);
  const tmp = `${lockPath}.${pid}-${randomBytes(4).toString('hex')}`;

  // Written whole to a private name, then hard-linked into place: link fails if a lock exists,
  // and a reader never sees a half-written lock.
  try {
    await fs.writeFile(tmp, `${JSON.stringify(holder)}\n`, { mode: 0o640 });
  } catch (err) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    if (UNWRITABLE.has(codeOf(err))) return memory(err, 'lock file');
    throw err;
  }
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await fs.link(tmp, lockPath);
        const release = async () => {
          const now = await readHolder(fs, lockPath);
          if (now?.pid === pid && now.since === holder.since)
            await fs.unlink(lockPath).catch(() => undefined);
        };
        return { mode: 'disk', path, lock: { path: lockPath, holder }, release };
      } catch (err) {
        if (codeOf(err) !== 'EEXIST') {
          if (UNWRITABLE.has(codeOf(err))) return memory(err, 'lock file');
          throw err;
        }
      }
      const current = await readHolder(fs, lockPath);
      if (current && isAlive(current)) {
        throw new StateDirError(
          `state dir ${path} is in use by ${describeHolder(current)}; stop that process first, or give this one another stateDir`,
          path,
          'locked',
          current,
        );
      }
      await takeOverStale(fs, lockPath, current, pid, logger);
    }
    throw new StateDirError(
      `state dir ${path}: could not take the lock ${lockPath} (it kept changing hands)`,
      path,
      'locked',
    );
  } finally {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
  }
}

function notADirectory(path: string): StateDirError {
  return new StateDirError(
    `stateDir ${path} is not a directory; point stateDir at a directory (default /var/lib/teardownd)`,
    path,
    'not-a-directory',
  );
}

async function readHolder(fs: Fs, lockPath: string): Promise<LockHolder | undefined> {
  try {
    const doc = JSON.parse(await fs.readFile(lockPath, 'utf8')) as Partial<LockHolder>;
    if (typeof doc.pid !== 'number' || !Number.isInteger(doc.pid) || doc.pid <= 0) return undefined;
    return {
      pid: doc.pid,
      command: typeof doc.command === 'string' ? doc.command : '?',
      since: typeof doc.since === 'string' ? doc.since : '?',
      ...(typeof doc.startTime === 'string' ? { startTime: doc.startTime } : {}),
      ...(typeof doc.bootId === 'string' ? { bootId: doc.bootId } : {}),
    };
  } catch {
    // Gone since (the holder released it) or unreadable garbage: either way no live holder.
    return undefined;
  }
}

/**
 * Moves a dead holder's lock out of the way. The rename is the atomic step: whoever renames the
 * file owns it; if what we renamed is not the dead lock we judged (a live process took over in
 * between), it is put back with link, which never overwrites.
 */
async function takeOverStale(
  fs: Fs,
  lockPath: string,
  judged: LockHolder | undefined,
  pid: number,
  logger: Logger,
): Promise<void> {
  const aside = `${lockPath}.stale-${pid}-${randomBytes(4).toString('hex')}`;
  try {
    await fs.rename(lockPath, aside);
  } catch (err) {
    if (codeOf(err) === 'ENOENT') return;
    throw err;
  }
  const moved = await readHolder(fs, aside);
  const same =
    (moved === undefined && judged === undefined) ||
    (moved !== undefined && judged !== undefined && moved.pid === judged.pid && moved.since === judged.since);
  if (!same) await fs.link(aside, lockPath).catch(() => undefined);
  else
    logger.warn('took over the state dir lock of a process that is gone', {
      stage: 'state-dir',
      resource: lockPath,
      stalePid: judged?.pid ?? null,
    });
  await fs.unlink(aside).catch(() => undefined);
}
