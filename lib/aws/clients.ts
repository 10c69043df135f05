import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { EC2Client } from '@aws-sdk/client-ec2';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';

/**
 * The only place AWS clients are configured. Endpoints are never set here: the SDK reads
 * AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_EC2, AWS_ENDPOINT_URL_SQS, AWS_ENDPOINT_URL_SNS, … and
 * the default credential chain itself, so any AWS-compatible endpoint works without code changes.
 *
 * Retry ownership: EC2 and Auto Scaling calls are retried by lib/aws/retry.ts (deadline-aware,
 * logged), so those clients run with maxAttempts 1. SQS, SNS, S3 and CloudWatch Logs keep the SDK's
 * standard retries: their loops have no teardown deadline to respect.
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
  /** Per-request socket timeout; a hung connection must not eat the spot notice's two minutes. */
  requestTimeoutMs?: number;
  connectionTimeoutMs?: number;
}

export function createAwsClients(opts: CreateClientsOptions): AwsClients {
  const requestHandler = {
    requestTimeout: opts.requestTimeoutMs ?? 10000,
    connectionTimeout: opts.connectionTimeoutMs ?? 3000,
  };
  const base = { region: opts.region, requestHandler };
  return {
    region: opts.region,
    ec2: new EC2Client({ ...base, maxAttempts: 1 }),
    autoScaling: new AutoScalingClient({ ...base, maxAttempts: 1 }),
    // A long poll holds the socket for up to 20 s; the timeout must outlast it.
    sqs: new SQSClient({ ...base, requestHandler: { ...requestHandler, requestTimeout: 30000 } }),
    sns: new SNSClient({ ...base }),
    s3: new S3Client({ ...base }),
    logs: new CloudWatchLogsClient({ ...base }),
  };
}

/**
 * An EC2 client alone, for another region (the sweeper's sweeper.regions), configured exactly as the
 * EC2 client of createAwsClients.
 */
export function createEc2Client(opts: CreateClientsOptions): EC2Client {
  return new EC2Client({
    region: opts.region,
    requestHandler: {
      requestTimeout: opts.requestTimeoutMs ?? 10000,
      connectionTimeout: opts.connectionTimeoutMs ?? 3000,
    },
    maxAttempts: 1,
  });
}

export function destroyAwsClients(clients: AwsClients): void {
  clients.ec2.destroy();
  clients.autoScaling.destroy();
  clients.sqs.destroy();
  clients.sns.destroy();
  clients.s3.destroy();
  clients.logs.destroy();
}

/** Region from config, then the SDK's own env variables; undefined means "ask IMDS". */
export function regionFromEnv(configured?: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return configured ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
}
