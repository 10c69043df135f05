import { randomBytes } from 'node:crypto';
import type { EC2Client } from '@aws-sdk/client-ec2';
import { Scope, scopeValues } from '../../lib/config/schema';
import { EngineDeps } from '../../lib/engine';
import { createLoxilbApi } from '../../lib/loxilb-api';
import { UsageError } from '../cli';
import { Runtime } from '../runtime';

/** Shared by `plan` and `teardown`: flag validation and the engine's dependencies. */

export function parseScopeFlag(value: string | undefined): Scope | undefined {
  if (value === undefined) return undefined;
  if ((scopeValues as readonly string[]).includes(value)) return value as Scope;
  throw new UsageError(`--scope must be one of ${scopeValues.join(', ')} (got "${value}")`);
}

const INSTANCE_ID = /^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;

export function checkInstanceId(id: string, where: string): string {
  if (!INSTANCE_ID.test(id)) {
    throw new UsageError(`${where} "${id}" is not an EC2 instance id (i- followed by 8 or 17 hex digits)`);
  }
  return id;
}

/** `--instance-id`, else IMDS; either way validated. */
export async function resolveInstanceId(runtime: Runtime, explicit: string | undefined): Promise<string> {
  if (explicit !== undefined) return checkInstanceId(explicit, '--instance-id');
  let id: string;
  try {
    id = await runtime.instanceId();
  } catch (err) {
    throw new UsageError(
      `no --instance-id given and IMDS could not tell this instance's id: ${(err as Error).message}`,
    );
  }
  return checkInstanceId(id, 'IMDS instance-id');
}

/** A fresh episode id for a CLI run (file-name safe). */
export function newCliEpisode(now = new Date()): string {
  return `cli-${now.toISOString().replace(/[-:.]/g, '')}-${randomBytes(3).toString('hex')}`;
}

/** The EC2 client for the resolved region; an unknown region is bad input (exit 2), not a crash. */
export async function ec2Client(runtime: Runtime): Promise<EC2Client> {
  try {
    return (await runtime.aws()).ec2;
  } catch (err) {
    throw new UsageError(
      `cannot tell the AWS region (${(err as Error).message}); set cloud.region or AWS_REGION`,
    );
  }
}

export function engineDeps(runtime: Runtime, ec2: EC2Client): EngineDeps {
  const { config } = runtime;
  return {
    ec2,
    config,
    clock: runtime.clock,
    logger: runtime.logger,
    pacer: runtime.pacer,
    loxilb: createLoxilbApi({
      baseUrl: config.gate.loxilbApiUrl,
      timeoutMs: config.gate.apiTimeoutMs,
      fetch,
    }),
  };
}
