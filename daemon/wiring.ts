import type { EC2Client } from '@aws-sdk/client-ec2';
import { resolve } from 'node:path';
import { isSea } from 'node:sea';
import {
  AwsClients,
  clientOptions,
  createAwsClients,
  createEc2Client,
  destroyAwsClients,
  regionFromEnv,
} from '../lib/aws/clients';
import { TokenBucket } from '../lib/aws/pacer';
import { onSdkPackLoaded } from '../lib/aws/sdk-pack';
import { Clock, systemClock } from '../lib/clock';
import { flagMismatches, loadConfigWithLoxilbFlags, LoxilbFlags } from '../lib/gate/loxilb-flags';
import { Config } from '../lib/config/schema';
import { createLogger, Logger, nullLogger } from '../lib/log';
import { ImdsClient } from '../lib/sources/imds-client';
import { UsageError } from './cli';

/**
 * The wiring: everything with a side effect is built here and nowhere else — config from disk,
 * logger, clock, IMDS client, AWS clients (the region's own, lazily, and any other region's through
 * `ClientPool`), the mutating-call pacer, the SIGTERM/SIGINT handlers, this host's instance id.
 * Commands receive a Runtime and pass its parts down.
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
  /** `--instance-id`, else IMDS `instance-id` (raw; commands go through `resolveInstanceId`). */
  instanceId(explicit?: string): Promise<string>;
  /**
   * This program with the global options it was started with (`--config`, `--log-level`): how the
   * daemon starts a short-lived copy of itself for work that needs the EC2 client (daemon/child-process.ts).
   */
  selfCommand: string[];
  /** The process environment (systemd's NOTIFY_SOCKET and WATCHDOG_USEC are read from it). */
  env: NodeJS.ProcessEnv;
  close(): void;
}

/**
 * AWS clients for regions other than the runtime's own (the sweeper's regions, an S3 bucket's, the
 * group topic's), built on first use per region and destroyed by `close()`. `own`, when given, is
 * the runtime's region: its EC2 client is reused, never destroyed here.
 */
export class ClientPool {
  private readonly ec2s = new Map<string, EC2Client>();
  private readonly all: AwsClients[] = [];

  constructor(
    private readonly config: Config,
    private readonly own?: { region: string; ec2: EC2Client },
  ) {}

  /** Every client for `region` (a new set each call: the caller uses it for one job). */
  clients(region: string): AwsClients {
    const c = createAwsClients(clientOptions(this.config, region));
    this.all.push(c);
    return c;
  }

  /** One EC2 client per region. */
  ec2For(region: string): EC2Client {
    if (this.own && region === this.own.region) return this.own.ec2;
    let c = this.ec2s.get(region);
    if (!c) this.ec2s.set(region, (c = createEc2Client(clientOptions(this.config, region))));
    return c;
  }

  close(): void {
    for (const c of this.ec2s.values()) c.destroy();
    this.ec2s.clear();
    this.all.splice(0).forEach(destroyAwsClients);
  }
}

/**
 * `teardownd check`'s side effects: it loads its config itself (a config error is a check line,
 * not an exit), reads IMDS with the IMDSv1 fallback off on purpose (it must see whether IMDSv2
 * works), logs nothing (stdout is the report; a failed call shows in its line) and makes its AWS
 * clients per region on demand.
 */
export function checkWiring(config: Config) {
  const imds = config.sources.imds;
  return {
    imds: new ImdsClient({
      endpoint: imds.endpoint,
      requestTimeoutMs: imds.requestTimeoutMs,
      tokenTtlSeconds: imds.tokenTtlSeconds,
      allowV1Fallback: false,
    }),
    env: process.env,
    clock: systemClock,
    logger: nullLogger(),
    pacer: new TokenBucket(config.aws.mutatingBucket, systemClock),
    clients: new ClientPool(config),
  };
}

/** The one place SIGTERM/SIGINT are listened to for a command: `signal` aborts on the first one. */
export function stopOnSignals(): {
  signal: AbortSignal;
  requested: Promise<NodeJS.Signals>;
  dispose(): void;
} {
  const abort = new AbortController();
  let onSignal = (_sig: NodeJS.Signals) => undefined as void;
  const requested = new Promise<NodeJS.Signals>((resolve) => {
    onSignal = (sig: NodeJS.Signals) => {
      abort.abort(new Error(`received ${sig}`));
      resolve(sig);
    };
  });
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  return {
    signal: abort.signal,
    requested,
    dispose() {
      process.removeListener('SIGTERM', onSignal);
      process.removeListener('SIGINT', onSignal);
    },
  };
}

/**
 * SIGTERM must end the process within the unit's stop timeout (TimeoutStopSec = the shutdown probe's
 * budget + 30 s) even if some piece of the shutdown path hangs: every AWS call is already cut by the
 * stop signal, this is the last line. Armed on the first SIGTERM/SIGINT; exits 1 with a log line
 * 25 s after the probe budget. Once the daemon has returned, anything still holding the event loop
 * (an abandoned socket) gets 3 s before the process exits anyway.
 */
export const BACKSTOP_AFTER_PROBE_MS = 25000;

export function shutdownBackstop(runtime: Runtime): { finished(): void } {
  const budgetMs = runtime.config.sources.shutdownProbe.timeoutMs + BACKSTOP_AFTER_PROBE_MS;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    timer ??= setTimeout(() => {
      runtime.logger.error('shutdown overran its budget; exiting now', {
        stage: 'shutdown',
        durationMs: budgetMs,
      });
      setTimeout(() => process.exit(1), 200).unref();
    }, budgetMs);
    timer.unref();
  };
  process.once('SIGTERM', arm);
  process.once('SIGINT', arm);
  return {
    finished() {
      process.off('SIGTERM', arm);
      process.off('SIGINT', arm);
      if (timer) clearTimeout(timer);
      setTimeout(() => process.exit(), 3000).unref();
    },
  };
}

const INSTANCE_ID = /^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;

export function checkInstanceId(id: string, where: string): string {
  if (!INSTANCE_ID.test(id)) {
    throw new UsageError(`${where} "${id}" is not an EC2 instance id (i- followed by 8 or 17 hex digits)`);
  }
  return id;
}

/**
 * This host's instance id: `--instance-id` (checked), else IMDS. A command run by hand fails at once
 * (exit 2) when IMDS cannot tell, and checks what IMDS said; the daemon (`waitUntil`) keeps asking
 * IMDS, which may not be up yet at boot, until it answers or the signal aborts.
 */
export async function resolveInstanceId(
  runtime: Runtime,
  explicit: string | undefined,
  waitUntil?: AbortSignal,
): Promise<string> {
  if (explicit !== undefined) return checkInstanceId(explicit, '--instance-id');
  if (waitUntil) return waitForImdsInstanceId(runtime, waitUntil);
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

async function waitForImdsInstanceId(runtime: Runtime, stop: AbortSignal): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await runtime.instanceId();
    } catch (err) {
      if (stop.aborted) throw err;
      if (attempt === 1 || attempt % 30 === 0) {
        runtime.logger.warn('cannot read the instance id from IMDS yet; retrying', {
          stage: 'startup',
          errorCode: (err as { code?: string }).code ?? (err as Error).name,
          error: (err as Error).message,
          attempt,
        });
      }
      await runtime.clock.sleep(Math.min(runtime.config.sources.imds.pollIntervalMs, 2000), stop);
    }
  }
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
  // Bundled artefacts only: the line that shows rest never loads the SDK code of work.
  onSdkPackLoaded(({ source, durationMs, codeCache }) =>
    logger.info('loaded the AWS SDK code for work (EC2, Auto Scaling, S3, CloudWatch Logs)', {
      stage: 'aws',
      source,
      durationMs,
      codeCache,
      // A sweep child's lines reach the same log: the pid says which process loaded it.
      pid: process.pid,
    }),
  );
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
    env: process.env,
    selfCommand: [
      ...thisProgram(),
      ...(opts.config !== undefined ? ['--config', resolve(opts.config)] : []),
      ...(opts.logLevel !== undefined ? ['--log-level', opts.logLevel] : []),
    ],
    close() {
      if (clients) void clients.then(destroyAwsClients, () => undefined);
    },
  };
}

/**
 * The executable and script that run this process: a single executable is its own script; under
 * Node, the script (and Node's own flags) come after the runtime.
 */
export function thisProgram(): string[] {
  if (isSea()) return [process.execPath];
  return [process.execPath, ...process.execArgv, process.argv[1]];
}
