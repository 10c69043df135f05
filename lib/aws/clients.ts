import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { EC2Client } from '@aws-sdk/client-ec2';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Config } from '../config/schema';

/**
 * The only place AWS clients are configured. Endpoints are never set here: the SDK reads
 * AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_EC2, AWS_ENDPOINT_URL_SQS, AWS_ENDPOINT_URL_SNS, … and
 * the default credential chain itself, so any AWS-compatible endpoint works without code changes.
 *
 * Retries and timeouts belong to the one call path (lib/aws/call.ts): every client runs with
 * maxAttempts 1, and each attempt is aborted by our own per-call timeout, deadline and shutdown
 * signal. The handler's requestTimeout is only a backstop a few seconds behind ours, and it throws
 * (by default the SDK merely logs a warning and waits forever on a hung socket).
 */
export interface AwsClients {
  region: string;
  ec2: EC2Client;
  autoScaling: AutoScalingClient;
  sqs: SQSClient;
  /** The per-host queue's subscription to the group's topic. */
  sns: SNSClient;
  s3: S3Client;
  logs: CloudWatchLogsClient;
}

export interface CreateClientsOptions {
  region: string;
  /** aws.callTimeoutMs: the call path cuts each attempt at it; the handler's backstop comes later. */
  callTimeoutMs?: number;
  connectionTimeoutMs?: number;
  /** The longest SQS long poll (sources.sqs.waitTimeSeconds), which holds the socket that long. */
  longPollMs?: number;
}

const BACKSTOP_MARGIN_MS = 5000;

function requestHandler(opts: CreateClientsOptions, extraMs = 0) {
  return {
    requestTimeout: (opts.callTimeoutMs ?? 10000) + extraMs + BACKSTOP_MARGIN_MS,
    connectionTimeout: opts.connectionTimeoutMs ?? 3000,
    throwOnRequestTimeout: true,
  };
}

/**
 * The clients for one region, each built the first time it is read. At rest the daemon reads only
 * `sqs` (and `sns` for the per-host queue); EC2, Auto Scaling, S3 and CloudWatch Logs are built, and
 * in the bundled artefacts their SDK code loaded (scripts/package.ts), only when work comes.
 */
export function createAwsClients(opts: CreateClientsOptions): AwsClients {
  const base = { region: opts.region, requestHandler: requestHandler(opts), maxAttempts: 1 };
  const built = new Map<keyof AwsClients, { destroy(): void }>();
  const once = <T extends { destroy(): void }>(name: keyof AwsClients, make: () => T): T => {
    let client = built.get(name) as T | undefined;
    if (!client) built.set(name, (client = make()));
    return client;
  };
  const clients = {
    region: opts.region,
    get ec2() {
      return once('ec2', () => new EC2Client(base));
    },
    get autoScaling() {
      return once('autoScaling', () => new AutoScalingClient(base));
    },
    get sqs() {
      return once(
        'sqs',
        () => new SQSClient({ ...base, requestHandler: requestHandler(opts, opts.longPollMs ?? 20000) }),
      );
    },
    get s3() {
      return once('s3', () => new S3Client(base));
    },
    get sns() {
      return once('sns', () => new SNSClient(base));
    },
    get logs() {
      return once('logs', () => new CloudWatchLogsClient(base));
    },
  };
  builtClients.set(clients, built);
  return clients;
}

/** The clients each `createAwsClients` result has built so far: `destroyAwsClients` ends only those. */
const builtClients = new WeakMap<AwsClients, Map<keyof AwsClients, { destroy(): void }>>();

/**
 * An EC2 client alone, for another region (the sweeper's sweeper.regions), configured exactly as the
 * EC2 client of createAwsClients.
 */
export function createEc2Client(opts: CreateClientsOptions): EC2Client {
  return new EC2Client({ region: opts.region, requestHandler: requestHandler(opts), maxAttempts: 1 });
}

/** The client options `config` asks for. */
export function clientOptions(config: Config, region: string): CreateClientsOptions {
  return {
    region,
    callTimeoutMs: config.aws.callTimeoutMs,
    connectionTimeoutMs: config.aws.connectionTimeoutMs,
    longPollMs: config.sources.sqs.waitTimeSeconds * 1000,
  };
}

export function destroyAwsClients(clients: AwsClients): void {
  const built = builtClients.get(clients);
  for (const client of built?.values() ?? []) client.destroy();
  built?.clear();
}

/** Region from config, then the SDK's own env variables; undefined means "ask IMDS". */
export function regionFromEnv(configured?: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return configured ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
}
