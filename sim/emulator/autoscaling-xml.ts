import { xmlEscape } from './render';
import { EmulatorError, EmulatorResponse } from './types';

/** Auto Scaling's Query/XML response shapes. */
export const ASG_XMLNS = 'http://autoscaling.amazonaws.com/doc/2011-01-01/';

export function asgResponse(action: string, result: string, requestId: string): EmulatorResponse {
  const body = result ? `<${action}Result>${result}</${action}Result>` : `<${action}Result/>`;
  return {
    status: 200,
    headers: { 'content-type': 'text/xml' },
    body: `<${action}Response xmlns="${ASG_XMLNS}">${body}<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>`,
  };
}

/** `<Name>value</Name>` for each defined field, in order. */
export function fields(values: Array<[string, string | number | boolean | undefined]>): string {
  return values
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `<${k}>${xmlEscape(String(v))}</${k}>`)
    .join('');
}

export function members(items: string[]): string {
  return items.map((i) => `<member>${i}</member>`).join('');
}

/** `Name.member.1`, `Name.member.2`, … of a Query request. */
export function memberList(form: URLSearchParams, name: string): string[] {
  const out: string[] = [];
  for (let i = 1; form.has(`${name}.member.${i}`); i++) out.push(form.get(`${name}.member.${i}`)!);
  return out;
}

/** Auto Scaling's wording for a missing required parameter. */
export function required(form: URLSearchParams, name: string): string {
  const v = form.get(name);
  if (!v) {
    const member = name[0].toLowerCase() + name.slice(1);
    throw new EmulatorError(
      'ValidationError',
      `1 validation error detected: Value null at '${member}' failed to satisfy constraint: Member must not be null`,
    );
  }
  return v;
}
