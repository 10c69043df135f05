import { z } from 'zod';

/**
 * What every JSON document teardownd writes and reads back (report, journal, sweeper state, loxilb
 * observation) shares: ISO 8601 times, and one way to turn a schema's complaints into lines that name
 * the field, so an operator who opens the file finds the spot.
 */

export const isoTime = z.string().refine((s) => Number.isFinite(Date.parse(s)), 'must be an ISO 8601 time');

/** `actions.0.outcome: Invalid option…`, at most `max` of them and a count of the rest. */
export function schemaProblems(error: z.ZodError, max = 6): string[] {
  const problems = error.issues.slice(0, max).map((issue) => {
    const field = issue.path.length ? issue.path.map(String).join('.') : '(top level)';
    return `${field}: ${issue.message}`;
  });
  const more = error.issues.length - problems.length;
  return more > 0 ? [...problems, `(${more} more)`] : problems;
}

/** The document as its schema's type, or the problems naming each field. */
export function checkDocument<S extends z.ZodType>(
  schema: S,
  raw: unknown,
): { ok: true; value: z.output<S> } | { ok: false; problems: string[] } {
  const result = schema.safeParse(raw);
  return result.success
    ? { ok: true, value: result.data }
    : { ok: false, problems: schemaProblems(result.error) };
}

/**
 * JSON.parse without its message: the parser quotes the text around the error, which for a wrong
 * path (`report /etc/shadow`) would print the file's first bytes. Says where it broke, never what is
 * there. Returns undefined when the text is not JSON.
 */
export function parseJsonQuietly(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

/**
 * Reads a document: JSON text → the schema's type. Throws an Error whose message names `origin` and
 * every bad field (`<origin> is not <what>: steps.3.notice.kind: …`).
 */
export function parseDocumentText<S extends z.ZodType>(
  schema: S,
  text: string,
  origin: string,
  what: string,
): z.output<S> {
  const json = parseJsonQuietly(text);
  if (!json.ok)
    throw new Error(`${origin} is not valid JSON (${what} is a JSON document; ${text.length} bytes read)`);
  const checked = checkDocument(schema, json.value);
  if (!checked.ok) throw new Error(`${origin} is not ${what}: ${checked.problems.join('; ')}`);
  return checked.value;
}
