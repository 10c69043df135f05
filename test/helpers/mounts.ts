import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Real disk failures for end-to-end tests. The suite runs as root, where chmod does not stop a
 * write, so a read-only directory is a read-only bind mount and a full one is a small tmpfs filled
 * to ENOSPC. Every mount is recorded and `unmountAll()` (afterEach) removes them, innermost first.
 */
export class TestMounts {
  private readonly mounted: string[] = [];

  /** `dir` (created if needed) becomes read-only: writes fail with EROFS. */
  readOnly(dir: string): string {
    mkdirSync(dir, { recursive: true });
    this.mount(['--bind', dir, dir]);
    execFileSync('mount', ['-o', 'remount,ro,bind', dir], { stdio: 'pipe' });
    return dir;
  }

  /** `dir` (created if needed) becomes a 64 KiB tmpfs filled to the last byte: writes fail with ENOSPC. */
  full(dir: string): string {
    return this.fill(this.small(dir));
  }

  /** `dir` (created if needed) becomes an empty 64 KiB tmpfs; `fill(dir)` later. */
  small(dir: string): string {
    mkdirSync(dir, { recursive: true });
    this.mount(['-t', 'tmpfs', '-o', 'size=64k,mode=0750', 'tmpfs', dir]);
    return dir;
  }

  /** Writes into `dir` until ENOSPC. */
  fill(dir: string): string {
    const fd = openSync(join(dir, 'filler'), 'w');
    const chunk = Buffer.alloc(4096, 0x61);
    try {
      for (let i = 0; i < 1024; i++) writeSync(fd, chunk);
      throw new Error(`tmpfs at ${dir} did not fill up`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
    } finally {
      closeSync(fd);
    }
    return dir;
  }

  /** Every mount goes, even when one is busy (then lazily, so the next test starts clean). */
  unmountAll(): void {
    for (const dir of this.mounted.splice(0).reverse()) {
      try {
        execFileSync('umount', [dir], { stdio: 'pipe' });
      } catch {
        execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
      }
    }
  }

  private mount(args: string[]): void {
    try {
      execFileSync('mount', args, { stdio: 'pipe' });
    } catch (err) {
      throw new Error(
        `these tests need mount(8) as root (read-only bind mounts, tmpfs): ${(err as Error).message}`,
      );
    }
    this.mounted.push(args[args.length - 1]!);
  }
}
