import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DEFAULT_CONFIG_PATH } from '../../lib/config/load';
import { BACKSTOP_AFTER_PROBE_MS } from '../../daemon/wiring';
import { ConfigSchema } from '../../lib/config/schema';

const repo = resolve(__dirname, '../..');
const unitPath = join(repo, 'systemd/teardownd.service');
const unitText = readFileSync(unitPath, 'utf8');

type Unit = Record<string, Record<string, string[]>>;

/** systemd's ini dialect, enough for this file: sections, repeated keys, `#`/`;` comments. */
function parseUnit(text: string): Unit {
  const unit: Unit = {};
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1];
      unit[section] ??= {};
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0) throw new Error(`not a key=value line: ${line}`);
    const key = line.slice(0, eq).trim();
    (unit[section][key] ??= []).push(line.slice(eq + 1).trim());
  }
  return unit;
}

/** Seconds of a systemd time span such as `120s`, `2min`, `1min 30s`, `90`. */
function seconds(span: string): number {
  const units: Record<string, number> = { '': 1, s: 1, sec: 1, m: 60, min: 60, h: 3600 };
  let total = 0;
  for (const part of span.trim().split(/\s+/)) {
    const m = /^(\d+)([a-z]*)$/.exec(part);
    if (!m || !(m[2] in units)) throw new Error(`unparsed time span ${span}`);
    total += Number(m[1]) * units[m[2]];
  }
  return total;
}

const unit = parseUnit(unitText);
const one = (section: string, key: string): string | undefined => unit[section]?.[key]?.at(-1);
const words = (section: string, key: string): string[] =>
  (unit[section]?.[key] ?? []).flatMap((v) => v.split(/\s+/)).filter(Boolean);

describe('systemd/teardownd.service settings', () => {
  it('starts after the network is online and so is stopped before the network goes down', () => {
    expect(words('Unit', 'Wants')).toContain('network-online.target');
    expect(words('Unit', 'After')).toEqual(
      expect.arrayContaining(['network-online.target', 'network.target']),
    );
    // …and stopped before loxilb and its container runtime, so loxilb still answers at the SIGTERM probe.
    expect(words('Unit', 'After')).toEqual(
      expect.arrayContaining(['loxilb.service', 'docker.service', 'containerd.service']),
    );
    // DefaultDependencies=no would drop the implicit Before=shutdown.target and the stop at poweroff.
    expect(one('Unit', 'DefaultDependencies') ?? 'yes').toBe('yes');
    expect(words('Install', 'WantedBy')).toContain('multi-user.target');
  });

  it('restarts always, with a delay and a start limit', () => {
    expect(one('Service', 'Restart')).toBe('always');
    expect(seconds(one('Service', 'RestartSec') ?? '0')).toBeGreaterThan(0);
    expect(Number(one('Unit', 'StartLimitBurst'))).toBeGreaterThan(1);
    expect(seconds(one('Unit', 'StartLimitIntervalSec') ?? '0')).toBeGreaterThan(
      seconds(one('Service', 'RestartSec')!) * Number(one('Unit', 'StartLimitBurst')),
    );
  });

  it('gives the shutdown-probe teardown its whole budget before SIGKILL', () => {
    const probeMs = ConfigSchema.parse({}).sources.shutdownProbe.timeoutMs;
    const stopSeconds = seconds(one('Service', 'TimeoutStopSec') ?? '0');
    // Strictly more: after the teardown the report is written and shipped and the action completed.
    expect(stopSeconds).toBeGreaterThan(probeMs / 1000);
    expect(stopSeconds * 1000 - probeMs).toBeGreaterThanOrEqual(ConfigSchema.parse({}).reports.shipTimeoutMs);
    // The daemon's own backstop (daemon/commands/run.ts) ends a hung shutdown before systemd's SIGKILL.
    expect(probeMs + BACKSTOP_AFTER_PROBE_MS).toBeLessThan(stopSeconds * 1000);
    // SIGTERM only to the daemon; the group is killed only when TimeoutStopSec runs out.
    expect(one('Service', 'KillMode')).toBe('mixed');
    expect(one('Service', 'SendSIGKILL') ?? 'yes').toBe('yes');
    // The comment must keep naming the setting it has to stay consistent with.
    expect(unitText).toMatch(/shutdownProbe\.timeoutMs/);
  });

  it('uses sd_notify readiness and a watchdog through systemd-notify', () => {
    expect(one('Service', 'Type')).toBe('notify');
    expect(one('Service', 'NotifyAccess')).toBe('all');
    expect(seconds(one('Service', 'WatchdogSec') ?? '0')).toBeGreaterThan(0);
  });

  it("runs the single executable with the operator's config, and only once that config exists", () => {
    const exec = one('Service', 'ExecStart')!.split(/\s+/);
    expect(exec).toEqual(['/usr/bin/teardownd', 'run', '--config', DEFAULT_CONFIG_PATH]);
    // The package ships config.example.json: a fresh install must not start on guesses.
    expect(one('Unit', 'ConditionPathExists')).toBe(DEFAULT_CONFIG_PATH);
    expect(unit.Service.EnvironmentFile).toEqual(['-/etc/default/teardownd']);
  });

  it('runs as its own user with its state under /var/lib/teardownd (where the config puts it)', () => {
    expect(one('Service', 'User')).toBe('teardownd');
    expect(one('Service', 'Group')).toBe('teardownd');
    expect(one('Service', 'StateDirectory')).toBe('teardownd');
    expect(one('Service', 'ConfigurationDirectory')).toBe('teardownd');
    const defaults = ConfigSchema.parse({});
    expect(defaults.stateDir).toBe('/var/lib/teardownd');
    expect(defaults.reports.dir.startsWith('/var/lib/teardownd/')).toBe(true);
    expect(DEFAULT_CONFIG_PATH.startsWith('/etc/teardownd/')).toBe(true);
  });

  it('is hardened without breaking Node', () => {
    const yes = [
      'NoNewPrivileges',
      'ProtectHome',
      'PrivateTmp',
      'PrivateDevices',
      'ProtectKernelTunables',
      'ProtectKernelModules',
      'ProtectKernelLogs',
      'ProtectControlGroups',
      'LockPersonality',
      'RestrictNamespaces',
      'RestrictRealtime',
      'RestrictSUIDSGID',
    ];
    for (const key of yes) expect([key, one('Service', key)]).toEqual([key, 'yes']);
    expect(one('Service', 'ProtectSystem')).toBe('strict');
    expect(unit.Service.CapabilityBoundingSet).toEqual(['']);
    expect(words('Service', 'RestrictAddressFamilies').sort()).toEqual(['AF_INET', 'AF_INET6', 'AF_UNIX']);
    expect(one('Service', 'SystemCallArchitectures')).toBe('native');
    // V8's JIT needs W+X pages: this setting would make Node abort at start-up.
    expect(unit.Service.MemoryDenyWriteExecute).toBeUndefined();
    // loxilb's flags are read from its /proc/<pid>/cmdline; it runs as another user (root, a container).
    expect(one('Service', 'ProtectProc')).toBe('default');
    expect(unit.Service.ProcSubset).toBeUndefined();
  });
});

function systemdAnalyzePath(): string | undefined {
  const found = spawnSync('sh', ['-c', 'command -v systemd-analyze'], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

const analyze = systemdAnalyzePath();
if (!analyze) {
  // Loud on purpose: CI (.ci/run) installs systemd, so this only happens on a bare dev machine.
  process.stderr.write(
    '\n*** systemd-analyze not found: `systemd-analyze verify systemd/teardownd.service` is SKIPPED. ' +
      'Install the systemd package to run it. ***\n\n',
  );
}

/** Verifies a copy whose ExecStart points at an executable that exists here (verify checks it). */
function verify(text: string): { status: number | null; problems: string[]; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'teardownd-unit-'));
  try {
    const copy = join(dir, 'teardownd.service');
    writeFileSync(copy, text.replace(/^ExecStart=\/usr\/bin\/teardownd /m, `ExecStart=${process.execPath} `));
    const result = spawnSync(analyze!, ['verify', '--man=no', copy], { encoding: 'utf8', timeout: 30000 });
    const output = `${result.stdout}${result.stderr}`;
    // verify exits 0 on unknown keys and unparsable values, printing a warning naming the file.
    const problems = output.split('\n').filter((l) => l.includes('teardownd.service'));
    return { status: result.status, problems, output };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

(analyze ? describe : describe.skip)('systemd-analyze verify', () => {
  it('accepts the unit with no warning about it', () => {
    const { status, problems, output } = verify(unitText);
    expect({ status, problems }).toEqual({ status: 0, problems: [] });
    expect(output).not.toMatch(/Unknown (key|section)|Failed to parse/);
  });

  it('would catch a misspelt setting (the check above is not vacuous)', () => {
    const { problems } = verify(unitText.replace(/^KillMode=mixed$/m, 'KilMode=mixed'));
    expect(problems.join('\n')).toMatch(/Unknown key 'KilMode'/);
  });
});
