import { ImdsClient } from './imds-client';

/**
 * This host's account and region, from the IMDS instance identity document
 * (`dynamic/instance-identity/document`). The SQS classifier checks a message's `account`/`region`
 * (EventBridge) and `AccountId` (Auto Scaling) against it: a message that names this instance but
 * comes from another account or region is about someone else's instance with a recycled id, or forged.
 */
export interface HostIdentity {
  accountId?: string;
  region?: string;
}

/** Parses the document; fields that are missing or not strings are left out. */
export function parseIdentityDocument(text: string): HostIdentity {
  const doc = JSON.parse(text) as Record<string, unknown>;
  const out: HostIdentity = {};
  if (typeof doc?.accountId === 'string' && doc.accountId) out.accountId = doc.accountId;
  if (typeof doc?.region === 'string' && doc.region) out.region = doc.region;
  return out;
}

/** The identity, or undefined when IMDS cannot give it (the caller says what it cannot check). */
export async function readHostIdentity(
  imds: Pick<ImdsClient, 'get'>,
  signal?: AbortSignal,
): Promise<HostIdentity | undefined> {
  try {
    const text = await imds.get('dynamic/instance-identity/document', signal);
    return text ? parseIdentityDocument(text) : undefined;
  } catch {
    return undefined;
  }
}
