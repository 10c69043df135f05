import { AwsClient, awsCall, AwsCommand } from '../aws/call';
import type { AwsClients } from '../aws/clients';
import { errorCodeOf, isAccessDenied } from '../aws/errors';
import type { TokenBucket } from '../aws/pacer';
import type { Clock } from '../clock';
import { type Config } from '../config/schema';
import type { Logger } from '../log';
import { LoxilbFlags } from '../gate/loxilb-flags';

/** What every check returns and shares: the result line, the IAM statement names, the call options. */

export type CheckStatus = 'OK' | 'WARN' | 'FAIL';

export interface CheckResult {
  status: CheckStatus;
  /** Short stable id (`config`, `imds`, `ec2:DeleteSubnet`, `sqs`, …) for machines. */
  check: string;
  /** What was checked and what was found. */
  what: string;
  /** What to do about it (WARN/FAIL). */
  fix?: string;
  errorCode?: string;
  resource?: string;
}

/** What `check` needs from IMDS (an ImdsClient with IMDSv1 fallback off). */
export interface CheckImds {
  readonly endpoint: string;
  require(path: string): Promise<string>;
}

export type CheckClients = Pick<AwsClients, 'ec2' | 'autoScaling' | 'sqs' | 'sns'>;

export interface CheckDeps {
  config: Config;
  /** The config file read; `found: false` means the default path was absent and defaults apply. */
  configFile: { path: string; found: boolean };
  imds: CheckImds;
  env: NodeJS.ProcessEnv;
  createClients(region: string): CheckClients;
  /** GET with a timeout; rejects on network errors. */
  httpGet(url: string, timeoutMs: number): Promise<{ status: number; body: string }>;
  /** Resolves when the directory exists and is writable by this process. */
  checkWritable(dir: string): Promise<void>;
  /** --instance-id, for running off-instance or when IMDS is down. */
  instanceId?: string;
  /** The running loxilb whose flags are the config's defaults (lib/gate/loxilb-flags.ts), if found. */
  loxilb?: LoxilbFlags;
  clock: Clock;
  logger: Logger;
  /** The per-process pacer of mutating EC2 calls (the DryRun checks use it too). */
  pacer?: TokenBucket;
}

/**
 * The scripts/iam-policy.json statement(s) granting each action, so a denial names what to add.
 * test/unit/check.test.ts keeps this equal to the policy file.
 */
export const policyStatements: Record<string, string[]> = {
  'ec2:DescribeAddresses': ['Ec2DescribeOwnedResources'],
  'ec2:DescribeInstances': ['Ec2DescribeOwnedResources'],
  'ec2:DescribeNetworkInterfaces': ['Ec2DescribeOwnedResources'],
  'ec2:DescribeRouteTables': ['Ec2DescribeOwnedResources'],
  'ec2:DescribeSpotInstanceRequests': ['Ec2DescribeOwnedResources'],
  'ec2:DescribeSubnets': ['Ec2DescribeOwnedResources'],
  'ec2:DescribeVpcs': ['Ec2DescribeOwnedResources'],
  'ec2:CreateTags': ['Ec2TagLoxilbResourcesWithTheOwnerKeyOnly'],
  'ec2:DeleteNetworkInterface': ['Ec2TearDownLoxilbEnis'],
  'ec2:DeleteRouteTable': ['Ec2TearDownLoxilbRouteTable'],
  'ec2:DeleteSubnet': ['Ec2TearDownLoxilbSubnet'],
  'ec2:DetachNetworkInterface': ['Ec2TearDownLoxilbEnis', 'Ec2DetachFromInstancesOfThisAccount'],
  'ec2:DisassociateAddress': [
    'Ec2DisassociateUntaggedElasticIps',
    'Ec2DisassociateAddressOnlyFromLoxilbEnis',
  ],
  'ec2:DisassociateRouteTable': ['Ec2TearDownLoxilbRouteTable', 'Ec2TearDownLoxilbSubnet'],
  'ec2:DisassociateVpcCidrBlock': ['Ec2DisassociateVpcCidrOfTheLoxilbVpc'],
  'ec2:ReleaseAddress': ['Ec2ReleaseOnlyElasticIpsMarkedForRelease'],
  'autoscaling:DescribeAutoScalingGroups': ['AutoScalingDescribe'],
  'autoscaling:DescribeAutoScalingInstances': ['AutoScalingDescribe'],
  'autoscaling:DescribeLifecycleHooks': ['AutoScalingDescribe'],
  'autoscaling:CompleteLifecycleAction': ['AutoScalingCompleteOwnLifecycleHook'],
  'autoscaling:RecordLifecycleActionHeartbeat': ['AutoScalingCompleteOwnLifecycleHook'],
  'sqs:ChangeMessageVisibility': ['SqsConsumeTerminationQueue'],
  'sqs:DeleteMessage': ['SqsConsumeTerminationQueue'],
  'sqs:GetQueueAttributes': ['SqsConsumeTerminationQueue'],
  'sqs:ReceiveMessage': ['SqsConsumeTerminationQueue'],
  'sqs:CreateQueue': ['SqsOwnPerHostQueue'],
  'sqs:DeleteQueue': ['SqsOwnPerHostQueue'],
  'sqs:SetQueueAttributes': ['SqsOwnPerHostQueue'],
  'sqs:ListQueues': ['SqsListPerHostQueues'],
  'sns:ListSubscriptionsByTopic': ['SnsSubscribePerHostQueue'],
  'sns:SetSubscriptionAttributes': ['SnsSubscribePerHostQueue'],
  'sns:Subscribe': ['SnsSubscribePerHostQueue'],
  'sns:Unsubscribe': ['SnsSubscribePerHostQueue'],
  's3:GetObject': ['S3ShipReports'],
  's3:PutObject': ['S3ShipReports'],
  'logs:CreateLogStream': ['LogsShipReports'],
  'logs:PutLogEvents': ['LogsShipReports'],
};

export function grantFix(action: string, resource?: string): string {
  const statements = policyStatements[action] ?? [];
  const where = statements.length
    ? `statement${statements.length > 1 ? 's' : ''} ${statements.join(' + ')} of scripts/iam-policy.json`
    : 'scripts/iam-policy.json';
  return (
    `allow ${action}${resource ? ` on ${resource}` : ''} for this instance's role: ${where}` +
    ' (an encoded reason decodes with `aws sts decode-authorization-message`)'
  );
}

export function messageOf(err: unknown): string {
  const text = (err as Error)?.message ?? String(err);
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

/** A failed AWS read, as a check line: denied → grant it; unreachable → network; else the error. */
export function awsFailure(check: string, action: string, err: unknown, resource?: string): CheckResult {
  const code = errorCodeOf(err);
  if (isAccessDenied(err)) {
    return {
      status: 'FAIL',
      check,
      what: `${action} denied (${code})`,
      fix: grantFix(action, resource),
      errorCode: code,
    };
  }
  return {
    status: 'FAIL',
    check,
    what: `${action} failed: ${code}: ${messageOf(err)}`,
    fix: 'check network access to the AWS endpoint (VPC endpoint, proxy in /etc/default/teardownd) and the credentials',
    errorCode: code,
  };
}

/** Attempts per check call: someone is waiting at a terminal. */
export const CHECK_ATTEMPTS = 3;

export function callContext(deps: CheckDeps) {
  return { clock: deps.clock, logger: deps.logger, config: deps.config, pacer: deps.pacer };
}

/**
 * check's AWS calls, through the one call path: cut by aws.callTimeoutMs, a few attempts (someone is
 * waiting at a terminal), DryRun calls paced like the mutating calls they stand for.
 */
export function caller(deps: CheckDeps) {
  const ctx = callContext(deps);
  return async <O>(client: AwsClient, command: AwsCommand, dryRunOfMutation = false): Promise<O> =>
    (await awsCall<O>(ctx, client, command, { mutating: dryRunOfMutation, maxAttempts: CHECK_ATTEMPTS }))
      .output;
}

/** `OK   <what>` or `FAIL <what> — <fix>`. */
export function formatCheckLine(r: CheckResult): string {
  return `${r.status.padEnd(4)} ${r.what}${r.fix && r.status !== 'OK' ? ` — ${r.fix}` : ''}`;
}

/** 0 when everything is OK or WARN, 1 when anything FAILed (2, bad config, is decided before). */
export function checkExitCode(results: CheckResult[]): 0 | 1 {
  return results.some((r) => r.status === 'FAIL') ? 1 : 0;
}
