import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { loadConfig } from '../../lib/config/load';
import { ConfigSchema } from '../../lib/config/schema';

const repo = resolve(__dirname, '../..');
const script = join(repo, 'scripts/install.sh');
const example = join(repo, 'scripts/config.example.json');

/** Copies 70 MB of production dependencies on the first install; generous but bounded. */
const SCRIPT_TIMEOUT_MS = 120000;

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
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'teardownd-install-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('--dry-run prints the plan and creates nothing', () => {
    const r = install('--root', root, '--dry-run', '--node', process.execPath);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(
      /would run: install -D -m 0644 \S+\/scripts\/config\.example\.json \S+\/etc\/teardownd\/config\.json/,
    );
    expect(r.out).toMatch(/would run: cp -RP \S+ \S+\/opt\/teardownd\/dist\.new/);
    expect(r.out).toMatch(/skipping user creation, chown and systemctl/);
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
      const first = install('--root', root, '--node', process.execPath);
      expect(first.code).toBe(0);
      expect(first.out).toMatch(/installed \(\d+ change\(s\)\)/);

      // The program with its production dependencies only, runnable from where it was installed.
      const prefix = join(root, 'opt/teardownd');
      for (const f of [
        'dist/daemon/main.js',
        'package.json',
        'package-lock.json',
        'node_modules/zod/package.json',
      ])
        expect([f, existsSync(join(prefix, f))]).toEqual([f, true]);
      for (const dev of ['jest', 'typescript', 'aws-sdk-client-mock', 'yaml'])
        expect([dev, existsSync(join(prefix, 'node_modules', dev))]).toEqual([dev, false]);
      expect(existsSync(join(prefix, 'dist/test'))).toBe(false);
      const help = spawnSync(process.execPath, [join(prefix, 'dist/daemon/main.js'), '--help'], {
        encoding: 'utf8',
        timeout: 30000,
      });
      expect(help.status).toBe(0);
      expect(help.stdout).toMatch(/Usage: teardownd/);

      // The unit runs the chosen node on the installed entry point with the installed config.
      const unit = readFileSync(join(root, 'etc/systemd/system/teardownd.service'), 'utf8');
      expect(unit).toContain(
        `\nExecStart=${process.execPath} /opt/teardownd/dist/daemon/main.js run --config /etc/teardownd/config.json\n`,
      );
      expect(mode(join(root, 'etc/systemd/system/teardownd.service'))).toBe('644');

      // Default config (parses with the loader), env file, state and reports directories.
      const configPath = join(root, 'etc/teardownd/config.json');
      expect(loadConfig({ path: configPath })).toEqual(ConfigSchema.parse({}));
      expect(mode(configPath)).toBe('644');
      expect(mode(join(root, 'etc/default/teardownd'))).toBe('600');
      expect(mode(join(root, 'var/lib/teardownd'))).toBe('750');
      expect(mode(join(root, 'var/lib/teardownd/reports'))).toBe('750');
      // Nothing installed is writable by group or others.
      const writable = [...snapshot(prefix)].filter(([, m]) => (parseInt(m.split(' ')[0], 8) & 0o022) !== 0);
      expect(writable).toEqual([]);

      // The operator edits the config; a report lands; a second run changes nothing at all.
      const edited = JSON.stringify({
        sources: { sqs: { queueUrl: 'https://sqs.us-east-1.amazonaws.com/1/q' } },
      });
      writeFileSync(configPath, edited);
      writeFileSync(join(root, 'var/lib/teardownd/reports/e-1.json'), '{}');
      const before = snapshot(root);
      const second = install('--root', root, '--node', process.execPath);
      expect(second.code).toBe(0);
      expect(second.out).toMatch(/already installed and up to date: nothing changed/);
      expect(second.out).not.toMatch(/^\s+\+ /m);
      expect(snapshot(root)).toEqual(before);
      expect(readFileSync(configPath, 'utf8')).toBe(edited);

      // Uninstall: the program and unit go; the edited config and the reports stay.
      const removed = install('--root', root, '--uninstall');
      expect(removed.code).toBe(0);
      expect(existsSync(prefix)).toBe(false);
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
