import { spawnSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { packagePaths } from '../../scripts/package';
import { AwsEmulator } from '../../sim/emulator/server';
import { DaemonProcess, Launcher, runCli, TempWorkspace } from '../helpers/daemon-process';
import { decoysIntact, leftovers, LoxilbClusterIds, seedLoxilbCluster } from '../../sim/loxilb/footprint';

/**
 * The artefacts a host installs (`npm run package`, which .ci/run runs before `npm test`): the
 * bundle, the single executable with its own Node 22, and the .deb — each run as a host would run
 * it, against the emulator.
 */
const paths = packagePaths();
const built = existsSync(paths.bundle) && existsSync(paths.binary) && existsSync(paths.deb);
if (!built) {
  const message = `artefacts missing under ${paths.out}: run \`npm run package\` first (.ci/run does)`;
  // CI always builds them: there a missing artefact is a failure, not a skip.
  if (process.env.CI) throw new Error(message);
  process.stderr.write(`\n*** ${message}; the artefact tests are SKIPPED. ***\n\n`);
}
const describeBuilt = built ? describe : describe.skip;

const BUNDLE: Launcher = [process.execPath, paths.bundle];
const BINARY: Launcher = [paths.binary];

describeBuilt.each([
  ['the bundle on this Node', BUNDLE],
  ['the single executable', BINARY],
])('%s against the emulator', (_name, launcher) => {
  let emulator: AwsEmulator;
  let ws: TempWorkspace;
  let ids: LoxilbClusterIds;
  let daemon: DaemonProcess | undefined;

  beforeEach(async () => {
    emulator = await AwsEmulator.start({ ec2: { detachDelayMs: 80, cidrDisassociateDelayMs: 50 } });
    ws = new TempWorkspace();
    ids = seedLoxilbCluster(emulator);
    emulator.imds.configure({ instanceId: ids.masterInstanceId });
  });
  afterEach(async () => {
    await daemon?.stop();
    daemon = undefined;
    await emulator.stop();
    ws.cleanup();
  });

  const config = (extra: Record<string, unknown> = {}) =>
    ws.writeConfig({
      gate: { mode: 'override', override: 'full' },
      cloud: { cidrBlock: ids.cloudCidr },
      sources: { imds: { pollIntervalMs: 100, requestTimeoutMs: 500 } },
      executor: { detachPollIntervalMs: 40, retryBaseDelayMs: 20 },
      sweeper: { enabled: false },
      ...extra,
    });

  it('--help and --version answer without any AWS', async () => {
    const help = await runCli(['--help'], {}, 30000, launcher);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: teardownd/);
    for (const verb of ['run', 'plan', 'teardown', 'sweep', 'check', 'report'])
      expect(help.stdout).toContain(verb);
    const version = await runCli(['--version'], {}, 30000, launcher);
    const pkg = JSON.parse(readFileSync(join(__dirname, '../../package.json'), 'utf8')) as {
      version: string;
    };
    expect(version.stdout.trim()).toBe(pkg.version);
  });

  it('plan changes nothing; teardown removes the footprint and leaves the decoys', async () => {
    const cfg = config();
    const plan = await runCli(
      ['-c', cfg, 'plan', '--instance-id', ids.masterInstanceId, '--json'],
      emulator.env(),
      30000,
      launcher,
    );
    expect(plan.code).toBe(0);
    expect(emulator.calls.mutating()).toEqual([]);
    const planned = JSON.parse(plan.stdout) as { actions: Array<{ action: string }> };
    expect(planned.actions.map((a) => a.action)).toEqual(
      expect.arrayContaining(['DetachNetworkInterface', 'DeleteSubnet', 'DisassociateVpcCidrBlock']),
    );

    const res = await runCli(
      ['-c', cfg, 'teardown', '--instance-id', ids.masterInstanceId],
      emulator.env(),
      60000,
      launcher,
    );
    expect(res.code).toBe(0);
    expect(leftovers(emulator, ids)).toEqual([]);
    expect(decoysIntact(emulator, ids)).toEqual([]);
  });

  it('run: a spot notice in IMDS is torn down and the report written', async () => {
    daemon = new DaemonProcess(['run', '--config', config()], emulator.env(), launcher);
    await daemon.waitForLog((l) => l.message === 'ready', 30000, 'ready');
    emulator.imds.setSpotAction('terminate');
    await daemon.waitForLog((l) => l.message === 'episode closed', 60000, 'episode closed');
    expect(daemon.logs.find((l) => l.message === 'report written')?.outcome).toBe('clean');
    expect(leftovers(emulator, ids)).toEqual([]);
  });

  it('at rest the daemon holds no EC2/Auto Scaling/S3/Logs SDK code: its sweeps load it in a child; a notice loads it in the daemon', async () => {
    const file = config({
      // A report-mode sweep every second, in a child of the daemon (daemon/sweeper-service.ts).
      sweeper: { enabled: true, schedule: '* * * * * *', jitterMs: 0, mode: 'report' },
    });
    daemon = new DaemonProcess(['run', '--config', file], emulator.env(), launcher);
    const d = daemon;
    const loadedBy = (pid: number | undefined) =>
      d.logs.filter((l) => String(l.message).startsWith('loaded the AWS SDK code') && l.pid === pid);
    await d.waitForLog((l) => l.message === 'ready', 30000, 'ready');
    // The ownership marking (at start) and two sweeps ran, each in its own child.
    await DaemonProcess.until(
      () => d.logs.filter((l) => String(l.message).startsWith('sweep child exited')).length >= 2,
      60000,
      'two sweeps',
    );
    expect(
      d.logs.find((l) => l.stage === 'ownership' && String(l.message).startsWith('marked')),
    ).toBeDefined();
    expect(
      d.logs.filter((l) => String(l.message).startsWith('loaded the AWS SDK code')).length,
    ).toBeGreaterThan(0);
    expect(loadedBy(d.child.pid)).toEqual([]);

    emulator.imds.setSpotAction('terminate');
    await d.waitForLog((l) => l.message === 'episode closed', 60000, 'episode closed');
    expect(loadedBy(d.child.pid)).toHaveLength(1);
    // The single executable carries the pack's code cache, made by its own runtime under its flags.
    expect(loadedBy(d.child.pid)[0].codeCache).toBe(launcher === BINARY ? 'accepted' : 'none');
    expect(leftovers(emulator, ids)).toEqual([]);
    // Its own waits bound it (ready, two sweep children, the episode), not jest's 60 s default.
  }, 180000);
});

describeBuilt('the single executable needs no Node on the host', () => {
  it('runs with an empty environment (no PATH, so no node to find)', () => {
    const r = spawnSync(paths.binary, ['--version'], { env: {}, encoding: 'utf8', timeout: 30000 });
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
  });
});

describeBuilt('the Debian package', () => {
  const ws = new TempWorkspace('teardownd-deb-');
  afterAll(() => ws.cleanup());

  /** A dpkg database of its own, so the package installs into a temp root without touching the host. */
  function emptyRoot(name: string): string {
    const root = ws.path(name);
    mkdirSync(join(root, 'var/lib/dpkg/info'), { recursive: true });
    mkdirSync(join(root, 'var/lib/dpkg/updates'), { recursive: true });
    writeFileSync(join(root, 'var/lib/dpkg/status'), '');
    return root;
  }
  // The temp root has no adduser or libc in its dpkg database: --force-depends; maintainer scripts
  // run on the host with DPKG_ROOT set (--force-script-chrootless), so they must honour it.
  const dpkg = (root: string, ...args: string[]) =>
    spawnSync('dpkg', [`--root=${root}`, '--force-script-chrootless', '--force-depends', ...args], {
      encoding: 'utf8',
      timeout: 120000,
    });

  it('installs the binary, the unit (enabled), the example config and the state dir; keeps an edited conffile; purge removes state', () => {
    const root = emptyRoot('root');
    const first = dpkg(root, '-i', paths.deb);
    expect({
      status: first.status,
      stderr: first.stderr.replace(/dpkg: warning:.*\n(\s+.*\n)*/g, ''),
    }).toMatchObject({
      status: 0,
    });
    const mode = (p: string) => (statSync(join(root, p)).mode & 0o7777).toString(8);
    expect(mode('usr/bin/teardownd')).toBe('755');
    expect(spawnSync(join(root, 'usr/bin/teardownd'), ['--version'], { encoding: 'utf8' }).status).toBe(0);
    const unit = readFileSync(join(root, 'lib/systemd/system/teardownd.service'), 'utf8');
    expect(unit).toMatch(/^ExecStart=\/usr\/bin\/teardownd run --config \/etc\/teardownd\/config\.json$/m);
    expect(unit).toMatch(/^ConditionPathExists=\/etc\/teardownd\/config\.json$/m);
    const wants = join(root, 'etc/systemd/system/multi-user.target.wants/teardownd.service');
    expect(lstatSync(wants).isSymbolicLink()).toBe(true);
    expect(readlinkSync(wants)).toBe('/lib/systemd/system/teardownd.service');
    // Started only once configured: the package ships the example, never config.json itself.
    expect(existsSync(join(root, 'etc/teardownd/config.example.json'))).toBe(true);
    expect(existsSync(join(root, 'etc/teardownd/config.json'))).toBe(false);
    expect(mode('var/lib/teardownd')).toBe('750');

    // The operator edits the example conffile and writes config.json; a reinstall keeps both.
    writeFileSync(join(root, 'etc/teardownd/config.example.json'), '{"dryRun": true}\n');
    writeFileSync(join(root, 'etc/teardownd/config.json'), '{}\n');
    writeFileSync(join(root, 'var/lib/teardownd/reports/e-1.json'), '{}');
    const again = dpkg(root, '--force-confold', '-i', paths.deb);
    expect(again.status).toBe(0);
    expect(readFileSync(join(root, 'etc/teardownd/config.example.json'), 'utf8')).toBe('{"dryRun": true}\n');

    // remove keeps state and config; purge removes both, and the unit's enable link.
    expect(dpkg(root, '-r', 'teardownd').status).toBe(0);
    expect(existsSync(join(root, 'usr/bin/teardownd'))).toBe(false);
    expect(existsSync(join(root, 'var/lib/teardownd/reports/e-1.json'))).toBe(true);
    expect(existsSync(join(root, 'etc/teardownd/config.json'))).toBe(true);
    expect(dpkg(root, '-P', 'teardownd').status).toBe(0);
    expect(existsSync(join(root, 'var/lib/teardownd'))).toBe(false);
    expect(existsSync(join(root, 'etc/teardownd'))).toBe(false);
    expect(() => lstatSync(wants)).toThrow(/ENOENT/);
  });

  const lintian = spawnSync('sh', ['-c', 'command -v lintian'], { encoding: 'utf8' }).stdout.trim();
  if (!lintian) {
    if (process.env.CI) throw new Error('lintian not found: .ci/run installs it');
    process.stderr.write(
      '\n*** lintian not found: the lintian check of the .deb is SKIPPED (apt-get install lintian). ***\n\n',
    );
  }
  (lintian ? it : it.skip)(
    'passes lintian with no error or warning',
    () => {
      const r = spawnSync(lintian, ['--fail-on', 'error,warning', paths.deb], {
        encoding: 'utf8',
        timeout: 300000,
      });
      expect({
        status: r.status,
        tags: `${r.stdout}${r.stderr}`.split('\n').filter((l) => /^[EW]: /.test(l)),
      }).toEqual({
        status: 0,
        tags: [],
      });
    },
    300000,
  );
});
