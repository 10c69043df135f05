import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isSea, getAsset } from 'node:sea';
import { Script } from 'node:vm';

/**
 * The AWS SDK code the daemon needs only when work comes — the EC2, Auto Scaling, S3 and CloudWatch
 * Logs clients and their commands — is, in the bundled artefacts, a second script: the "SDK pack"
 * (scripts/package.ts builds it beside the bundle, and into the single executable as an asset). The
 * bundle's imports of those packages read through to the pack, which is loaded the first time one
 * of its exports is used. At rest (IMDS poller, SQS consumer, loxilb observation) it is never
 * loaded, so its memory is never taken; the sweep and the ownership marking run in a child process
 * for the same reason (daemon/sweeper-service.ts).
 *
 * In the TypeScript build (npm test, npm start) the packages are ordinary imports and nothing here
 * runs.
 */

/** The packages whose code is in the pack, keyed as the pack exports them. */
export const SDK_PACK_PACKAGES = {
  ec2: '@aws-sdk/client-ec2',
  autoScaling: '@aws-sdk/client-auto-scaling',
  s3: '@aws-sdk/client-s3',
  logs: '@aws-sdk/client-cloudwatch-logs',
} as const;

export type SdkPackKey = keyof typeof SDK_PACK_PACKAGES;

/** The pack's file beside the bundle, and its asset name in the single executable. */
export const SDK_PACK_FILE = 'teardownd-aws-sdk.cjs';

/**
 * The single executable's V8 code cache of the pack (made by `npm run package` with the same
 * runtime and V8 flags): loading the pack then skips compiling it, about 100 ms instead of 200+.
 */
export const SDK_PACK_CODE_CACHE = 'teardownd-aws-sdk.cache';

export interface SdkPackLoaded {
  /** Where the pack came from: the executable's asset or the file beside the bundle. */
  source: string;
  durationMs: number;
  /** The code cache: used, refused by V8 (another runtime or flags: compiled instead), or none. */
  codeCache: 'accepted' | 'rejected' | 'none';
}

/**
 * The pack as a script: a CommonJS module wrapped the way Node wraps one. The code cache is made
 * for exactly this text, so it is built here only.
 */
export function sdkPackScript(source: string, filename: string, cachedData?: Buffer): Script {
  return new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename,
    cachedData,
  });
}

/** Runs the pack's script as a module; returns its exports. */
export function runSdkPackScript(script: Script, filename: string): Record<string, Record<string, unknown>> {
  // Inside a single executable `require` reaches only Node's built-in modules, which is all the
  // pack (a bundle) needs.
  const run = script.runInThisContext() as (
    e: object,
    r: NodeJS.Require,
    m: { exports: object },
    f: string,
    d: string,
  ) => void;
  const module = { exports: {} as Record<string, Record<string, unknown>> };
  run(module.exports, require, module, filename, dirname(filename));
  return module.exports;
}

type Pack = Record<SdkPackKey, Record<string, unknown>>;

let pack: Pack | undefined;
const listeners: Array<(loaded: SdkPackLoaded) => void> = [];

/** Told once, when the pack is loaded (the daemon logs it: rest never loads it). */
export function onSdkPackLoaded(listener: (loaded: SdkPackLoaded) => void): void {
  listeners.push(listener);
}

/**
 * The pack's exports for one package, loading the pack on first use. `bundleDir` is the bundle's
 * directory (its `__dirname`), where the pack file lies when not in a single executable.
 */
export function sdkPackExports(key: SdkPackKey, bundleDir: string): Record<string, unknown> {
  if (!pack) {
    const started = Date.now();
    const sea = isSea();
    const filename = sea ? SDK_PACK_FILE : join(bundleDir, SDK_PACK_FILE);
    const source = sea ? getAsset(SDK_PACK_FILE, 'utf8') : readFileSync(filename, 'utf8');
    const cachedData = sea ? seaCodeCache() : undefined;
    const script = sdkPackScript(source, filename, cachedData);
    pack = runSdkPackScript(script, filename) as Pack;
    const loaded: SdkPackLoaded = {
      source: sea ? `asset ${SDK_PACK_FILE}` : filename,
      durationMs: Date.now() - started,
      codeCache: !cachedData ? 'none' : script.cachedDataRejected ? 'rejected' : 'accepted',
    };
    for (const listener of listeners) listener(loaded);
  }
  return pack[key];
}

function seaCodeCache(): Buffer | undefined {
  try {
    return Buffer.from(getAsset(SDK_PACK_CODE_CACHE));
  } catch {
    return undefined; // built without one: the pack is compiled
  }
}
