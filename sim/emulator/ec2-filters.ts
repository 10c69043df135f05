import { EmulatorError } from './types';

/**
 * EC2 `Filter.N.Name` / `Filter.N.Value.M` semantics: values of one filter are OR'ed, filters are
 * AND'ed, names and values are case-sensitive, `*` and `?` are wildcards (`\` escapes them).
 * `tag:<key>`, `tag-key` and `tag-value` work on every resource kind.
 */

export interface Ec2Filter {
  name: string;
  values: string[];
}

type Scalar = string | number | boolean | undefined;
/** One resource kind's filters: filter name → the resource's values for it. */
export type FilterSpec<T> = Record<string, (item: T) => Scalar | Scalar[]>;

const regexCache = new Map<string, RegExp>();

export function wildcardRegExp(pattern: string): RegExp {
  let re = regexCache.get(pattern);
  if (re) return re;
  let src = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === '\\' && i + 1 < pattern.length) {
      src += escapeRegExp(pattern[++i]);
    } else if (ch === '*') src += '.*';
    else if (ch === '?') src += '.';
    else src += escapeRegExp(ch);
  }
  re = new RegExp(`^${src}$`, 's');
  regexCache.set(pattern, re);
  return re;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

function valuesOf<T>(
  spec: FilterSpec<T>,
  tags: (item: T) => Record<string, string>,
  item: T,
  name: string,
): string[] {
  if (name.startsWith('tag:')) {
    const v = tags(item)[name.slice(4)];
    return v === undefined ? [] : [v];
  }
  if (name === 'tag-key') return Object.keys(tags(item));
  if (name === 'tag-value') return Object.values(tags(item));
  const raw = spec[name](item);
  const list = Array.isArray(raw) ? raw : [raw];
  return list.filter((v): v is string | number | boolean => v !== undefined).map(String);
}

/** Rejects filter names the resource kind does not know, as EC2 does. */
export function validateFilters<T>(spec: FilterSpec<T>, filters: Ec2Filter[]): void {
  if (filters.length > 50)
    throw new EmulatorError('FilterLimitExceeded', 'The maximum number of filters (50) has been exceeded.');
  for (const f of filters) {
    const known =
      f.name.startsWith('tag:') || f.name === 'tag-key' || f.name === 'tag-value' || f.name in spec;
    if (!known) throw new EmulatorError('InvalidParameterValue', `The filter '${f.name}' is invalid`);
    if (f.values.length === 0)
      throw new EmulatorError('InvalidParameterValue', `The filter '${f.name}' requires at least one value`);
    if (f.values.length > 200)
      throw new EmulatorError(
        'FilterLimitExceeded',
        `The maximum number of filter values (200) for filter '${f.name}' has been exceeded.`,
      );
  }
}

export function applyFilters<T>(
  items: T[],
  filters: Ec2Filter[],
  spec: FilterSpec<T>,
  tags: (item: T) => Record<string, string>,
): T[] {
  validateFilters(spec, filters);
  return items.filter((item) =>
    filters.every((f) => {
      const have = valuesOf(spec, tags, item, f.name);
      return f.values.some((want) => {
        const re = wildcardRegExp(want);
        return have.some((h) => re.test(h));
      });
    }),
  );
}
