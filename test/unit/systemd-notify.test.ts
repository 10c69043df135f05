import { EventEmitter } from 'node:events';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSystemdNotifier, NotifyChild, NotifySpawn } from '../../lib/systemd-notify';

interface Spawned {
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  child: FakeChild;
}

class FakeChild extends EventEmitter implements NotifyChild {
  killed?: NodeJS.Signals;
  kill(signal?: NodeJS.Signals): boolean {
    this.killed = signal;
    return true;
  }
}

/** A spawn that records each call and lets the test decide how the child ends. */
function recordingSpawn(
  behaviour: (child: FakeChild) => void = (c) => setImmediate(() => c.emit('exit', 0, null)),
) {
  const calls: Spawned[] = [];
  const spawn: NotifySpawn = (command, args, options) => {
    const child = new FakeChild();
    calls.push({ command, args, env: options.env, child });
    behaviour(child);
    return child;
  };
  return { calls, spawn };
}

const systemdEnv = { NOTIFY_SOCKET: '/run/systemd/notify' };

describe('systemd notifier', () => {
  it('does nothing at all when NOTIFY_SOCKET is unset (not started by systemd)', async () => {
    const { calls, spawn } = recordingSpawn();
    const notifier = createSystemdNotifier({ WATCHDOG_USEC: '60000000' }, spawn);
    await notifier.ready();
    await notifier.watchdog();
    await notifier.stopping();
    expect(notifier.enabled).toBe(false);
    expect(notifier.watchdogIntervalMs).toBeUndefined();
    expect(calls).toEqual([]);
  });

  it('runs systemd-notify with READY, WATCHDOG, STOPPING and STATUS, passing NOTIFY_SOCKET through', async () => {
    const { calls, spawn } = recordingSpawn();
    const notifier = createSystemdNotifier(systemdEnv, spawn);
    await notifier.ready();
    await notifier.watchdog();
    await notifier.stopping();
    await notifier.status('tearing down\n  episode e-1');
    expect(calls.map((c) => [c.command, ...c.args])).toEqual([
      ['systemd-notify', '--ready'],
      ['systemd-notify', 'WATCHDOG=1'],
      ['systemd-notify', 'STOPPING=1'],
      ['systemd-notify', 'STATUS=tearing down episode e-1'],
    ]);
    expect(calls.every((c) => c.env.NOTIFY_SOCKET === '/run/systemd/notify')).toBe(true);
  });

  it('watchdog interval is half of WATCHDOG_USEC, and only for this process', () => {
    const spawn = recordingSpawn().spawn;
    expect(
      createSystemdNotifier({ ...systemdEnv, WATCHDOG_USEC: '60000000' }, spawn).watchdogIntervalMs,
    ).toBe(30000);
    expect(
      createSystemdNotifier(
        { ...systemdEnv, WATCHDOG_USEC: '60000000', WATCHDOG_PID: String(process.pid) },
        spawn,
      ).watchdogIntervalMs,
    ).toBe(30000);
    // WATCHDOG_PID of another process (inherited env): the watchdog is not ours to feed.
    expect(
      createSystemdNotifier(
        { ...systemdEnv, WATCHDOG_USEC: '60000000', WATCHDOG_PID: String(process.pid + 1) },
        spawn,
      ).watchdogIntervalMs,
    ).toBeUndefined();
    expect(createSystemdNotifier({ ...systemdEnv }, spawn).watchdogIntervalMs).toBeUndefined();
    expect(
      createSystemdNotifier({ ...systemdEnv, WATCHDOG_USEC: 'soon' }, spawn).watchdogIntervalMs,
    ).toBeUndefined();
  });

  it('startWatchdog pings at the interval until stopped', async () => {
    jest.useFakeTimers();
    try {
      const { calls, spawn } = recordingSpawn((c) => c.emit('exit', 0, null));
      const notifier = createSystemdNotifier({ ...systemdEnv, WATCHDOG_USEC: '200000' }, spawn);
      expect(notifier.watchdogIntervalMs).toBe(100);
      const stop = notifier.startWatchdog();
      jest.advanceTimersByTime(350);
      expect(calls.map((c) => c.args)).toEqual([['WATCHDOG=1'], ['WATCHDOG=1'], ['WATCHDOG=1']]);
      stop();
      jest.advanceTimersByTime(1000);
      expect(calls).toHaveLength(3);
    } finally {
      jest.useRealTimers();
    }
  });

  it('a missing binary, a failing one or a hung one is reported, never thrown', async () => {
    const errors: string[] = [];
    const onError = (m: string) => errors.push(m);

    const missing = recordingSpawn((c) =>
      setImmediate(() =>
        c.emit('error', Object.assign(new Error('spawn systemd-notify ENOENT'), { code: 'ENOENT' })),
      ),
    );
    await createSystemdNotifier(systemdEnv, missing.spawn, { onError }).ready();

    const failing = recordingSpawn((c) => setImmediate(() => c.emit('exit', 1, null)));
    await createSystemdNotifier(systemdEnv, failing.spawn, { onError }).watchdog();

    const throwing: NotifySpawn = () => {
      throw new Error('EAGAIN');
    };
    await createSystemdNotifier(systemdEnv, throwing, { onError }).stopping();

    const hung = recordingSpawn(() => undefined);
    await createSystemdNotifier(systemdEnv, hung.spawn, { onError, timeoutMs: 20 }).ready();
    expect(hung.calls[0].child.killed).toBe('SIGKILL');

    expect(errors).toEqual([
      'systemd-notify --ready: spawn systemd-notify ENOENT',
      'systemd-notify WATCHDOG=1: exited with 1',
      'systemd-notify STOPPING=1: EAGAIN',
      'systemd-notify --ready: no answer within 20 ms',
    ]);
  });

  it('with the default spawn it really runs the binary named by `command`', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'teardownd-notify-'));
    try {
      const out = join(dir, 'out');
      const fake = join(dir, 'systemd-notify');
      // Records what it was asked and which socket it would have written to.
      writeFileSync(fake, `#!/bin/sh\necho "$NOTIFY_SOCKET $*" >> "${out}"\n`);
      chmodSync(fake, 0o755);
      const notifier = createSystemdNotifier({ ...systemdEnv, PATH: process.env.PATH }, undefined, {
        command: fake,
      });
      await notifier.ready();
      await notifier.stopping();
      expect(readFileSync(out, 'utf8')).toBe('/run/systemd/notify --ready\n/run/systemd/notify STOPPING=1\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
