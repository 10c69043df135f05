import * as nodeFs from 'node:fs';
import { basename, join } from 'node:path';
import { loadConfig, LoadConfigOptions } from '../config/load';
import { cloudInstanceOf, Config, staticBfd } from '../config/schema';

/**
 * loxilb's own flags, read from the running loxilb process: `--cloudcidrblock` (the cloud CIDR),
 * `--cloudinstance` (the tag suffix that separates clusters) and `--ka` (BFD keep-alive: set means
 * BFD mode). They are the truth of what loxilb creates; teardownd uses them as defaults, and the
 * config overrides them (`check` reports where the two disagree).
 *
 * Found through the host's /proc: `/proc/<pid>/cmdline` of a process whose program name is `loxilb`.
 * A loxilb in a container is a host process too, so the same /proc shows it — the unit must not hide
 * other users' processes (systemd/teardownd.service, ProtectProc=). The /proc root is injectable
 * (config `loxilbFlags.procRoot`) so tests use a fake one.
 *
 * Parsing follows loxilb's option parser (jessevdk/go-flags, options/options.go): `--name=value`,
 * `--name value`, and for `--ka` the short form `-k value` / `-kvalue`. `--ka` defaults to `none`.
 */

export interface LoxilbFlags {
  pid: number;
  /** The process's program (argv[0]). */
  program: string;
  /** `--cloud` (`aws` when loxilb manages AWS resources; its default is `on-prem`). */
  cloud?: string;
  cloudCidrBlock?: string;
  cloudInstance?: string;
  /** `--ka` as given; undefined or `none` means no BFD keep-alive. */
  ka?: string;
}

/** The fs calls this module makes (tests pass a fake /proc through `procRoot` instead). */
export interface ProcFs {
  readdirSync(path: string): string[];
  readFileSync(path: string): Buffer;
}

const LONG: Record<string, keyof Omit<LoxilbFlags, 'pid' | 'program'>> = {
  '--cloud': 'cloud',
  '--cloudcidrblock': 'cloudCidrBlock',
  '--cloudinstance': 'cloudInstance',
  '--ka': 'ka',
};

/** Pure: loxilb's argv (program first) → the flags teardownd cares about. */
export function parseLoxilbArgs(argv: string[]): Omit<LoxilbFlags, 'pid'> {
  const out: Omit<LoxilbFlags, 'pid'> = { program: argv[0] ?? '' };
  for (let i = 1; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') break;
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    let key = LONG[name];
    let inline = eq > 0 ? arg.slice(eq + 1) : undefined;
    if (!key && /^-k/.test(arg) && !arg.startsWith('--')) {
      key = 'ka';
      inline = arg.length > 2 ? arg.slice(2).replace(/^=/, '') : undefined;
    }
    if (!key) continue;
    const value = inline ?? argv[++i];
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/** A loxilb process: its program's file name is `loxilb` (kube-loxilb and the like are not). */
function isLoxilb(program: string): boolean {
  return basename(program) === 'loxilb';
}

/**
 * The running loxilb processes under `procRoot`, lowest pid first. Processes that vanish or cannot
 * be read while scanning are skipped; a missing /proc gives none.
 */
export function findLoxilbProcesses(procRoot = '/proc', fs: ProcFs = nodeFs): LoxilbFlags[] {
  let entries: string[];
  try {
    entries = fs.readdirSync(procRoot);
  } catch {
    return [];
  }
  const out: LoxilbFlags[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = fs
        .readFileSync(join(procRoot, entry, 'cmdline'))
        .toString('utf8')
        .split('\0');
    } catch {
      continue;
    }
    while (argv.length && argv[argv.length - 1] === '') argv.pop();
    if (!argv.length || !isLoxilb(argv[0])) continue;
    out.push({ pid: Number(entry), ...parseLoxilbArgs(argv) });
  }
  return out.sort((a, b) => a.pid - b.pid);
}

const CIDR = /^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$/;

/** Whether `--ka` turns BFD on. */
export function bfdFromKa(ka: string | undefined): boolean {
  return ka !== undefined && ka !== '' && ka !== 'none';
}

/**
 * The config defaults loxilb's flags give (only what the flags set, and only valid values: a config
 * error must name a field the operator wrote).
 */
export function defaultsFromFlags(flags: LoxilbFlags): Record<string, unknown> {
  const out: Record<string, Record<string, unknown>> = {};
  if (flags.cloudInstance !== undefined) out.ownership = { cloudInstance: flags.cloudInstance };
  if (flags.cloudCidrBlock && CIDR.test(flags.cloudCidrBlock))
    out.cloud = { cidrBlock: flags.cloudCidrBlock };
  if (flags.ka !== undefined) out.gate = { static: { bfd: bfdFromKa(flags.ka) } };
  return out;
}

export interface LoadedConfig {
  config: Config;
  /** The loxilb process whose flags gave the defaults (undefined: none found, or reading is off). */
  loxilb?: LoxilbFlags;
  /** More than one loxilb process: the first was used. */
  others: LoxilbFlags[];
}

/**
 * The config, with loxilb's own flags as defaults under it: the file is read, the loxilb process is
 * looked up under `loxilbFlags.procRoot` (unless `loxilbFlags.enabled` is false), and the file is
 * parsed again on top of the defaults the flags give.
 */
export function loadConfigWithLoxilbFlags(
  options: LoadConfigOptions = {},
  fs: ProcFs = nodeFs,
): LoadedConfig {
  const plain = loadConfig(options);
  if (!plain.loxilbFlags.enabled) return { config: plain, others: [] };
  const [loxilb, ...others] = findLoxilbProcesses(plain.loxilbFlags.procRoot, fs);
  if (!loxilb) return { config: plain, others: [] };
  const defaults = defaultsFromFlags(loxilb);
  const config = Object.keys(defaults).length ? loadConfig({ ...options, defaults }) : plain;
  return { config, loxilb, others };
}

export interface FlagMismatch {
  field: string;
  config: unknown;
  flag: string;
  flagValue: unknown;
}

/** Where the effective config differs from what loxilb runs with (the config overrode a flag). */
export function flagMismatches(config: Config, flags: LoxilbFlags): FlagMismatch[] {
  const out: FlagMismatch[] = [];
  if (flags.cloudInstance !== undefined && flags.cloudInstance !== cloudInstanceOf(config)) {
    out.push({
      field: 'ownership.cloudInstance',
      config: cloudInstanceOf(config),
      flag: '--cloudinstance',
      flagValue: flags.cloudInstance,
    });
  }
  if (flags.cloudCidrBlock !== undefined && flags.cloudCidrBlock !== config.cloud.cidrBlock) {
    out.push({
      field: 'cloud.cidrBlock',
      config: config.cloud.cidrBlock ?? null,
      flag: '--cloudcidrblock',
      flagValue: flags.cloudCidrBlock,
    });
  }
  if (config.gate.mode === 'static' && flags.ka !== undefined && bfdFromKa(flags.ka) !== staticBfd(config)) {
    out.push({
      field: 'gate.static.bfd',
      config: staticBfd(config),
      flag: '--ka',
      flagValue: flags.ka,
    });
  }
  return out;
}
