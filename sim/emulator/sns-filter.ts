import { EmulatorError } from './types';

/**
 * SNS subscription filter policies, as AWS documents them (SNS developer guide: "Amazon SNS message
 * filtering", "AND/OR logic", "Key matching", "Filter policy constraints"):
 *
 * - every key of a policy must match (AND); the values listed for a key are alternatives (OR);
 * - `"$or": [{…}, {…}]` (an array of at least two objects none of whose keys is an operator keyword)
 *   is an explicit OR of sub-policies; otherwise `$or` is an ordinary key;
 * - MessageBody scope: a policy object nested under a key matches the message's nested object; an
 *   array in the message matches when any element matches (arrays of strings are the documented
 *   case; arrays of objects are flattened the same way, as EventBridge patterns do);
 * - MessageAttributes scope: flat keys only, compared with String / String.Array / Number attributes;
 * - leaf operators: exact string or number, `prefix`, `suffix`, `equals-ignore-case`, `anything-but`
 *   (value, list, or `{prefix}`), `exists`, `numeric` comparisons;
 * - limits: at most 5 top-level keys (only top-level keys count for MessageBody; for an `$or`, each
 *   branch is counted on its own), at most 150 value combinations (each branch's product of
 *   alternatives, summed over `$or` branches), at most 256 KB.
 */

export type FilterScope = 'MessageAttributes' | 'MessageBody';
type Obj = Record<string, unknown>;

const OPERATOR_KEYS = new Set([
  'prefix',
  'suffix',
  'anything-but',
  'exists',
  'numeric',
  'equals-ignore-case',
  'cidr',
]);
export const MAX_FILTER_KEYS = 5;
export const MAX_FILTER_COMBINATIONS = 150;
const MAX_POLICY_BYTES = 256 * 1024;

function isObj(v: unknown): v is Obj {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

function invalid(reason: string): EmulatorError {
  return new EmulatorError('InvalidParameter', `Invalid parameter: FilterPolicy: ${reason}`);
}

/** True when `value` is `$or`'s array form that SNS treats as an operator. */
function isOrOperator(value: unknown): value is Obj[] {
  return (
    Array.isArray(value) &&
    value.length >= 2 &&
    value.every((v) => isObj(v) && Object.keys(v).every((k) => !OPERATOR_KEYS.has(k)))
  );
}

/** The policy as OR-free alternatives (each a plain AND policy), as SNS expands `$or`. */
function expand(policy: Obj): Obj[] {
  let branches: Obj[] = [{}];
  for (const [key, value] of Object.entries(policy)) {
    if (key === '$or' && isOrOperator(value)) {
      const alts = value.flatMap((v) => expand(v));
      branches = branches.flatMap((b) => alts.map((a) => mergePolicies(b, a)));
    } else if (isObj(value)) {
      const alts = expand(value);
      branches = branches.flatMap((b) => alts.map((a) => ({ ...b, [key]: a })));
    } else {
      branches = branches.map((b) => ({ ...b, [key]: value }));
    }
  }
  return branches;
}

function mergePolicies(a: Obj, b: Obj): Obj {
  const out: Obj = { ...a };
  for (const [k, v] of Object.entries(b)) {
    out[k] = isObj(out[k]) && isObj(v) ? mergePolicies(out[k] as Obj, v) : v;
  }
  return out;
}

function combinations(policy: Obj): number {
  let n = 1;
  for (const value of Object.values(policy)) {
    n *= isObj(value) ? combinations(value) : Array.isArray(value) ? Math.max(1, value.length) : 1;
  }
  return n;
}

/** Parses and checks a policy; throws SNS's InvalidParameter naming the problem. */
export function parseFilterPolicy(text: string, scope: FilterScope): Obj {
  if (Buffer.byteLength(text) > MAX_POLICY_BYTES) throw invalid('Filter policy is too large');
  let policy: unknown;
  try {
    policy = JSON.parse(text);
  } catch {
    throw invalid('failed to parse JSON.');
  }
  if (!isObj(policy)) throw invalid('Filter policy must be a JSON object');
  const branches = expand(policy);
  for (const b of branches) {
    if (Object.keys(b).length > MAX_FILTER_KEYS) throw invalid('Filter policy can not have more than 5 keys');
    checkBranch(b, scope, 0);
  }
  const total = branches.reduce((sum, b) => sum + combinations(b), 0);
  if (total > MAX_FILTER_COMBINATIONS) throw invalid('Filter policy is too complex');
  return policy;
}

function checkBranch(policy: Obj, scope: FilterScope, depth: number): void {
  for (const [key, value] of Object.entries(policy)) {
    if (isObj(value)) {
      if (scope === 'MessageAttributes')
        throw invalid(`"${key}" must be an array (no nesting for attributes)`);
      checkBranch(value, scope, depth + 1);
    } else if (Array.isArray(value)) {
      if (value.length === 0) throw invalid(`Empty arrays are not allowed ("${key}")`);
      for (const cond of value) checkCondition(key, cond);
    } else {
      throw invalid(`"${key}" must be an object or an array`);
    }
  }
}

function checkCondition(key: string, cond: unknown): void {
  if (typeof cond === 'string' || typeof cond === 'number' || cond === null || typeof cond === 'boolean')
    return;
  if (!isObj(cond)) throw invalid(`Match value must be String, number, true, false, or null ("${key}")`);
  const ops = Object.keys(cond);
  if (ops.length !== 1 || !OPERATOR_KEYS.has(ops[0]) || ops[0] === 'cidr')
    throw invalid(`Unrecognized match type ${ops.join(', ')} ("${key}")`);
  const [op] = ops;
  const v = cond[op];
  if ((op === 'prefix' || op === 'suffix' || op === 'equals-ignore-case') && typeof v !== 'string')
    throw invalid(`${op} match pattern must be a string ("${key}")`);
  if (op === 'exists' && typeof v !== 'boolean')
    throw invalid(`exists match pattern must be either true or false.`);
  if (op === 'numeric' && (!Array.isArray(v) || v.length === 0 || v.length % 2 !== 0))
    throw invalid(`Value of numeric must be an array of operator/value pairs ("${key}")`);
}

// ---- matching -----------------------------------------------------------------------------

/** Whether a message passes a (parsed, valid) policy. */
export function matchesFilter(
  policy: Obj,
  scope: FilterScope,
  message: { body: string; attributes: Record<string, { DataType: string; StringValue?: string }> },
): boolean {
  if (scope === 'MessageBody') {
    let doc: unknown;
    try {
      doc = JSON.parse(message.body);
    } catch {
      return false;
    }
    if (!isObj(doc)) return false;
    return expand(policy).some((b) => matchObject(b, [doc]));
  }
  const values: Obj = {};
  for (const [name, a] of Object.entries(message.attributes)) {
    if (a.DataType === 'String.Array') {
      try {
        values[name] = JSON.parse(a.StringValue ?? '[]');
      } catch {
        values[name] = a.StringValue;
      }
    } else if (a.DataType.startsWith('Number')) values[name] = Number(a.StringValue);
    else if (a.DataType.startsWith('String')) values[name] = a.StringValue;
  }
  if (Object.keys(values).length === 0) return false;
  return expand(policy).some((b) => matchObject(b, [values]));
}

/** Every key of `policy` matches in at least one of `docs` (the objects at this level). */
function matchObject(policy: Obj, docs: unknown[]): boolean {
  return Object.entries(policy).every(([key, cond]) => {
    const present = docs.flatMap((d) => (isObj(d) && key in d ? flatten(d[key]) : []));
    if (isObj(cond)) return matchObject(cond, present.filter(isObj));
    const conditions = cond as unknown[];
    return conditions.some((c) => matchLeaf(c, present, docs.length > 0));
  });
}

function flatten(v: unknown): unknown[] {
  return Array.isArray(v) ? v.flatMap(flatten) : [v];
}

function matchLeaf(cond: unknown, values: unknown[], parentPresent: boolean): boolean {
  if (isObj(cond) && 'exists' in cond) {
    const exists = values.some((v) => v !== null && v !== '' && !isObj(v));
    return cond.exists ? exists : parentPresent && !exists;
  }
  return values.some((v) => matchValue(cond, v));
}

function matchValue(cond: unknown, v: unknown): boolean {
  if (!isObj(cond)) return cond === v;
  const [op] = Object.keys(cond);
  const arg = cond[op];
  switch (op) {
    case 'prefix':
      return typeof v === 'string' && v.startsWith(arg as string);
    case 'suffix':
      return typeof v === 'string' && v.endsWith(arg as string);
    case 'equals-ignore-case':
      return typeof v === 'string' && v.toLowerCase() === (arg as string).toLowerCase();
    case 'anything-but': {
      if (isObj(arg) && typeof arg.prefix === 'string')
        return typeof v === 'string' && !v.startsWith(arg.prefix);
      const excluded = Array.isArray(arg) ? arg : [arg];
      return v !== undefined && !excluded.includes(v);
    }
    case 'numeric': {
      if (typeof v !== 'number') return false;
      const pairs = arg as Array<string | number>;
      for (let i = 0; i < pairs.length; i += 2) {
        const bound = Number(pairs[i + 1]);
        const ok = { '=': v === bound, '<': v < bound, '<=': v <= bound, '>': v > bound, '>=': v >= bound }[
          String(pairs[i]) as '='
        ];
        if (!ok) return false;
      }
      return true;
    }
    default:
      return false;
  }
}
