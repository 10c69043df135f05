import { randomBytes } from 'node:crypto';
import type { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import type { EC2Client } from '@aws-sdk/client-ec2';
import { Scope, scopeProblem } from '../../lib/config/schema';
import { AwsClients } from '../../lib/aws/clients';
import { EngineDeps } from '../../lib/episode/engine';
import { Config } from '../../lib/config/schema';
import { createLoxilbApi, LoxilbApi } from '../../lib/gate/loxilb-api';
import { UsageError } from '../cli';
import { Runtime } from '../runtime';

/** Shared by `plan` and `teardown`: flag validation and the engine's dependencies. */

export function parseScopeFlag(value: string | undefined): Scope | undefined {
  if (value === undefined) return undefined;
  const problem = scopeProblem(value);
  if (!problem) return value as Scope;
  throw new UsageError(`--scope: ${problem} (got "${value}")`);
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

/** The AWS clients for the resolved region; an unknown region is bad input (exit 2), not a crash. */
export async function awsClients(runtime: Runtime): Promise<AwsClients> {
  try {
    return await runtime.aws();
  } catch (err) {
    throw new UsageError(
      `cannot tell the AWS region (${(err as Error).message}); set cloud.region or AWS_REGION`,
    );
  }
}

export function loxilbApi(config: Config): LoxilbApi {
  return createLoxilbApi({ baseUrl: config.gate.loxilbApiUrl, timeoutMs: config.gate.apiTimeoutMs, fetch });
}

export function engineDeps(runtime: Runtime, ec2: EC2Client, autoScaling?: AutoScalingClient): EngineDeps {
  const { config } = runtime;
  return {
    ec2,
    autoScaling,
    config,
    clock: runtime.clock,
    logger: runtime.logger,
    pacer: runtime.pacer,
    loxilb: loxilbApi(config),
  };
}
