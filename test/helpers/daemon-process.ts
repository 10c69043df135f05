import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The built CLI; tests run `npm run build` first (npm test does). */
export const CLI_PATH = resolve(__dirname, '../../dist/daemon/main.js');

/**
 * How to start teardownd: the program and the arguments before the CLI's own. Default: Node on the
 * TypeScript build; the artefact tests pass the bundle (`[node, build/teardownd.cjs]`) or the single
 * executable (`[build/teardownd]`).
 */
export type Launcher = string[];
export const TS_BUILD: Launcher = [process.execPath, CLI_PATH];

export interface LogLine {
  level?: string;
  message?: string;
  [key: string]: unknown;
}

/** A temp directory with a config file; removed by cleanup(). */
export class TempWorkspace {
  readonly dir: string;
  constructor(prefix = 'teardownd-test-') {
    this.dir = mkdtempSync(join(tmpdir(), prefix));
  }
  path(...parts: string[]): string {
    return join(this.dir, ...parts);
  }
  /** Writes config.json with reports and state inside the workspace unless overridden. */
  writeConfig(config: Record<string, unknown>): string {
    const file = this.path('config.json');
    const merged: Record<string, unknown> = { stateDir: this.path('state'), ...config };
    const reports = (config.reports as Record<string, unknown> | undefined) ?? {};
    merged.reports = { dir: this.path('reports'), ...reports };
    writeFileSync(file, JSON.stringify(merged, null, 2));
    return file;
  }
  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  logs: LogLine[];
}

function parseLogs(text: string): LogLine[] {
  const out: LogLine[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t.startsWith('{')) continue;
    try {
      out.push(JSON.parse(t) as LogLine);
    } catch {
      /* not a log line (e.g. --json output split differently) */
    }
  }
  return out;
}

function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  // The child must see only the emulator, never a developer's real AWS profile.
  const base: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, NODE_NO_WARNINGS: '1' };
  return { ...base, ...env };
}

/** Runs a one-shot CLI command to completion (bounded by timeoutMs, then SIGKILL). */
export function runCli(
  args: string[],
  env: Record<string, string>,
  timeoutMs = 30000,
  launcher: Launcher = TS_BUILD,
): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(launcher[0], [...launcher.slice(1), ...args], {
      env: childEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr, logs: parseLogs(stdout) });
    });
  });
}

/**
 * A long-running daemon child (`teardownd run …`): collects its JSON log lines and lets a test
 * wait for one, always with a bound.
 */
export class DaemonProcess {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  private exited?: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters: Array<() => void> = [];

  constructor(args: string[], env: Record<string, string>, launcher: Launcher = TS_BUILD) {
    this.child = spawn(launcher[0], [...launcher.slice(1), ...args], {
      env: childEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (d: Buffer) => {
      this.stdout += d.toString();
      this.notify();
    });
    this.child.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString();
      this.notify();
    });
    this.exited = new Promise((resolvePromise) =>
      this.child.on('exit', (code, signal) => {
        resolvePromise({ code, signal });
        this.notify();
      }),
    );
  }

  get logs(): LogLine[] {
    return parseLogs(this.stdout);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Resolves with the first log line matching `predicate`; rejects after timeoutMs or if the process exits. */
  async waitForLog(
    predicate: (line: LogLine) => boolean,
    timeoutMs = 10000,
    what = 'log line',
  ): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.logs.find(predicate);
      if (hit) return hit;
      if (!this.running)
        throw new Error(
          `daemon exited before ${what}; stderr:\n${this.stderr}\nstdout tail:\n${this.stdout.slice(-3000)}`,
        );
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for ${what}; stdout tail:\n${this.stdout.slice(-3000)}\nstderr:\n${this.stderr}`,
        );
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** Polls `check` (e.g. an emulator state query) until it returns true, bounded. */
  static async until(
    check: () => boolean | Promise<boolean>,
    timeoutMs = 10000,
    what = 'condition',
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  signal(sig: NodeJS.Signals): void {
    if (this.running) this.child.kill(sig);
  }

  /** Waits for exit (bounded), SIGKILLing after timeoutMs. */
  async exit(timeoutMs = 10000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    try {
      return await this.exited!;
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGTERM, then SIGKILL if it does not stop; always safe to call in afterEach. */
  async stop(timeoutMs = 5000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    await this.exit(timeoutMs);
  }
}
