import { Ec2Filter } from './ec2-filters';
import { missingParameter } from './ec2-errors';
import { Tags } from './ec2-records';
import { EmulatorError } from './types';

/** Reads EC2 Query form parameters the way the SDK's ec2Query serializer writes them. */
export class Ec2Params {
  constructor(readonly form: URLSearchParams) {}

  str(name: string): string | undefined {
    return this.form.get(name) ?? undefined;
  }

  required(name: string): string {
    const v = this.form.get(name);
    if (v === null || v === '') throw missingParameter(name);
    return v;
  }

  bool(name: string): boolean | undefined {
    const v = this.form.get(name);
    if (v === null) return undefined;
    if (v !== 'true' && v !== 'false')
      throw new EmulatorError(
        'InvalidParameterValue',
        `Value (${v}) for parameter ${name} is invalid. Expected a boolean.`,
      );
    return v === 'true';
  }

  int(name: string): number | undefined {
    const v = this.form.get(name);
    if (v === null) return undefined;
    if (!/^-?\d+$/.test(v))
      throw new EmulatorError(
        'InvalidParameterValue',
        `Value (${v}) for parameter ${name} is invalid. Expected an integer.`,
      );
    return Number(v);
  }

  /** `Prefix.1`, `Prefix.2`, … in index order. */
  list(prefix: string): string[] {
    const out: [number, string][] = [];
    const re = new RegExp(`^${prefix.replace(/\./g, '\\.')}\\.(\\d+)$`);
    for (const [k, v] of this.form) {
      const m = re.exec(k);
      if (m) out.push([Number(m[1]), v]);
    }
    return out.sort((a, b) => a[0] - b[0]).map(([, v]) => v);
  }

  /** Indices N present under `Prefix.N.` (structured lists). */
  private indices(prefix: string): number[] {
    const re = new RegExp(`^${prefix.replace(/\./g, '\\.')}\\.(\\d+)\\.`);
    const set = new Set<number>();
    for (const k of this.form.keys()) {
      const m = re.exec(k);
      if (m) set.add(Number(m[1]));
    }
    return [...set].sort((a, b) => a - b);
  }

  filters(): Ec2Filter[] {
    return this.indices('Filter').map((n) => {
      const name = this.form.get(`Filter.${n}.Name`);
      if (!name) throw missingParameter(`Filter.${n}.Name`);
      return { name, values: this.list(`Filter.${n}.Value`) };
    });
  }

  /** `Tag.N.Key` / `Tag.N.Value` (value may be absent: DeleteTags). */
  tagList(prefix = 'Tag'): { key: string; value?: string }[] {
    return this.indices(prefix).map((n) => {
      const key = this.form.get(`${prefix}.${n}.Key`);
      if (key === null) throw missingParameter(`${prefix}.${n}.Key`);
      const value = this.form.get(`${prefix}.${n}.Value`);
      return value === null ? { key } : { key, value };
    });
  }

  tags(prefix = 'Tag'): Tags {
    const out: Tags = {};
    for (const t of this.tagList(prefix)) out[t.key] = t.value ?? '';
    return out;
  }

  /** Tags of the `TagSpecification.N` entries whose ResourceType is `resourceType` (others ignored). */
  tagSpecs(resourceType: string): Tags {
    const out: Tags = {};
    for (const n of this.indices('TagSpecification')) {
      const type = this.form.get(`TagSpecification.${n}.ResourceType`);
      if (type === resourceType) Object.assign(out, this.tags(`TagSpecification.${n}.Tag`));
    }
    return out;
  }
}

export interface PageOptions {
  action: string;
  /** Largest MaxResults EC2 accepts for this action. */
  max: number;
  /** EC2 refuses MaxResults together with an id list on some actions (e.g. DescribeInstances). */
  idsParam?: string;
  idsGiven?: boolean;
}

/**
 * MaxResults/NextToken pagination by creation order, so resources deleted between pages never
 * shift the next page. Without MaxResults (and without a token) everything is returned.
 */
export function paginate<T>(
  items: T[],
  orderOf: (item: T) => number,
  params: Ec2Params,
  opts: PageOptions,
): { page: T[]; nextToken?: string } {
  const maxResults = params.int('MaxResults');
  const token = params.str('NextToken');
  if (maxResults !== undefined && opts.idsGiven && opts.idsParam)
    throw new EmulatorError(
      'InvalidParameterCombination',
      `The parameter ${opts.idsParam} cannot be used with the parameter maxResults`,
    );
  if (maxResults !== undefined && (maxResults < 5 || maxResults > opts.max))
    throw new EmulatorError(
      'InvalidParameterValue',
      `Value ( ${maxResults} ) for parameter maxResults is invalid. Expecting a value between 5 and ${opts.max}.`,
    );
  let after = 0;
  if (token !== undefined) {
    const decoded = Buffer.from(token, 'base64url').toString('utf8');
    const m = /^([A-Za-z]+):(\d+)$/.exec(decoded);
    if (!m || m[1] !== opts.action)
      throw new EmulatorError('InvalidPaginationToken', `The pagination token '${token}' is invalid.`);
    after = Number(m[2]);
  }
  const sorted = [...items].sort((a, b) => orderOf(a) - orderOf(b)).filter((i) => orderOf(i) > after);
  const limit = maxResults ?? (token !== undefined ? opts.max : Number.POSITIVE_INFINITY);
  if (sorted.length <= limit) return { page: sorted };
  const page = sorted.slice(0, limit);
  const last = orderOf(page[page.length - 1]);
  return { page, nextToken: Buffer.from(`${opts.action}:${last}`, 'utf8').toString('base64url') };
}
