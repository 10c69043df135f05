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
  /**
   * Values under the file's (e.g. loxilb's own flags, lib/loxilb-flags.ts): used where the file does
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

function describeIssue(issue: z.core.$ZodIssue): string {
  const field = issue.path.length ? issue.path.join('.') : '(top level)';
  if (issue.code === 'invalid_value' && 'values' in issue) {
    return `${field}: must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
  }
  if (issue.code === 'unrecognized_keys' && 'keys' in issue) {
    const keys = issue.keys.map((k) => (issue.path.length ? `${field}.${k}` : k));
    return `${keys.join(', ')}: unknown key (check the spelling; see README "Configure")`;
  }
  return `${field}: ${issue.message}`;
}

/** Validates an already-parsed object; used by the loader and by tests. */
export function parseConfig(raw: unknown, origin = 'config'): Config {
  const result = ConfigSchema.safeParse(raw ?? {});
  if (!result.success) {
    const problems = result.error.issues.map(describeIssue);
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
      return parseConfig(options.defaults ?? {}, 'default config');
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
  return parseConfig(options.defaults ? underlay(options.defaults, raw) : raw, `config file ${path}`);
}
