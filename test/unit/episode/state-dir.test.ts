import * as fs from 'node:fs/promises';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import {
  holderIsAlive,
  LOCK_FILE,
  openStateDir,
  procStartTime,
  StateDirError,
} from '../../../lib/episode/state-dir';
import { captureLogger } from '../../helpers/log-capture';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'state-dir-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const alive = () => true;
const dead = () => false;

describe('openStateDir', () => {
  it('creates the directory 0750 and takes the lock, naming this process', async () => {
    const path = join(dir, 'state');
    const { logger } = captureLogger();
    const s = await openStateDir(path, { logger, holder: 'run', pid: 4242, isAlive: alive });
    expect(s.mode).toBe('disk');
    expect(statSync(path).mode & 0o777).toBe(0o750);
    expect(JSON.parse(readFileSync(join(path, LOCK_FILE), 'utf8'))).toMatchObject({
      pid: 4242,
      command: 'run',
    });
    await s.release();
    expect(existsSync(join(path, LOCK_FILE))).toBe(false);
  });

  it('a second opener is refused while the holder lives, with its pid and command', async () => {
    const { logger } = captureLogger();
    const first = await openStateDir(dir, { logger, holder: 'run', pid: 4242, isAlive: alive });
    const err = await openStateDir(dir, { logger, holder: 'teardown', pid: 4343, isAlive: alive }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StateDirError);
    expect((err as StateDirError).reason).toBe('locked');
    expect((err as StateDirError).message).toContain('is in use by teardownd run (pid 4242');
    // The refused one did not disturb the holder's lock.
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid).toBe(4242);
    await first.release();
  });

  it("a dead holder's lock is taken over (kill -9 leaves nothing stale), and said so", async () => {
    const { logger, lines } = captureLogger();
    await openStateDir(dir, { logger, pid: 4242, isAlive: alive }); // never released: killed
    const next = await openStateDir(dir, { logger, pid: 4343, isAlive: (h) => h.pid !== 4242 });
    expect(next.mode).toBe('disk');
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid).toBe(4343);
    expect(
      lines.find((l) => l.message === 'took over the state dir lock of a process that is gone'),
    ).toMatchObject({
      stalePid: 4242,
    });
    // No leftover temp or aside files.
    expect((await fs.readdir(dir)).sort()).toEqual([LOCK_FILE]);
  });

  it('release() leaves a lock that is no longer its own', async () => {
    const { logger } = captureLogger();
    const mine = await openStateDir(dir, { logger, pid: 4242, isAlive: dead });
    const theirs = await openStateDir(dir, { logger, pid: 4343, isAlive: dead }); // judged mine dead
    await mine.release();
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid).toBe(4343);
    await theirs.release();
  });

  it('a path that is a file, or under a file, is StateDirError not-a-directory', async () => {
    const file = join(dir, 'file');
    writeFileSync(file, 'x');
    const { logger } = captureLogger();
    for (const path of [file, join(file, 'state')]) {
      const err = await openStateDir(path, { logger }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StateDirError);
      expect((err as StateDirError).message).toBe(
        `stateDir ${path} is not a directory; point stateDir at a directory (default /var/lib/teardownd)`,
      );
    }
  });

  it.each(['EROFS', 'ENOSPC', 'EACCES'])(
    'a directory that refuses writes (%s): memory mode, no lock, loudly',
    async (code) => {
      const { logger, lines } = captureLogger();
      const refusing = {
        ...fs,
        writeFile: (async () =>
          Promise.reject(Object.assign(new Error(code), { code }))) as typeof fs.writeFile,
      };
      const s = await openStateDir(dir, { logger, fs: refusing });
      expect(s).toMatchObject({ mode: 'memory', problem: { errorCode: code } });
      expect(s.lock).toBeUndefined();
      expect(lines.filter((l) => l.level === 'error')).toEqual([
        expect.objectContaining({ stage: 'state-dir', resource: dir, errorCode: code }),
      ]);
    },
  );
});

describe('procStartTime', () => {
  it('reads field 22 even when the command name holds spaces and parentheses', () => {
    const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
    const stat = `123 (node (x) y) ${fields.join(' ')}`;
    expect(procStartTime(123, () => stat)).toBe('22');
  });

  it("is this process's own start time on Linux", () => {
    if (!existsSync('/proc/self/stat')) return;
    expect(procStartTime(process.pid)).toMatch(/^\d+$/);
  });
});

describe('holderIsAlive', () => {
  const since = '2024-05-01T00:00:00.000Z';
  it('this process is alive; an exited one is not; a recycled pid (other start time) is not', () => {
    expect(holderIsAlive({ pid: process.pid, command: 'run', since })).toBe(true);
    const exited = spawnSync(process.execPath, ['-e', '0']).pid;
    expect(holderIsAlive({ pid: exited, command: 'run', since })).toBe(false);
    const started = procStartTime(process.pid);
    if (started) {
      expect(holderIsAlive({ pid: process.pid, command: 'run', since, startTime: started })).toBe(true);
      expect(holderIsAlive({ pid: process.pid, command: 'run', since, startTime: `${started}1` })).toBe(
        false,
      );
    }
  });

  it('a holder from another boot is gone', () => {
    expect(holderIsAlive({ pid: process.pid, command: 'run', since, bootId: 'another-boot' })).toBe(
      !existsSync('/proc/sys/kernel/random/boot_id'),
    );
  });
});
