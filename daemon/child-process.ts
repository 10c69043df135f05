import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Clock } from '../lib/clock';
import { Logger } from '../lib/log';

/**
 * Work the daemon hands to a short-lived copy of itself (`teardownd sweep --for-member …`): the
 * periodic sweep and the ownership marking need the EC2 client, which costs more memory than the
 * whole daemon at rest; in a child that memory goes back when the child exits.
 *
 * The child's log lines (JSON, one a line) are passed on whole to the daemon's stdout, so journald
 * sees one stream and a line of the child never tears a line of the daemon. Its stderr is passed on
 * as it comes. SIGTERM/SIGINT of the daemon reach the child through `signal`: it is sent SIGTERM
 * (it ends its AWS calls on it), and SIGKILL if it has not exited `killAfterMs` later.
 */
export interface ChildRunOptions {
  /** This program as the daemon was started: executable and script (none in a single executable). */
  command: string[];
  args: string[];
  logger: Logger;
  clock: Clock;
  /** For logs (`stage`). */
  stage: string;
  signal?: AbortSignal;
  killAfterMs?: number;
  /** Where the child's log lines go (default process.stdout). */
  stdout?: NodeJS.WritableStream;
  /** Messages the child sends over an IPC channel (opened only when this is given). */
  onMessage?: (message: unknown) => void;
}

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  durationMs: number;
}

export function runChild(opts: ChildRunOptions): Promise<ChildExit> {
  const { command, args, logger, clock, stage } = opts;
  const started = clock.now();
  const out = opts.stdout ?? process.stdout;
  return new Promise<ChildExit>((resolve) => {
    const child = spawn(command[0], [...command.slice(1), ...args], {
      stdio: opts.onMessage ? ['ignore', 'pipe', 'inherit', 'ipc'] : ['ignore', 'pipe', 'inherit'],
      env: process.env,
    });
    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), opts.killAfterMs ?? 10000);
      killTimer.unref();
    };
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.onMessage) child.on('message', opts.onMessage);
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => out.write(`${line}\n`));
    const closed = new Promise<void>((r) => lines.once('close', r));
    let settled = false;
    const settle = (code: number | null, sig: NodeJS.Signals | null, spawnError?: Error) => {
      if (settled) return;
      settled = true;
      opts.signal?.removeEventListener('abort', onAbort);
      if (killTimer) clearTimeout(killTimer);
      if (spawnError) {
        logger.error(`${stage}: could not start a child process`, {
          stage,
          error: spawnError.message,
          command: command.join(' '),
        });
      }
      resolve({ code, signal: sig, durationMs: clock.now() - started });
    };
    // A child that cannot start has no exit code; one that ran ends once its last line is passed on.
    child.once('error', (err) => settle(null, null, err));
    child.once('close', (code, sig) => void closed.then(() => settle(code, sig)));
  });
}
