import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import type { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import type { EC2Client } from '@aws-sdk/client-ec2';
import { Scope, scopeProblem } from '../../lib/config/schema';
import { AwsClients } from '../../lib/aws/clients';
import { EngineDeps } from '../../lib/episode/engine';
import { Config } from '../../lib/config/schema';
import { HaObserver } from '../../lib/gate/ha-observer';
import { createLoxilbApi, LoxilbApi } from '../../lib/gate/loxilb-api';
import { UsageError } from '../cli';
import { Runtime } from '../wiring';

/** Shared by `plan` and `teardown`: flag validation and the engine's dependencies. */

/** `plan` and `teardown` take the same target: this instance (or --instance-id), an optional --scope. */
export function targetedCommand(program: Command, name: string, description: string, verb: string): Command {
  return program
    .command(name)
    .description(description)
    .option('--instance-id <id>', `instance to ${verb} (default: IMDS instance-id)`)
    .option('--scope <scope>', 'full | handover | none (default: the gate decides)');
}

export function parseScopeFlag(value: string | undefined): Scope | undefined {
  if (value === undefined) return undefined;
  const problem = scopeProblem(value);
  if (!problem) return value as Scope;
  throw new UsageError(`--scope: ${problem} (got "${value}")`);
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

/**
 * `plan` and `teardown` by hand decide like the daemon: loxilb live, else the observation the
 * daemon kept in stateDir (within gate.observationMaxAgeIntervals), with the promotion it saw.
 * They read that file and never write it.
 */
export function cliEngineDeps(runtime: Runtime, ec2: EC2Client, autoScaling?: AutoScalingClient): EngineDeps {
  const deps = engineDeps(runtime, ec2, autoScaling);
  if (runtime.config.gate.mode !== 'loxilb-api') return deps;
  const observer = new HaObserver({
    api: deps.loxilb,
    clock: runtime.clock,
    logger: runtime.logger,
    stateDir: runtime.config.stateDir,
    readOnly: true,
  });
  return { ...deps, observer };
}
