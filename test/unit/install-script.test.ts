import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { loadConfig } from '../../lib/config/load';
import { ConfigSchema } from '../../lib/config/schema';

const repo = resolve(__dirname, '../..');
const script = join(repo, 'scripts/install.sh');
const example = join(repo, 'scripts/config.example.json');

/** Generous but bounded. */
const SCRIPT_TIMEOUT_MS = 120000;

/**
 * A stand-in for build/teardownd: install.sh's logic does not depend on what the executable is, only
 * that it runs and answers --version (the real artefact is installed in test/e2e/package.test.ts).
 */
function fakeBinary(dir: string, version = '0.1.0'): string {
  const path = join(dir, `teardownd-${version}`);
  writeFileSync(path, `#!/bin/sh\n[ "$1" = --version ] && echo ${version}\n`, { mode: 0o755 });
  return path;
}

function install(...args: string[]): { code: number | null; out: string } {
  const r = spawnSync('bash', [script, ...args], { encoding: 'utf8', timeout: SCRIPT_TIMEOUT_MS });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

/** path → mode, size, mtime for every entry under dir: equal snapshots mean nothing was touched. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      const s = statSync(p);
      out.set(relative(dir, p), `${(s.mode & 0o7777).toString(8)} ${s.size} ${s.mtimeMs} ${s.ino}`);
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

const mode = (p: string) => (statSync(p).mode & 0o7777).toString(8);

/** Every leaf key of the config schema, optional ones included (`sources.sqs.queueUrl`). */
function schemaKeys(schema: unknown, prefix = ''): string[] {
  const def = (schema as { def: { type: string; innerType?: unknown; shape?: Record<string, unknown> } }).def;
  if (def.type === 'default' || def.type === 'optional' || def.type === 'nullable')
    return schemaKeys(def.innerType, prefix);
  if (def.type === 'object')
    return Object.entries(def.shape!).flatMap(([k, v]) => schemaKeys(v, prefix ? `${prefix}.${k}` : k));
  return [prefix];
}

describe('the default config install.sh installs', () => {
  it('parses with the config loader and is exactly the schema defaults, written out', () => {
    const config = loadConfig({ path: example });
    expect(config).toEqual(ConfigSchema.parse({}));
    expect(JSON.parse(readFileSync(example, 'utf8'))).toEqual(ConfigSchema.parse({}));
  });

  it('has every key, optional ones included, explained in scripts/config.example.md', () => {
    const doc = readFileSync(join(repo, 'scripts/config.example.md'), 'utf8');
    const keys = schemaKeys(ConfigSchema);
    expect(keys.length).toBeGreaterThan(50);
    const documented = new Set([...doc.matchAll(/^\| `([^`]+)` +\|/gm)].map((m) => m[1]));
    const undocumented = keys.filter((k) => !documented.has(k));
    expect(undocumented).toEqual([]);
  });
});

describe('scripts/install.sh into a staging root', () => {
  let root: string;
  let bins: string;
  let binary: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'teardownd-install-'));
    bins = mkdtempSync(join(tmpdir(), 'teardownd-bin-'));
    binary = fakeBinary(bins);
  });
  afterEach(() => {
    rmSync(root, { recursive: true, force: true });
    rmSync(bins, { recursive: true, force: true });
  });

  it('--dry-run prints the plan and creates nothing', () => {
    const r = install('--root', root, '--dry-run', '--binary', binary);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(
      /would run: install -D -m 0644 \S+\/scripts\/config\.example\.json \S+\/etc\/teardownd\/config\.example\.json/,
    );
    expect(r.out).toMatch(/would run: install -m 0755 \S+ \S+\/usr\/local\/bin\/teardownd\.new/);
    expect(r.out).toMatch(/skipping user creation, chown and systemctl/);
    expect(readdirSync(root)).toEqual([]);
  });

  it('refuses a missing or non-running binary, naming it', () => {
    const missing = install('--root', root, '--binary', join(bins, 'nope'));
    expect(missing.code).not.toBe(0);
    expect(missing.out).toMatch(/nope not found: run `npm ci && npm run package` first/);
    const broken = join(bins, 'broken');
    writeFileSync(broken, '#!/bin/sh\nexit 3\n', { mode: 0o755 });
    const r = install('--root', root, '--binary', broken);
    expect(r.out).toMatch(/broken does not run here/);
    expect(readdirSync(root)).toEqual([]);
  });

  it('rejects unknown options and --purge without --uninstall', () => {
    const bad = install('--root', root, '--frobnicate');
    expect(bad.code).not.toBe(0);
    expect(bad.out).toMatch(/unknown option: --frobnicate/);
    const purge = install('--root', root, '--purge');
    expect(purge.code).not.toBe(0);
    expect(purge.out).toMatch(/--purge only makes sense with --uninstall/);
    expect(readdirSync(root)).toEqual([]);
  });

  it(
    'installs, is idempotent, keeps an edited config, and uninstalls keeping reports unless --purge',
    () => {
      const first = install('--root', root, '--binary', binary);
      expect(first.code).toBe(0);
      expect(first.out).toMatch(/installed \(\d+ change\(s\)\)/);

      // The program is one executable, the same artefact the .deb carries, under /usr/local.
      const bin = join(root, 'usr/local/bin/teardownd');
      expect(readFileSync(bin, 'utf8')).toBe(readFileSync(binary, 'utf8'));
      expect(mode(bin)).toBe('755');
      expect(spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout.trim()).toBe('0.1.0');

      // The unit runs the installed executable with the operator's config, once that exists.
      const unit = readFileSync(join(root, 'etc/systemd/system/teardownd.service'), 'utf8');
      expect(unit).toContain(
        '\nExecStart=/usr/local/bin/teardownd run --config /etc/teardownd/config.json\n',
      );
      expect(unit).toContain('\nConditionPathExists=/etc/teardownd/config.json\n');
      expect(mode(join(root, 'etc/systemd/system/teardownd.service'))).toBe('644');

      // The example config (parses with the loader); no config.json until the operator writes it.
      const examplePath = join(root, 'etc/teardownd/config.example.json');
      expect(loadConfig({ path: examplePath })).toEqual(ConfigSchema.parse({}));
      expect(mode(examplePath)).toBe('644');
      const configPath = join(root, 'etc/teardownd/config.json');
      expect(existsSync(configPath)).toBe(false);
      expect(mode(join(root, 'etc/default/teardownd'))).toBe('600');
      expect(mode(join(root, 'var/lib/teardownd'))).toBe('750');
      expect(mode(join(root, 'var/lib/teardownd/reports'))).toBe('750');
      // Nothing installed is writable by group or others.
      const writable = [...snapshot(root)].filter(([, m]) => (parseInt(m.split(' ')[0], 8) & 0o022) !== 0);
      expect(writable).toEqual([]);

      // The operator edits the config; a report lands; a second run changes nothing at all.
      const edited = JSON.stringify({
        sources: { sqs: { queueUrl: 'https://sqs.us-east-1.amazonaws.com/1/q' } },
      });
      writeFileSync(configPath, edited);
      writeFileSync(join(root, 'var/lib/teardownd/reports/e-1.json'), '{}');
      const before = snapshot(root);
      const second = install('--root', root, '--binary', binary);
      expect(second.code).toBe(0);
      expect(second.out).toMatch(/already installed and up to date: nothing changed/);
      expect(second.out).not.toMatch(/^\s+\+ /m);
      expect(snapshot(root)).toEqual(before);
      expect(readFileSync(configPath, 'utf8')).toBe(edited);

      // A new build replaces the executable (by rename: a running daemon keeps its old inode).
      const newer = install('--root', root, '--binary', fakeBinary(bins, '0.2.0'));
      expect(newer.code).toBe(0);
      expect(spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout.trim()).toBe('0.2.0');
      expect(readFileSync(configPath, 'utf8')).toBe(edited);

      // Uninstall: the program and unit go; the edited config and the reports stay.
      const removed = install('--root', root, '--uninstall');
      expect(removed.code).toBe(0);
      expect(existsSync(bin)).toBe(false);
      expect(existsSync(join(root, 'etc/systemd/system/teardownd.service'))).toBe(false);
      expect(existsSync(join(root, 'etc/default/teardownd'))).toBe(false); // unedited default
      expect(readFileSync(configPath, 'utf8')).toBe(edited);
      expect(removed.out).toMatch(/keeping \S+\/etc\/teardownd\/config\.json \(edited/);
      expect(existsSync(join(root, 'var/lib/teardownd/reports/e-1.json'))).toBe(true);

      const again = install('--root', root, '--uninstall');
      expect(again.code).toBe(0);
      expect(again.out).toMatch(/not installed: nothing changed/);

      const purged = install('--root', root, '--uninstall', '--purge');
      expect(purged.code).toBe(0);
      expect(existsSync(join(root, 'etc/teardownd'))).toBe(false);
      expect(existsSync(join(root, 'var/lib/teardownd'))).toBe(false);
    },
    4 * SCRIPT_TIMEOUT_MS,
  );
});
