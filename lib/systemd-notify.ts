import { spawn as nodeSpawn } from 'node:child_process';

/**
 * sd_notify for Node. Node has no unix datagram sockets, so instead of writing to $NOTIFY_SOCKET
 * ourselves we run the `systemd-notify` binary, which does (and, by default, waits for PID 1 to
 * process the message, so the child exiting at once does not lose the attribution to our unit;
 * the unit sets NotifyAccess=all because the sender is not the main PID).
 *
 * Everything is a no-op when NOTIFY_SOCKET is unset (not started by systemd, or Type= is not
 * notify), and a failure to notify is reported to `onError`, never thrown: a missing
 * systemd-notify binary must not stop a teardown.
 */

export interface NotifyChild {
  on(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  kill(signal?: NodeJS.Signals): boolean;
}

export type NotifySpawn = (
  command: string,
  args: string[],
  options: { env: NodeJS.ProcessEnv; stdio: 'ignore' },
) => NotifyChild;

export interface SystemdNotifier {
  /** True when running under systemd with a notify socket. */
  readonly enabled: boolean;
  /** Half of WATCHDOG_USEC (the interval sd_watchdog_enabled(3) recommends), or undefined when no watchdog is armed for this process. */
  readonly watchdogIntervalMs: number | undefined;
  /** READY=1: start-up is complete (Type=notify waits for this). */
  ready(): Promise<void>;
  /** WATCHDOG=1: still alive. */
  watchdog(): Promise<void>;
  /** STOPPING=1: shutting down (the teardown may run for a while yet). */
  stopping(): Promise<void>;
  /** STATUS=…: one line shown by `systemctl status`. */
  status(text: string): Promise<void>;
  /**
   * Pings WATCHDOG=1 every watchdogIntervalMs until the returned function is called. The timer is
   * unref'd so it never keeps the process alive. No-op when no watchdog is armed.
   */
  startWatchdog(): () => void;
}

export interface SystemdNotifierOptions {
  /** Told when a notification could not be delivered (binary missing, non-zero exit, timeout). */
  onError?: (message: string) => void;
  /** Upper bound on one systemd-notify run; it blocks until PID 1 has read the message. */
  timeoutMs?: number;
  /** The binary; default `systemd-notify` from PATH. */
  command?: string;
}

const DEFAULT_TIMEOUT_MS = 5000;

/** sd_watchdog_enabled(3): WATCHDOG_USEC, and WATCHDOG_PID when set must be this process. */
function watchdogInterval(env: NodeJS.ProcessEnv, pid: number): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!env.WATCHDOG_USEC || !Number.isFinite(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== pid) return undefined;
  return Math.max(1, Math.floor(usec / 2000));
}

export function createSystemdNotifier(
  env: NodeJS.ProcessEnv = process.env,
  spawn: NotifySpawn = (command, args, options) => nodeSpawn(command, args, options),
  options: SystemdNotifierOptions = {},
): SystemdNotifier {
  const enabled = Boolean(env.NOTIFY_SOCKET);
  const watchdogIntervalMs = enabled ? watchdogInterval(env, process.pid) : undefined;
  const command = options.command ?? 'systemd-notify';
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const report = (message: string) => options.onError?.(message);

  function send(args: string[]): Promise<void> {
    if (!enabled) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let settled = false;
      let child: NotifyChild | undefined;
      const timer = setTimeout(() => {
        child?.kill('SIGKILL');
        done(`no answer within ${timeoutMs} ms`);
      }, timeoutMs);
      timer.unref();
      const done = (problem?: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (problem) report(`${command} ${args.join(' ')}: ${problem}`);
        resolve();
      };
      try {
        child = spawn(command, args, { env, stdio: 'ignore' });
      } catch (err) {
        done((err as Error).message);
        return;
      }
      child.on('error', (err) => done(err.message));
      child.on('exit', (code, signal) =>
        done(code === 0 ? undefined : `exited with ${code ?? signal ?? 'unknown status'}`),
      );
    });
  }

  return {
    enabled,
    watchdogIntervalMs,
    ready: () => send(['--ready']),
    watchdog: () => send(['WATCHDOG=1']),
    stopping: () => send(['STOPPING=1']),
    status: (text) => send([`STATUS=${text.replace(/\s+/g, ' ').trim()}`]),
    startWatchdog() {
      if (watchdogIntervalMs === undefined) return () => undefined;
      const timer = setInterval(() => void send(['WATCHDOG=1']), watchdogIntervalMs);
      timer.unref();
      return () => clearInterval(timer);
    },
  };
}
