import {
  DescribeAutoScalingInstancesCommand,
  DescribeAutoScalingInstancesCommandOutput,
  DescribeLifecycleHooksCommand,
  DescribeLifecycleHooksCommandOutput,
} from '@aws-sdk/client-auto-scaling';
import {
  CreateTagsCommand,
  DeleteNetworkInterfaceCommand,
  DeleteRouteTableCommand,
  DeleteSubnetCommand,
  DetachNetworkInterfaceCommand,
  DisassociateAddressCommand,
  DisassociateRouteTableCommand,
  Filter,
  ReleaseAddressCommand,
} from '@aws-sdk/client-ec2';
import { GetQueueAttributesCommand, GetQueueAttributesResult } from '@aws-sdk/client-sqs';
import { AwsClient, awsCall, AwsCommand } from '../aws/call';
import { listTopicSubscriptions } from '../aws/queue-calls';
import { hostQueueName, instanceIdOfHostQueue } from '../sources/host-queue';
import { gatherPeerFacts } from '../gate/ha-facts';
import { BFD_NOT_RUNNING, BFD_PATH } from '../gate/loxilb-api';
import type { AwsClients } from '../aws/clients';
import { errorCodeOf, isAccessDenied, isNoSuchQueue, isSnsNotFound, isUnreachable } from '../aws/errors';
import type { TokenBucket } from '../aws/pacer';
import type { Clock } from '../clock';
import { type Config } from '../config/schema';
import {
  AddressInfo,
  describeAddresses,
  describeEnis,
  describeInstance,
  describeRouteTables,
  describeSubnets,
  describeVpcs,
  EniInfo,
  loxilbTagFilter,
  ReadOptions,
  RouteTableInfo,
  SubnetInfo,
} from '../discovery/ec2-reads';
import type { Logger } from '../log';
import { flagMismatches, LoxilbFlags } from '../gate/loxilb-flags';

/**
 * `teardownd check`: verifies the host's set-up without changing anything. Every check becomes one
 * line an operator can act on (`OK|WARN|FAIL <what> — <fix>`). Side effects (IMDS, AWS clients,
 * HTTP, filesystem) are passed in.
 *
 * Mutating EC2 permissions are verified with DryRun=true against the real loxilb resources this
 * host can see: AWS answers DryRunOperation when the call would be allowed and
 * UnauthorizedOperation when it would not, evaluating the same tag conditions a real call would.
 */

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

function grantFix(action: string, resource?: string): string {
  const statements = policyStatements[action] ?? [];
  const where = statements.length
    ? `statement${statements.length > 1 ? 's' : ''} ${statements.join(' + ')} of scripts/iam-policy.json`
    : 'scripts/iam-policy.json';
  return (
    `allow ${action}${resource ? ` on ${resource}` : ''} for this instance's role: ${where}` +
    ' (an encoded reason decodes with `aws sts decode-authorization-message`)'
  );
}

function messageOf(err: unknown): string {
  const text = (err as Error)?.message ?? String(err);
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

/** A failed AWS read, as a check line: denied → grant it; unreachable → network; else the error. */
function awsFailure(check: string, action: string, err: unknown, resource?: string): CheckResult {
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
const CHECK_ATTEMPTS = 3;

function callContext(deps: CheckDeps) {
  return { clock: deps.clock, logger: deps.logger, config: deps.config, pacer: deps.pacer };
}

/**
 * check's AWS calls, through the one call path: cut by aws.callTimeoutMs, a few attempts (someone is
 * waiting at a terminal), DryRun calls paced like the mutating calls they stand for.
 */
function caller(deps: CheckDeps) {
  const ctx = callContext(deps);
  return async <O>(client: AwsClient, command: AwsCommand, dryRunOfMutation = false): Promise<O> =>
    (await awsCall<O>(ctx, client, command, { mutating: dryRunOfMutation, maxAttempts: CHECK_ATTEMPTS }))
      .output;
}

interface Discovery {
  /** False when a Describe failed: what was found is incomplete and DryRun targets may be missing. */
  complete: boolean;
  instanceId?: string;
  vpcId?: string;
  enis: EniInfo[];
  subnets: SubnetInfo[];
  routeTables: RouteTableInfo[];
  addresses: AddressInfo[];
}

export async function runChecks(deps: CheckDeps): Promise<CheckResult[]> {
  const { config } = deps;
  const results: CheckResult[] = [];
  const add = (r: CheckResult) => results.push(r);

  add(
    deps.configFile.found
      ? { status: 'OK', check: 'config', what: `config ${deps.configFile.path} parses` }
      : {
          status: 'WARN',
          check: 'config',
          what: `no config at ${deps.configFile.path}; running on built-in defaults`,
          fix: 'install one (scripts/install.sh writes the default) or pass --config',
        },
  );

  // IMDS: IMDSv2 only here, whatever the config says, so a silent v1 fallback cannot hide a problem.
  let instanceId = deps.instanceId;
  try {
    const fromImds = await deps.imds.require('meta-data/instance-id');
    instanceId ??= fromImds;
    add({
      status: 'OK',
      check: 'imds',
      what: `IMDSv2 at ${deps.imds.endpoint}: token and metadata read work (instance ${fromImds})`,
    });
  } catch (err) {
    const code = errorCodeOf(err);
    const status = (err as { status?: number }).status;
    const tokenRefused = status === 403 || status === 405 || /token/i.test(messageOf(err));
    add({
      status: config.sources.imds.enabled || !instanceId ? 'FAIL' : 'WARN',
      check: 'imds',
      what: `IMDS at ${deps.imds.endpoint}: ${messageOf(err)}`,
      fix: tokenRefused
        ? 'IMDSv2 tokens are refused: enable the metadata service with HttpTokens=required (or optional); in a container raise HttpPutResponseHopLimit to 2'
        : 'IMDS unreachable: run on an EC2 instance with HttpEndpoint=enabled, and in a container raise HttpPutResponseHopLimit to 2 (or set sources.imds.endpoint)',
      errorCode: code,
    });
  }
  if (config.sources.imds.allowV1Fallback) {
    add({
      status: 'WARN',
      check: 'imds-v1',
      what: 'sources.imds.allowV1Fallback is true: the daemon may fall back to IMDSv1',
      fix: 'set sources.imds.allowV1Fallback to false and require IMDSv2 on the instance (HttpTokens=required)',
    });
  }

  // Region.
  let region = config.cloud.region;
  let regionFrom = 'config cloud.region';
  if (!region && (deps.env.AWS_REGION || deps.env.AWS_DEFAULT_REGION)) {
    region = deps.env.AWS_REGION || deps.env.AWS_DEFAULT_REGION;
    regionFrom = 'environment';
  }
  if (!region) {
    try {
      region = await deps.imds.require('meta-data/placement/region');
      regionFrom = 'IMDS placement/region';
    } catch {
      /* reported below */
    }
  }
  if (!region) {
    add({
      status: 'FAIL',
      check: 'region',
      what: 'no AWS region: not in config, environment or IMDS',
      fix: 'set cloud.region in the config or AWS_REGION in /etc/default/teardownd',
    });
  } else {
    add({ status: 'OK', check: 'region', what: `region ${region} (from ${regionFrom})` });
  }

  add(await checkStateDirs(deps));
  checkLoxilbFlags(deps).forEach(add);
  add(await checkLoxilbApi(deps));

  if (!region) {
    add({
      status: 'FAIL',
      check: 'aws',
      what: 'AWS checks skipped: no region',
      fix: 'fix the region first',
    });
    return results;
  }

  const clients = deps.createClients(region);
  const discovery = await discover(deps, clients, instanceId, add);
  await checkMutatingEc2(deps, clients, discovery, add);
  await checkAutoScaling(deps, clients, discovery.instanceId, add);
  const cluster = await checkHaCluster(deps, clients, discovery.instanceId);
  if (cluster) add(cluster);
  add(
    deps.config.sources.sqs.topicArn
      ? await checkTopic(deps, clients, discovery.instanceId)
      : await checkQueue(deps, clients),
  );
  return results;
}

/** loxilb's own flags against the config: a config that overrides one looks for the wrong resources. */
export function checkLoxilbFlags(deps: Pick<CheckDeps, 'config' | 'loxilb'>): CheckResult[] {
  const { config, loxilb } = deps;
  const check = 'loxilb-flags';
  if (!config.loxilbFlags.enabled) {
    return [{ status: 'OK', check, what: 'loxilbFlags.enabled is false: loxilb flags are not read' }];
  }
  if (!loxilb) {
    return [
      {
        status: 'WARN',
        check,
        what: `no loxilb process under ${config.loxilbFlags.procRoot}: its --cloudcidrblock/--cloudinstance/--ka cannot be compared with the config`,
        fix: 'start loxilb first; if it runs but is not seen, the unit must not hide other users’ processes (ProtectProc=default)',
      },
    ];
  }
  const out: CheckResult[] = [];
  const flags = `--cloud=${loxilb.cloud ?? '(default on-prem)'} --cloudcidrblock=${loxilb.cloudCidrBlock ?? '(unset)'} --cloudinstance=${loxilb.cloudInstance ?? '(unset)'} --ka=${loxilb.ka ?? '(unset)'}`;
  const mismatches = flagMismatches(config, loxilb);
  for (const m of mismatches) {
    out.push({
      status: m.field === 'gate.static.bfd' ? 'WARN' : 'FAIL',
      check,
      what: `config ${m.field} is ${JSON.stringify(m.config)} but loxilb (pid ${loxilb.pid}) runs with ${m.flag}=${m.flagValue}`,
      fix: `remove ${m.field} from the config (loxilb's flag is the default) or make it match`,
    });
  }
  if (loxilb.cloud !== 'aws') {
    out.push({
      status: 'WARN',
      check,
      what: `loxilb (pid ${loxilb.pid}) runs without --cloud=aws: it creates nothing on AWS for teardownd to remove`,
      fix: 'run loxilb with --cloud=aws --cloudcidrblock=<CIDR> (loxilbdocs: aws-multi-az)',
    });
  }
  if (!mismatches.length) {
    out.push({
      status: 'OK',
      check,
      what: `loxilb (pid ${loxilb.pid}) runs with ${flags}; the config agrees`,
    });
  }
  return out;
}

async function checkStateDirs(deps: CheckDeps): Promise<CheckResult> {
  const dirs = [deps.config.stateDir, deps.config.reports.dir];
  const missing: string[] = [];
  const readOnly: string[] = [];
  const notDirs: string[] = [];
  for (const dir of dirs) {
    try {
      await deps.checkWritable(dir);
    } catch (err) {
      const code = errorCodeOf(err);
      (code === 'ENOENT' ? missing : code === 'ENOTDIR' ? notDirs : readOnly).push(`${dir} (${code})`);
    }
  }
  // `run` refuses a state dir that is not a directory (exit 2): check says so too.
  if (notDirs.length)
    return {
      status: 'FAIL',
      check: 'state-dirs',
      what: `not a directory: ${notDirs.join(', ')}`,
      fix: 'point stateDir / reports.dir at a directory (default /var/lib/teardownd and its reports/)',
    };
  if (!missing.length && !readOnly.length)
    return { status: 'OK', check: 'state-dirs', what: `${dirs.join(' and ')} writable` };
  const what = [
    missing.length ? `missing: ${missing.join(', ')}` : '',
    readOnly.length ? `not writable by this user: ${readOnly.join(', ')}` : '',
  ]
    .filter(Boolean)
    .join('; ');
  return {
    status: 'WARN',
    check: 'state-dirs',
    what: `state/report directories ${what}`,
    fix: 'scripts/install.sh creates both (owned by teardownd, the user the service runs as); not writable is fine when you ran check as another user',
  };
}

/** `; BFD …` as the gate will read it (HTTP 500 "bfd session not running" = BFD off), or ''. */
async function bfdSummary(deps: CheckDeps, baseUrl: string, timeoutMs: number): Promise<string> {
  try {
    const res = await deps.httpGet(`${baseUrl.replace(/\/+$/, '')}${BFD_PATH}`, timeoutMs);
    if (BFD_NOT_RUNNING.test(res.body))
      return '; BFD off (kube-loxilb --setRoles): the gate reads the cluster from Auto Scaling';
    if (res.status !== 200) return '';
    const body = JSON.parse(res.body) as { Attr?: Array<{ remoteIp?: string; state?: string }> | null };
    const sessions = (body.Attr ?? []).map((b) => `${b.remoteIp ?? '?'} ${b.state ?? '?'}`);
    return `; BFD ${sessions.length ? `sessions: ${sessions.join(', ')}` : 'running, no sessions'}`;
  } catch {
    return '';
  }
}

async function checkLoxilbApi(deps: CheckDeps): Promise<CheckResult> {
  const gate = deps.config.gate;
  if (gate.mode !== 'loxilb-api') {
    const scope =
      gate.mode === 'override' ? `scope ${gate.override}` : `static ${JSON.stringify(gate.static)}`;
    return {
      status: 'OK',
      check: 'loxilb-api',
      what: `gate.mode is ${gate.mode} (${scope}); loxilb's API is not consulted`,
    };
  }
  const url = `${gate.loxilbApiUrl.replace(/\/+$/, '')}/netlox/v1/config/cistate/all`;
  try {
    const res = await deps.httpGet(url, gate.apiTimeoutMs);
    if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
    let state = '';
    try {
      const body = JSON.parse(res.body) as { Attr?: Array<{ instance?: string; state?: string }> };
      const inst0 = body.Attr?.find((a) => a.instance === 'llb-inst0');
      if (inst0?.state) state = `; llb-inst0 is ${inst0.state}`;
    } catch {
      /* reachable is what matters here */
    }
    return {
      status: 'OK',
      check: 'loxilb-api',
      what: `loxilb API reachable at ${url}${state}${await bfdSummary(deps, gate.loxilbApiUrl, gate.apiTimeoutMs)}`,
    };
  } catch (err) {
    return {
      status: 'WARN',
      check: 'loxilb-api',
      what: `loxilb API unreachable at ${url}: ${messageOf(err)}`,
      fix: 'the gate reads HA role and BFD state from this API; without it (and without a recent observation) it decides handover and changes nothing: start loxilb, fix gate.loxilbApiUrl, or use gate.mode "static"',
      errorCode: errorCodeOf(err),
    };
  }
}

async function discover(
  deps: CheckDeps,
  clients: CheckClients,
  instanceId: string | undefined,
  add: (r: CheckResult) => void,
): Promise<Discovery> {
  const { config } = deps;
  const found: Discovery = {
    complete: true,
    instanceId,
    enis: [],
    subnets: [],
    routeTables: [],
    addresses: [],
  };
  const failed = (check: string, action: string, err: unknown, resource?: string): boolean => {
    found.complete = false;
    const code = errorCodeOf(err);
    if (isUnreachable(err)) {
      add({
        status: 'FAIL',
        check: 'ec2',
        what: `EC2 endpoint unreachable (${code}: ${messageOf(err)}); EC2 checks stopped`,
        fix: 'check network access to EC2 (route, VPC endpoint, HTTPS_PROXY/NO_PROXY in /etc/default/teardownd)',
        errorCode: code,
      });
      return true;
    }
    add(awsFailure(check, action, err, resource));
    return false;
  };
  // The same reads as the teardown's discovery (lib/discovery/ec2-reads.ts), with check's few attempts.
  const ctx = { ...callContext(deps), ec2: clients.ec2 };
  const read: ReadOptions = { maxAttempts: CHECK_ATTEMPTS };

  if (instanceId) {
    try {
      const inst = await describeInstance(ctx, instanceId, read);
      found.vpcId = inst?.vpcId;
      add({
        status: 'OK',
        check: 'ec2:DescribeInstances',
        what: `ec2:DescribeInstances: ${instanceId} is ${inst?.state ?? 'unknown'}${found.vpcId ? ` in ${found.vpcId}` : ''}`,
      });
    } catch (err) {
      if (failed('ec2:DescribeInstances', 'ec2:DescribeInstances', err, instanceId)) return found;
    }
  } else {
    add({
      status: 'FAIL',
      check: 'ec2:DescribeInstances',
      what: 'ec2:DescribeInstances not checked: instance id unknown',
      fix: 'fix IMDS or pass --instance-id',
    });
  }

  const reads: Array<[string, () => Promise<string>]> = [
    [
      'ec2:DescribeNetworkInterfaces',
      async () => {
        found.enis = await describeEnis(ctx, [loxilbTagFilter(config, 'eni')], read);
        return `${found.enis.length} loxilb ENI(s)`;
      },
    ],
    [
      'ec2:DescribeSubnets',
      async () => {
        found.subnets = await describeSubnets(ctx, [loxilbTagFilter(config, 'subnet')], read);
        return `${found.subnets.length} loxilb subnet(s)`;
      },
    ],
    [
      'ec2:DescribeRouteTables',
      async () => {
        found.routeTables = await describeRouteTables(ctx, [loxilbTagFilter(config, 'routeTable')], read);
        return `${found.routeTables.length} loxilb route table(s)`;
      },
    ],
    [
      'ec2:DescribeAddresses',
      async () => {
        const enis = found.enis.map((e) => e.networkInterfaceId).filter(Boolean);
        const filters: Filter[] = enis.length
          ? [{ Name: 'network-interface-id', Values: enis }]
          : [{ Name: 'domain', Values: ['vpc'] }];
        found.addresses = await describeAddresses(ctx, filters, read);
        return `${found.addresses.length} Elastic IP(s)${enis.length ? ' on loxilb ENIs' : ''}`;
      },
    ],
    [
      'ec2:DescribeVpcs',
      async () => {
        const cidr = config.cloud.cidrBlock;
        const input = cidr
          ? { Filters: [{ Name: 'cidr-block-association.cidr-block', Values: [cidr] }] }
          : found.vpcId
            ? { VpcIds: [found.vpcId] }
            : {};
        const vpcs = await describeVpcs(ctx, input, read);
        return cidr ? `${vpcs.length} VPC(s) holding ${cidr}` : `${vpcs.length} VPC(s)`;
      },
    ],
  ];
  for (const [action, read] of reads) {
    try {
      add({ status: 'OK', check: action, what: `${action}: ${await read()}` });
    } catch (err) {
      if (failed(action, action, err)) return found;
    }
  }
  return found;
}

interface DryRunCase {
  action: string;
  /** The real resource it is tried on, or undefined when none exists. */
  resource?: string;
  /** Why it is not needed, when it is not. */
  notNeeded?: string;
  send?: () => Promise<unknown>;
}

async function checkMutatingEc2(
  deps: CheckDeps,
  clients: CheckClients,
  d: Discovery,
  add: (r: CheckResult) => void,
): Promise<void> {
  const { config } = deps;
  const send = caller(deps);
  const dryRunSend = (command: AwsCommand) => send(clients.ec2, command, true);
  if (!d.complete) {
    add({
      status: 'WARN',
      check: 'ec2-dry-run',
      what: 'mutating EC2 permissions not verified: discovering the loxilb resources failed (above)',
      fix: 'fix the failures above and re-run check',
    });
    return;
  }
  const ownEni = d.enis.find(
    (e) => e.attachment?.instanceId === d.instanceId && (e.attachment?.deviceIndex ?? 0) !== 0,
  );
  const eni = ownEni ?? d.enis[0];
  const attached =
    ownEni ?? d.enis.find((e) => e.attachment?.attachmentId && (e.attachment.deviceIndex ?? 0) !== 0);
  const association = d.addresses.find(
    (a) => a.associationId && d.enis.some((e) => e.networkInterfaceId === a.networkInterfaceId),
  );
  const releasable = d.addresses.find(
    (a) => a.tags[config.eip.releaseTag.key] === config.eip.releaseTag.value,
  );
  const routeTable = d.routeTables[0];
  const rtAssociation = d.routeTables.flatMap((rt) => rt.associations).find((a) => !a.main);
  const subnet = d.subnets[0];

  // Least harmful first: if an endpoint ever ignored DryRun, a tag is the only thing it would change.
  const cases: DryRunCase[] = [
    {
      action: 'ec2:CreateTags',
      resource: eni?.networkInterfaceId,
      send: () =>
        dryRunSend(
          new CreateTagsCommand({
            DryRun: true,
            Resources: [eni!.networkInterfaceId],
            Tags: [{ Key: config.ownership.ownerTagKey, Value: d.instanceId ?? 'i-check' }],
          }),
        ),
    },
    {
      action: 'ec2:DisassociateAddress',
      resource: association?.associationId,
      send: () =>
        dryRunSend(
          new DisassociateAddressCommand({ DryRun: true, AssociationId: association!.associationId }),
        ),
    },
    config.eip.policy === 'release-owned'
      ? {
          action: 'ec2:ReleaseAddress',
          resource: releasable?.allocationId,
          send: () =>
            dryRunSend(new ReleaseAddressCommand({ DryRun: true, AllocationId: releasable!.allocationId })),
        }
      : { action: 'ec2:ReleaseAddress', notNeeded: 'eip.policy is "disassociate"' },
    {
      action: 'ec2:DetachNetworkInterface',
      resource: attached?.attachment?.attachmentId,
      send: () =>
        dryRunSend(
          new DetachNetworkInterfaceCommand({
            DryRun: true,
            AttachmentId: attached!.attachment!.attachmentId!,
          }),
        ),
    },
    {
      action: 'ec2:DeleteNetworkInterface',
      resource: eni?.networkInterfaceId,
      send: () =>
        dryRunSend(
          new DeleteNetworkInterfaceCommand({ DryRun: true, NetworkInterfaceId: eni!.networkInterfaceId }),
        ),
    },
    {
      action: 'ec2:DisassociateRouteTable',
      resource: rtAssociation?.associationId,
      send: () =>
        dryRunSend(
          new DisassociateRouteTableCommand({
            DryRun: true,
            AssociationId: rtAssociation!.associationId,
          }),
        ),
    },
    {
      action: 'ec2:DeleteRouteTable',
      resource: routeTable?.routeTableId,
      send: () =>
        dryRunSend(new DeleteRouteTableCommand({ DryRun: true, RouteTableId: routeTable!.routeTableId })),
    },
    {
      action: 'ec2:DeleteSubnet',
      resource: subnet?.subnetId,
      send: () => dryRunSend(new DeleteSubnetCommand({ DryRun: true, SubnetId: subnet!.subnetId })),
    },
  ];

  const untestable: string[] = [];
  for (const c of cases) {
    if (c.notNeeded) {
      add({ status: 'OK', check: c.action, what: `${c.action}: not used (${c.notNeeded})` });
      continue;
    }
    if (!c.resource) {
      untestable.push(c.action);
      continue;
    }
    const result = await dryRun(c.action, c.resource, c.send!);
    add(result);
    if (result.errorCode === 'DryRunIgnored') return; // stop before the endpoint changes anything else
  }
  if (untestable.length) {
    add({
      status: 'WARN',
      check: 'ec2-dry-run',
      what: `not verified, no loxilb resource to try them on: ${untestable.join(', ')}`,
      fix: 'normal on a host that is not the loxilb MASTER; re-run check on the MASTER once loxilb has created its resources',
    });
  }
  const noDryRun = ['ec2:DisassociateVpcCidrBlock'];
  const needsPending = deps.config.lifecycle.autoScalingGroupName
    ? ['autoscaling:CompleteLifecycleAction', 'autoscaling:RecordLifecycleActionHeartbeat']
    : [];
  add({
    status: 'WARN',
    check: 'unverifiable',
    what: `cannot be verified without changing something: ${[...noDryRun, ...needsPending].join(', ')}`,
    fix: 'compare the instance role with scripts/iam-policy.json (these have no DryRun, or need a pending lifecycle action); a denial shows as UnauthorizedOperation/AccessDenied in the teardown report',
  });
}

async function dryRun(action: string, resource: string, send: () => Promise<unknown>): Promise<CheckResult> {
  try {
    await send();
    return {
      status: 'FAIL',
      check: action,
      what: `${action} on ${resource} was EXECUTED: the endpoint ignored DryRun=true`,
      fix: 'do not run check against this endpoint; remaining DryRun checks were skipped',
      errorCode: 'DryRunIgnored',
      resource,
    };
  } catch (err) {
    const code = errorCodeOf(err);
    if (code === 'DryRunOperation') {
      return { status: 'OK', check: action, what: `${action} allowed (DryRun on ${resource})`, resource };
    }
    if (isAccessDenied(err)) {
      return {
        status: 'FAIL',
        check: action,
        what: `${action} denied on ${resource} (${code})`,
        fix: grantFix(action, resource),
        errorCode: code,
        resource,
      };
    }
    return {
      status: 'WARN',
      check: action,
      what: `${action} not verified: DryRun on ${resource} answered ${code}: ${messageOf(err)}`,
      fix: 're-run check; if it persists, the resource may be changing under loxilb right now',
      errorCode: code,
      resource,
    };
  }
}

/**
 * Who the gate will count as this host's cluster when BFD is off (kube-loxilb --setRoles) or in
 * static mode: without it, the gate can only decide handover. Only asked when it matters.
 */
async function checkHaCluster(
  deps: CheckDeps,
  clients: CheckClients,
  instanceId: string | undefined,
): Promise<CheckResult | undefined> {
  const gate = deps.config.gate;
  if (!instanceId || gate.mode === 'override') return undefined;
  if (gate.mode === 'loxilb-api') {
    const bfd = await deps
      .httpGet(`${gate.loxilbApiUrl.replace(/\/+$/, '')}${BFD_PATH}`, gate.apiTimeoutMs)
      .catch(() => undefined);
    if (!bfd || !BFD_NOT_RUNNING.test(bfd.body)) return undefined;
  }
  const view = await gatherPeerFacts(
    {
      ec2: { ec2: clients.ec2, clock: deps.clock, config: deps.config, logger: deps.logger },
      autoScaling: clients.autoScaling,
    },
    instanceId,
    { cluster: true },
  );
  if (!view.cluster) {
    return {
      status: 'WARN',
      check: 'ha-cluster',
      what: `the gate cannot tell this host's cluster: ${view.error}`,
      fix: 'with BFD off (kube-loxilb --setRoles) or gate.mode static, the gate then always decides handover and a last node standing leaks: run the hosts in one Auto Scaling group, or set gate.clusterTagKey',
      ...(view.errorCode ? { errorCode: view.errorCode } : {}),
    };
  }
  const others = view.cluster.members.map(
    (m) => `${m.instanceId} (${m.asgLifecycleState ?? m.instanceState ?? '?'})`,
  );
  return {
    status: 'OK',
    check: 'ha-cluster',
    what: `the gate's cluster is ${view.cluster.source}: ${others.length ? `other members ${others.join(', ')}` : 'no other member (this host is the last node standing)'}`,
  };
}

async function checkAutoScaling(
  deps: CheckDeps,
  clients: CheckClients,
  instanceId: string | undefined,
  add: (r: CheckResult) => void,
): Promise<void> {
  const { autoScalingGroupName: group, hookName } = deps.config.lifecycle;
  const send = caller(deps);
  let memberOf: string | undefined;
  if (instanceId) {
    try {
      const out = await send<DescribeAutoScalingInstancesCommandOutput>(
        clients.autoScaling,
        new DescribeAutoScalingInstancesCommand({ InstanceIds: [instanceId] }),
      );
      memberOf = out.AutoScalingInstances?.[0]?.AutoScalingGroupName;
      add({
        status: 'OK',
        check: 'autoscaling:DescribeAutoScalingInstances',
        what: `autoscaling:DescribeAutoScalingInstances: ${instanceId} ${memberOf ? `is in group ${memberOf}` : 'is in no Auto Scaling group'}`,
      });
    } catch (err) {
      add(
        awsFailure(
          'autoscaling:DescribeAutoScalingInstances',
          'autoscaling:DescribeAutoScalingInstances',
          err,
        ),
      );
    }
  }

  if (!group || !hookName) {
    if (memberOf) {
      add({
        status: 'WARN',
        check: 'lifecycle',
        what: `this instance is in group ${memberOf} but lifecycle.autoScalingGroupName/hookName are not set`,
        fix: 'set them (scripts/aws-setup.yaml outputs both) so a teardown triggered by IMDS or the shutdown probe can complete the lifecycle action',
      });
    }
    return;
  }
  if (memberOf && memberOf !== group) {
    add({
      status: 'WARN',
      check: 'lifecycle',
      what: `lifecycle.autoScalingGroupName is ${group} but this instance is in ${memberOf}`,
      fix: `set lifecycle.autoScalingGroupName to ${memberOf}`,
    });
  }
  try {
    const out = await send<DescribeLifecycleHooksCommandOutput>(
      clients.autoScaling,
      new DescribeLifecycleHooksCommand({ AutoScalingGroupName: group, LifecycleHookNames: [hookName] }),
    );
    const hook = out.LifecycleHooks?.find((h) => h.LifecycleHookName === hookName);
    if (!hook) {
      add({
        status: 'FAIL',
        check: 'autoscaling:DescribeLifecycleHooks',
        what: `lifecycle hook ${hookName} not found on group ${group}`,
        fix: 'create it (scripts/aws-setup.yaml) or fix lifecycle.hookName / lifecycle.autoScalingGroupName',
      });
    } else if (hook.LifecycleTransition !== 'autoscaling:EC2_INSTANCE_TERMINATING') {
      add({
        status: 'FAIL',
        check: 'autoscaling:DescribeLifecycleHooks',
        what: `lifecycle hook ${hookName} on ${group} is for ${hook.LifecycleTransition}, not termination`,
        fix: "point lifecycle.hookName at the group's autoscaling:EC2_INSTANCE_TERMINATING hook",
      });
    } else {
      add({
        status: 'OK',
        check: 'autoscaling:DescribeLifecycleHooks',
        what: `lifecycle hook ${hookName} on ${group}: terminating, heartbeat ${hook.HeartbeatTimeout ?? '?'} s, default ${hook.DefaultResult ?? '?'}`,
      });
    }
  } catch (err) {
    const code = errorCodeOf(err);
    if (code === 'ValidationError') {
      add({
        status: 'FAIL',
        check: 'autoscaling:DescribeLifecycleHooks',
        what: `group ${group}: ${messageOf(err)}`,
        fix: 'fix lifecycle.autoScalingGroupName',
        errorCode: code,
      });
    } else add(awsFailure('autoscaling:DescribeLifecycleHooks', 'autoscaling:DescribeLifecycleHooks', err));
  }
}

async function checkQueue(deps: CheckDeps, clients: CheckClients): Promise<CheckResult> {
  const send = caller(deps);
  const queueUrl = deps.config.sources.sqs.queueUrl;
  if (!queueUrl) {
    return {
      status: 'WARN',
      check: 'sqs',
      what: 'no SQS source: neither sources.sqs.topicArn nor sources.sqs.queueUrl is set',
      fix: 'set sources.sqs.topicArn (TopicArn output of scripts/aws-setup.yaml) to also receive lifecycle, Health and state-change events; IMDS and the shutdown probe still work',
    };
  }
  try {
    const out = await send<GetQueueAttributesResult>(
      clients.sqs,
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: ['QueueArn', 'VisibilityTimeout', 'RedrivePolicy', 'ApproximateNumberOfMessages'],
      }),
    );
    const a = out.Attributes ?? {};
    const dlq = a.RedrivePolicy ? 'with a DLQ' : 'without a DLQ';
    if (deps.config.sources.sqs.deadLetterAfterReceives && !a.RedrivePolicy) {
      return {
        status: 'WARN',
        check: 'sqs',
        what: `queue ${queueUrl} readable, but it has no RedrivePolicy while sources.sqs.deadLetterAfterReceives is set`,
        fix: 'give the queue a dead-letter queue (scripts/aws-setup.yaml does) or unset deadLetterAfterReceives, or malformed messages are redelivered forever',
      };
    }
    const sizing = redriveSizing(deps.config, a.RedrivePolicy);
    if (sizing)
      return { status: 'WARN', check: 'sqs', what: `queue ${queueUrl}: ${sizing.what}`, fix: sizing.fix };
    return {
      status: 'OK',
      check: 'sqs',
      what: `queue ${queueUrl} readable (${a.ApproximateNumberOfMessages ?? '?'} message(s) waiting, visibility ${a.VisibilityTimeout ?? '?'} s, ${dlq})`,
    };
  } catch (err) {
    const code = errorCodeOf(err);
    if (isNoSuchQueue(err)) {
      return {
        status: 'FAIL',
        check: 'sqs',
        what: `queue ${queueUrl} does not exist (${code})`,
        fix: 'fix sources.sqs.queueUrl (the QueueUrl output of scripts/aws-setup.yaml) or create the queue',
        errorCode: code,
      };
    }
    if (isAccessDenied(err)) {
      return {
        status: 'FAIL',
        check: 'sqs',
        what: `sqs:GetQueueAttributes on ${queueUrl} denied (${code})`,
        fix: grantFix('sqs:GetQueueAttributes', queueUrl),
        errorCode: code,
      };
    }
    return {
      status: 'FAIL',
      check: 'sqs',
      what: `queue ${queueUrl} unreachable: ${code}: ${messageOf(err)}`,
      fix: 'check sources.sqs.queueUrl, the region, and network access to SQS (VPC endpoint, proxy)',
      errorCode: code,
    };
  }
}

/**
 * The shared-queue sizing rule. Every host that is not a message's owner still receives it (and
 * hands it back after a delay), and each receive counts toward the redrive policy: with N consumers
 * the owner is the receiver each time with probability 1/N, so the chance its notice is
 * dead-lettered is ((N−1)/N)^maxReceiveCount. maxReceiveCount ≥ 10 × N keeps that below e^-10
 * (≈ 5 in 100,000); the owner then waits on average (N − 1) × the mean release delay.
 */
export const SHARED_QUEUE_RECEIVES_PER_CONSUMER = 10;

function redriveSizing(
  config: Config,
  redrivePolicy: string | undefined,
): { what: string; fix: string } | undefined {
  const sqs = config.sources.sqs;
  if (!redrivePolicy || sqs.foreignMessages === 'delete') return undefined;
  let maxReceiveCount: number;
  try {
    maxReceiveCount = Number((JSON.parse(redrivePolicy) as { maxReceiveCount?: unknown }).maxReceiveCount);
  } catch {
    return undefined;
  }
  if (!Number.isFinite(maxReceiveCount)) return undefined;
  if (sqs.sharedQueueConsumers === undefined) {
    return {
      what: `shared by the group, with a redrive policy of maxReceiveCount ${maxReceiveCount}, but sources.sqs.sharedQueueConsumers is not set`,
      fix: `set it to the group's maximum size so the sizing can be checked (maxReceiveCount ≥ ${SHARED_QUEUE_RECEIVES_PER_CONSUMER} × consumers), or move to sources.sqs.topicArn (a queue per host)`,
    };
  }
  const needed = SHARED_QUEUE_RECEIVES_PER_CONSUMER * sqs.sharedQueueConsumers;
  if (maxReceiveCount >= needed) return undefined;
  return {
    what: `redrive maxReceiveCount ${maxReceiveCount} is tighter than ${SHARED_QUEUE_RECEIVES_PER_CONSUMER} × ${sqs.sharedQueueConsumers} consumers = ${needed}: other hosts' receives can dead-letter a notice before its owner sees it`,
    fix: `raise maxReceiveCount to at least ${needed}, or move to sources.sqs.topicArn (a queue per host, nothing foreign to hand back)`,
  };
}

/** SNS's default quota of filter policies per topic: one per host of the group. */
export const FILTER_POLICIES_PER_TOPIC = 200;

/** Standard topology: the topic is readable, this host's queue (once created), and the quota. */
async function checkTopic(
  deps: CheckDeps,
  clients: CheckClients,
  instanceId: string | undefined,
): Promise<CheckResult> {
  const topicArn = deps.config.sources.sqs.topicArn!;
  let subs: Awaited<ReturnType<typeof listTopicSubscriptions>>;
  try {
    subs = await listTopicSubscriptions(callContext(deps), clients.sns, topicArn, {
      maxAttempts: CHECK_ATTEMPTS,
    });
  } catch (err) {
    const code = errorCodeOf(err);
    if (isSnsNotFound(err)) {
      return {
        status: 'FAIL',
        check: 'sqs',
        what: `topic ${topicArn} does not exist (${code})`,
        fix: 'fix sources.sqs.topicArn (the TopicArn output of scripts/aws-setup.yaml)',
        errorCode: code,
      };
    }
    if (isAccessDenied(err)) {
      return {
        status: 'FAIL',
        check: 'sqs',
        what: `sns:ListSubscriptionsByTopic on ${topicArn} denied (${code})`,
        fix: grantFix('sns:ListSubscriptionsByTopic', topicArn),
        errorCode: code,
      };
    }
    return {
      status: 'FAIL',
      check: 'sqs',
      what: `topic ${topicArn} unreachable: ${code}: ${messageOf(err)}`,
      fix: 'check sources.sqs.topicArn, the region, and network access to SNS (VPC endpoint, proxy)',
      errorCode: code,
    };
  }
  const hostQueues = subs.filter((s) => s.protocol === 'sqs' && instanceIdOfHostQueue(s.endpoint));
  const own = instanceId
    ? hostQueues.find((s) => instanceIdOfHostQueue(s.endpoint) === instanceId)
    : undefined;
  const where = `topic ${topicArn}: ${hostQueues.length} host queue(s) subscribed`;
  if (hostQueues.length >= FILTER_POLICIES_PER_TOPIC * 0.9) {
    return {
      status: 'WARN',
      check: 'sqs',
      what: `${where}, near SNS's default ${FILTER_POLICIES_PER_TOPIC} filter policies per topic`,
      fix: 'raise the "Filter policies per topic" quota (Service Quotas) before the group grows, or give part of the group its own topic',
    };
  }
  return {
    status: 'OK',
    check: 'sqs',
    what: `${where}${instanceId ? (own ? `, ${hostQueueName(instanceId)} among them` : `; ${hostQueueName(instanceId)} is created when the daemon starts`) : ''}`,
  };
}

/** `OK   <what>` or `FAIL <what> — <fix>`. */
export function formatCheckLine(r: CheckResult): string {
  return `${r.status.padEnd(4)} ${r.what}${r.fix && r.status !== 'OK' ? ` — ${r.fix}` : ''}`;
}

/** 0 when everything is OK or WARN, 1 when anything FAILed (2, bad config, is decided before). */
export function checkExitCode(results: CheckResult[]): 0 | 1 {
  return results.some((r) => r.status === 'FAIL') ? 1 : 0;
}
