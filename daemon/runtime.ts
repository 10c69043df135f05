import {
  AwsClients,
  clientOptions,
  createAwsClients,
  destroyAwsClients,
  regionFromEnv,
} from '../lib/aws/clients';
import { TokenBucket } from '../lib/aws/pacer';
import { Clock, systemClock } from '../lib/clock';
import { flagMismatches, loadConfigWithLoxilbFlags, LoxilbFlags } from '../lib/gate/loxilb-flags';
import { Config } from '../lib/config/schema';
import { createLogger, Logger } from '../lib/log';
import { ImdsClient } from '../lib/sources/imds-client';

/**
 * Everything with a side effect is built here and nowhere else: config from disk, logger, clock,
 * IMDS client, AWS clients, the mutating-call pacer. Commands receive a Runtime and pass its parts down.
 */
export interface Runtime {
  config: Config;
  /** The running loxilb whose flags are the config's defaults, if one was found. */
  loxilb?: LoxilbFlags;
  logger: Logger;
  clock: Clock;
  imds: ImdsClient;
  /** The one per-process bucket pacing mutating EC2 calls (aws.mutatingBucket). */
  pacer: TokenBucket;
  /** AWS clients for the resolved region (built on first use: the region may need IMDS). */
  aws(): Promise<AwsClients>;
  /** `--instance-id`, else IMDS `instance-id`. */
  instanceId(explicit?: string): Promise<string>;
  close(): void;
}

export interface GlobalOptions {
  config?: string;
  logLevel?: string;
}

export interface RuntimeOverrides {
  /** Where log lines go (default stdout); `plan --json` sends them to stderr so stdout is pure JSON. */
  logStream?: NodeJS.WritableStream;
}

export function createRuntime(opts: GlobalOptions, overrides: RuntimeOverrides = {}): Runtime {
  // --log-level is checked by the config schema like log.level, so `--log-level bogus` is exit 2.
  const { config, loxilb, others } = loadConfigWithLoxilbFlags({
    path: opts.config,
    overrides: { logLevel: opts.logLevel },
  });
  const logger = createLogger({ level: config.log.level, stream: overrides.logStream });
  if (loxilb) {
    logger.debug("loxilb's own flags are the defaults under the config", {
      stage: 'config',
      pid: loxilb.pid,
      cloud: loxilb.cloud,
      cloudCidrBlock: loxilb.cloudCidrBlock,
      cloudInstance: loxilb.cloudInstance,
      ka: loxilb.ka,
    });
  }
  if (others.length) {
    logger.warn(`${others.length + 1} loxilb processes found; the flags of pid ${loxilb!.pid} are used`, {
      stage: 'config',
      pids: [loxilb!.pid, ...others.map((o) => o.pid)],
    });
  }
  for (const m of loxilb ? flagMismatches(config, loxilb) : []) {
    logger.warn(`config ${m.field} overrides loxilb ${m.flag}`, { stage: 'config', ...m });
  }
  const imds = new ImdsClient({
    endpoint: config.sources.imds.endpoint,
    requestTimeoutMs: config.sources.imds.requestTimeoutMs,
    tokenTtlSeconds: config.sources.imds.tokenTtlSeconds,
    allowV1Fallback: config.sources.imds.allowV1Fallback,
    onV1Fallback: (reason) =>
      logger.warn('IMDSv2 unavailable; falling back to IMDSv1 because sources.imds.allowV1Fallback is true', {
        reason,
      }),
  });
  let clients: Promise<AwsClients> | undefined;
  return {
    config,
    loxilb,
    logger,
    clock: systemClock,
    imds,
    pacer: new TokenBucket(config.aws.mutatingBucket, systemClock),
    aws() {
      clients ??= (async () => {
        const region =
          regionFromEnv(config.cloud.region) ?? (await imds.require('meta-data/placement/region'));
        return createAwsClients(clientOptions(config, region));
      })();
      return clients;
    },
    async instanceId(explicit) {
      return explicit ?? (await imds.require('meta-data/instance-id'));
    },
    close() {
      if (clients) void clients.then(destroyAwsClients, () => undefined);
    },
  };
}
