import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { Config, ConfigSchema } from './schema';

export const DEFAULT_CONFIG_PATH = '/etc/teardownd/config.json';

/** Bad configuration: every problem is listed, each naming its field. Exit code 2. */
export class ConfigError extends Error {
  constructor(
    message: string,
    readonly problems: string[],
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

export interface LoadConfigOptions {
  /** Path given with --config; a missing explicit path is an error, a missing default path means defaults. */
  path?: string;
  readFile?: (path: string) => string;
  overrides?: ConfigOverrides;
  /**
   * Values under the file's (e.g. loxilb's own flags, lib/gate/loxilb-flags.ts): used where the file does
   * not set the key; merged object by object.
   */
  defaults?: Record<string, unknown>;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `over` wins; objects are merged key by key. Anything that is not an object is left to the schema. */
function underlay(defaults: Record<string, unknown>, over: unknown): unknown {
  if (over === undefined) return defaults;
  if (!isPlainObject(over)) return over;
  const out: Record<string, unknown> = { ...defaults };
  for (const [k, v] of Object.entries(over)) {
    out[k] = isPlainObject(defaults[k]) && isPlainObject(v) ? underlay(defaults[k], v) : v;
  }
  return out;
}

/** `sweeper.regions[1]`, `gate.override`: the spelling an operator finds in the file. */
function fieldName(path: PropertyKey[]): string {
  return path.reduce<string>(
    (out, p) => (typeof p === 'number' ? `${out}[${p}]` : out ? `${out}.${String(p)}` : String(p)),
    '',
  );
}

function describeIssue(issue: z.core.$ZodIssue, flags: Record<string, string>): string {
  const name = issue.path.length ? fieldName(issue.path) : '(top level)';
  const field = flags[name] ? `${flags[name]} (${name})` : name;
  if (issue.code === 'invalid_value' && 'values' in issue) {
    return `${field}: must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
  }
  if (issue.code === 'unrecognized_keys' && 'keys' in issue) {
    const keys = issue.keys.map((k) => (issue.path.length ? `${field}.${k}` : k));
    return `${keys.join(', ')}: unknown key (check the spelling; see README "Configure")`;
  }
  return `${field}: ${issue.message}`;
}

/** Command-line flags that override config keys; validated by the same schema, named in errors. */
export interface ConfigOverrides {
  /** `--log-level` → log.level */
  logLevel?: string;
}

/**
 * Validates an already-parsed object; used by the loader and by tests. The file must hold a JSON
 * object (`null`, an array or a number is an error, never "all defaults").
 */
export function parseConfig(raw: unknown, origin = 'config', overrides: ConfigOverrides = {}): Config {
  if (raw !== undefined && (raw === null || typeof raw !== 'object' || Array.isArray(raw))) {
    const problem = `(top level): must be a JSON object with the config keys, got ${raw === null ? 'null' : Array.isArray(raw) ? 'an array' : typeof raw}`;
    throw new ConfigError(`invalid ${origin}:\n  ${problem}`, [problem]);
  }
  const input: Record<string, unknown> = { ...((raw as Record<string, unknown> | undefined) ?? {}) };
  const flags: Record<string, string> = {};
  if (overrides.logLevel !== undefined) {
    const log = input.log;
    input.log = { ...(log && typeof log === 'object' ? log : {}), level: overrides.logLevel };
    flags['log.level'] = '--log-level';
  }
  const result = ConfigSchema.safeParse(input);
  if (!result.success) {
    const problems = result.error.issues.map((i) => describeIssue(i, flags));
    throw new ConfigError(`invalid ${origin}:\n  ${problems.join('\n  ')}`, problems);
  }
  return result.data;
}

export function loadConfig(options: LoadConfigOptions = {}): Config {
  const readFile = options.readFile ?? ((p: string) => readFileSync(p, 'utf8'));
  const path = options.path ?? DEFAULT_CONFIG_PATH;
  let text: string;
  try {
    text = readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && options.path === undefined)
      return parseConfig(options.defaults ?? {}, 'default config', options.overrides);
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`, [
      `${path}: unreadable`,
    ]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(err as Error).message}`, [
      `${path}: not JSON`,
    ]);
  }
  const input = options.defaults ? underlay(options.defaults, raw) : raw;
  return parseConfig(input, `config file ${path}`, options.overrides);
}
