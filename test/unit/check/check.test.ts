import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  DescribeAutoScalingInstancesCommand,
  DescribeLifecycleHooksCommand,
} from '@aws-sdk/client-auto-scaling';
import {
  CreateTagsCommand,
  DeleteNetworkInterfaceCommand,
  DeleteRouteTableCommand,
  DeleteSubnetCommand,
  DescribeAddressesCommand,
  DescribeInstancesCommand,
  DescribeNetworkInterfacesCommand,
  DescribeRouteTablesCommand,
  DescribeSpotInstanceRequestsCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  DetachNetworkInterfaceCommand,
  DisassociateAddressCommand,
  DisassociateRouteTableCommand,
  EC2Client,
  ReleaseAddressCommand,
} from '@aws-sdk/client-ec2';
import { ListSubscriptionsByTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { awsApiCalls } from '../../../lib/aws/api-calls';
import { runChecks } from '../../../lib/check/check';
import {
  CheckDeps,
  checkExitCode,
  CheckResult,
  formatCheckLine,
  policyStatements,
} from '../../../lib/check/common';
import { ConfigInput } from '../../../lib/config/schema';
import { parseConfig } from '../../../lib/config/load';
import { systemClock } from '../../../lib/clock';
import { nullLogger } from '../../../lib/log';
import { ImdsError } from '../../../lib/sources/imds-client';

const ec2 = mockClient(EC2Client);
const asg = mockClient(AutoScalingClient);
const sqs = mockClient(SQSClient);
const sns = mockClient(SNSClient);
const TOPIC = 'arn:aws:sns:us-east-1:123456789012:teardownd';

const INSTANCE = 'i-0aaaaaaaaaaaaaaa1';
const QUEUE = 'https://sqs.us-east-1.amazonaws.com/123456789012/teardownd-events';
const ENI = 'eni-0loxilb00000000a';
const ATTACHMENT = 'eni-attach-0aaaaaaaaaaaa';
const SUBNET = 'subnet-0loxilb0000000';
const RTB = 'rtb-0loxilb00000000';
const RTB_ASSOC = 'rtbassoc-0loxilb0000';
const EIP_ASSOC = 'eipassoc-0loxilb0000';

function awsError(name: string, message = name): Error {
  return Object.assign(new Error(message), { name, $fault: 'client', $metadata: { httpStatusCode: 400 } });
}

// Typed as one command class so the mock's overloads accept the list; each is used by name only.
const mutatingCommands = [
  CreateTagsCommand,
  DisassociateAddressCommand,
  ReleaseAddressCommand,
  DetachNetworkInterfaceCommand,
  DeleteNetworkInterfaceCommand,
  DisassociateRouteTableCommand,
  DeleteRouteTableCommand,
  DeleteSubnetCommand,
] as unknown as Array<typeof DeleteSubnetCommand>;

/** A loxilb MASTER with all its resources, a role that allows everything, a healthy queue and hook. */
function healthyAws(): void {
  ec2.on(DescribeInstancesCommand).resolves({
    Reservations: [{ Instances: [{ InstanceId: INSTANCE, State: { Name: 'running' }, VpcId: 'vpc-0abc' }] }],
  });
  ec2.on(DescribeNetworkInterfacesCommand).resolves({
    NetworkInterfaces: [
      {
        NetworkInterfaceId: ENI,
        Attachment: { AttachmentId: ATTACHMENT, InstanceId: INSTANCE, DeviceIndex: 1 },
        TagSet: [{ Key: 'loxiType', Value: 'loxilb-eni' }],
      },
    ],
  });
  ec2.on(DescribeSubnetsCommand).resolves({ Subnets: [{ SubnetId: SUBNET }] });
  ec2.on(DescribeRouteTablesCommand).resolves({
    RouteTables: [
      {
        RouteTableId: RTB,
        Associations: [{ Main: false, RouteTableAssociationId: RTB_ASSOC, SubnetId: SUBNET }],
      },
    ],
  });
  ec2.on(DescribeAddressesCommand).resolves({
    Addresses: [
      {
        AllocationId: 'eipalloc-0user',
        AssociationId: EIP_ASSOC,
        NetworkInterfaceId: ENI,
        Tags: [{ Key: 'teardownd:release', Value: 'true' }],
      },
    ],
  });
  ec2.on(DescribeVpcsCommand).resolves({ Vpcs: [{ VpcId: 'vpc-0abc' }] });
  for (const c of mutatingCommands)
    ec2.on(c).rejects(awsError('DryRunOperation', 'Request would have succeeded'));
  asg.on(DescribeAutoScalingInstancesCommand).resolves({
    AutoScalingInstances: [{ InstanceId: INSTANCE, AutoScalingGroupName: 'loxilb-asg' } as never],
  });
  asg.on(DescribeLifecycleHooksCommand).resolves({
    LifecycleHooks: [
      {
        LifecycleHookName: 'teardownd-terminate',
        AutoScalingGroupName: 'loxilb-asg',
        LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
        HeartbeatTimeout: 300,
        DefaultResult: 'CONTINUE',
      },
    ],
  });
  sqs.on(GetQueueAttributesCommand).resolves({
    Attributes: { VisibilityTimeout: '60', ApproximateNumberOfMessages: '0', RedrivePolicy: '{}' },
  });
}

const baseConfig: ConfigInput = {
  cloud: { region: 'us-east-1' },
  sources: { sqs: { queueUrl: QUEUE } },
  lifecycle: { autoScalingGroupName: 'loxilb-asg', hookName: 'teardownd-terminate' },
};

function deps(overrides: Partial<CheckDeps> = {}, config: ConfigInput = baseConfig): CheckDeps {
  return {
    config: parseConfig(config),
    configFile: { path: '/etc/teardownd/config.json', found: true },
    imds: {
      endpoint: 'http://169.254.169.254',
      require: async (path) => {
        if (path === 'meta-data/instance-id') return INSTANCE;
        if (path === 'meta-data/placement/region') return 'us-east-1';
        throw new ImdsError(`no ${path}`, 404);
      },
    },
    env: {},
    createClients: () => ({
      ec2: new EC2Client({ region: 'us-east-1' }),
      autoScaling: new AutoScalingClient({ region: 'us-east-1' }),
      sqs: new SQSClient({ region: 'us-east-1' }),
      sns: new SNSClient({ region: 'us-east-1' }),
    }),
    httpGet: async () => ({ status: 200, body: '{"Attr":[{"instance":"llb-inst0","state":"MASTER"}]}' }),
    checkWritable: async () => undefined,
    // loxilb runs on the host with the flags the config agrees with.
    loxilb: { pid: 812, program: '/usr/local/sbin/loxilb', cloud: 'aws', cloudInstance: '' },
    clock: systemClock,
    logger: nullLogger(),
    ...overrides,
  };
}

const byCheck = (results: CheckResult[], check: string) => results.filter((r) => r.check === check);
const one = (results: CheckResult[], check: string): CheckResult => {
  const hits = byCheck(results, check);
  if (hits.length !== 1)
    throw new Error(`expected one ${check} result, got:\n${results.map(formatCheckLine).join('\n')}`);
  return hits[0];
};

beforeEach(() => {
  ec2.reset();
  asg.reset();
  sqs.reset();
  sns.reset();
});

describe('teardownd check (lib/check/check.ts)', () => {
  it('a healthy MASTER: every DryRun is allowed, everything OK but the unverifiable, exit 0', async () => {
    healthyAws();
    const results = await runChecks(deps({}, { ...baseConfig, eip: { policy: 'release-owned' } }));
    expect(results.filter((r) => r.status === 'FAIL')).toEqual([]);
    expect(results.filter((r) => r.status === 'WARN').map((r) => r.check)).toEqual(['unverifiable']);
    expect(checkExitCode(results)).toBe(0);
    expect(one(results, 'ec2:DeleteSubnet').what).toBe(`ec2:DeleteSubnet allowed (DryRun on ${SUBNET})`);
    expect(one(results, 'ec2:DetachNetworkInterface').resource).toBe(ATTACHMENT);
    expect(one(results, 'ec2:DisassociateRouteTable').resource).toBe(RTB_ASSOC);
    expect(one(results, 'ec2:DisassociateAddress').resource).toBe(EIP_ASSOC);
    expect(one(results, 'loxilb-api').what).toMatch(/llb-inst0 is MASTER/);
    expect(one(results, 'autoscaling:DescribeLifecycleHooks').what).toMatch(
      /heartbeat 300 s, default CONTINUE/,
    );
    // Zero calls that could change anything: every mutating command carried DryRun=true.
    for (const c of mutatingCommands) {
      const calls = ec2.commandCalls(c);
      expect([c.name, calls.length]).toEqual([c.name, 1]);
      expect([c.name, calls[0].args[0].input]).toEqual([c.name, expect.objectContaining({ DryRun: true })]);
    }
    // CreateTags writes only the owner tag key.
    expect(ec2.commandCalls(CreateTagsCommand)[0].args[0].input.Tags).toEqual([
      { Key: 'teardownd:owner', Value: INSTANCE },
    ]);
  });

  it('a denied DeleteSubnet is a FAIL naming the action, the resource and the policy statement', async () => {
    healthyAws();
    ec2
      .on(DeleteSubnetCommand)
      .rejects(awsError('UnauthorizedOperation', 'You are not authorized to perform this operation.'));
    const results = await runChecks(deps());
    const denied = one(results, 'ec2:DeleteSubnet');
    expect(denied.status).toBe('FAIL');
    expect(formatCheckLine(denied)).toBe(
      `FAIL ec2:DeleteSubnet denied on ${SUBNET} (UnauthorizedOperation) — allow ec2:DeleteSubnet on ${SUBNET} ` +
        "for this instance's role: statement Ec2TearDownLoxilbSubnet of scripts/iam-policy.json " +
        '(an encoded reason decodes with `aws sts decode-authorization-message`)',
    );
    expect(checkExitCode(results)).toBe(1);
    // The other DryRuns still ran and passed.
    expect(one(results, 'ec2:DeleteRouteTable').status).toBe('OK');
  });

  it('stops at once if the endpoint executes a DryRun call instead of refusing it', async () => {
    healthyAws();
    ec2.on(CreateTagsCommand).resolves({});
    const results = await runChecks(deps());
    const executed = one(results, 'ec2:CreateTags');
    expect(executed.status).toBe('FAIL');
    expect(executed.what).toMatch(/EXECUTED: the endpoint ignored DryRun=true/);
    for (const c of mutatingCommands.filter((c) => (c as unknown) !== CreateTagsCommand))
      expect([c.name, ec2.commandCalls(c).length]).toEqual([c.name, 0]);
  });

  it('a queue that does not exist, is denied, or cannot be reached: each a FAIL with its own fix', async () => {
    healthyAws();
    sqs
      .on(GetQueueAttributesCommand)
      .rejects(awsError('QueueDoesNotExist', 'The specified queue does not exist.'));
    const missing = one(await runChecks(deps()), 'sqs');
    expect(formatCheckLine(missing)).toBe(
      `FAIL queue ${QUEUE} does not exist (QueueDoesNotExist) — fix sources.sqs.queueUrl (the QueueUrl output of scripts/aws-setup.yaml) or create the queue`,
    );

    sqs.on(GetQueueAttributesCommand).rejects(awsError('AccessDenied'));
    const denied = one(await runChecks(deps()), 'sqs');
    expect(denied.status).toBe('FAIL');
    expect(denied.fix).toMatch(/SqsConsumeTerminationQueue/);

    sqs
      .on(GetQueueAttributesCommand)
      .rejects(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
    const down = one(await runChecks(deps()), 'sqs');
    expect(down.what).toMatch(/unreachable: ECONNREFUSED/);
  });

  it('shared queue: a redrive policy tighter than 10 × the consumers is a WARN with the number to use', async () => {
    healthyAws();
    const redrive = (n: number) =>
      sqs.on(GetQueueAttributesCommand).resolves({
        Attributes: {
          VisibilityTimeout: '60',
          RedrivePolicy: JSON.stringify({
            deadLetterTargetArn: 'arn:aws:sqs:us-east-1:1:dlq',
            maxReceiveCount: n,
          }),
        },
      });
    const shared = (sharedQueueConsumers?: number): ConfigInput => ({
      ...baseConfig,
      sources: { sqs: { queueUrl: QUEUE, sharedQueueConsumers } },
    });
    redrive(5);
    const tight = one(await runChecks(deps({}, shared(4))), 'sqs');
    expect(tight.status).toBe('WARN');
    expect(tight.what).toContain('maxReceiveCount 5 is tighter than 10 × 4 consumers = 40');
    expect(tight.fix).toContain('at least 40');
    expect(one(await runChecks(deps({}, shared())), 'sqs')).toMatchObject({
      status: 'WARN',
      what: expect.stringContaining('sources.sqs.sharedQueueConsumers is not set'),
    });
    redrive(40);
    expect(one(await runChecks(deps({}, shared(4))), 'sqs').status).toBe('OK');
    // A single consumer that deletes foreign messages has nothing to size.
    redrive(5);
    const single: ConfigInput = {
      ...baseConfig,
      sources: { sqs: { queueUrl: QUEUE, foreignMessages: 'delete' } },
    };
    expect(one(await runChecks(deps({}, single)), 'sqs').status).toBe('OK');
  });

  it('per-host topology: the topic is read, this host is found among its queues; near 200 filter policies is a WARN', async () => {
    healthyAws();
    const config: ConfigInput = { ...baseConfig, sources: { sqs: { topicArn: TOPIC } } };
    const sub = (id: string) => ({
      SubscriptionArn: `${TOPIC}:${id}`,
      Protocol: 'sqs',
      Endpoint: `arn:aws:sqs:us-east-1:123456789012:teardownd-${id}`,
      TopicArn: TOPIC,
    });
    sns
      .on(ListSubscriptionsByTopicCommand)
      .resolves({ Subscriptions: [sub(INSTANCE), sub('i-0bbbbbbbbbbbbbbb2')] });
    const ok = one(await runChecks(deps({}, config)), 'sqs');
    expect(ok).toMatchObject({ status: 'OK' });
    expect(ok.what).toBe(`topic ${TOPIC}: 2 host queue(s) subscribed, teardownd-${INSTANCE} among them`);
    expect(sqs.commandCalls(GetQueueAttributesCommand)).toHaveLength(0);
    const many = Array.from({ length: 185 }, (_, i) => sub(`i-0${String(i).padStart(16, '0')}`));
    sns.on(ListSubscriptionsByTopicCommand).resolves({ Subscriptions: many });
    expect(one(await runChecks(deps({}, config)), 'sqs')).toMatchObject({
      status: 'WARN',
      what: expect.stringContaining("near SNS's default 200 filter policies per topic"),
    });
    sns.on(ListSubscriptionsByTopicCommand).rejects(awsError('NotFoundException', 'Topic does not exist'));
    expect(one(await runChecks(deps({}, config)), 'sqs')).toMatchObject({
      status: 'FAIL',
      fix: expect.stringContaining('sources.sqs.topicArn'),
    });
  });

  it('no queue configured is a WARN, not a failure', async () => {
    healthyAws();
    const results = await runChecks(deps({}, { ...baseConfig, sources: {} }));
    expect(one(results, 'sqs').status).toBe('WARN');
    expect(sqs.commandCalls(GetQueueAttributesCommand)).toHaveLength(0);
    expect(checkExitCode(results)).toBe(0);
  });

  it('IMDSv2 refused is a FAIL that says how to enable it; --instance-id lets the AWS checks go on', async () => {
    healthyAws();
    const results = await runChecks(
      deps({
        instanceId: INSTANCE,
        imds: {
          endpoint: 'http://169.254.169.254',
          require: async () => {
            throw new ImdsError('IMDS token PUT answered 403', 403);
          },
        },
      }),
    );
    const imds = one(results, 'imds');
    expect(imds.status).toBe('FAIL');
    expect(imds.fix).toMatch(/HttpTokens/);
    expect(one(results, 'ec2:DescribeInstances').status).toBe('OK');
  });

  it('warns when IMDSv1 fallback is allowed', async () => {
    healthyAws();
    const results = await runChecks(
      deps({}, { ...baseConfig, sources: { ...baseConfig.sources, imds: { allowV1Fallback: true } } }),
    );
    expect(one(results, 'imds-v1').status).toBe('WARN');
  });

  it('region: config first, then the environment, then IMDS; none is a FAIL that skips AWS', async () => {
    healthyAws();
    const { cloud: _cloud, ...noRegion } = baseConfig;
    expect(one(await runChecks(deps()), 'region').what).toBe('region us-east-1 (from config cloud.region)');
    expect(one(await runChecks(deps({ env: { AWS_REGION: 'eu-west-1' } }, noRegion)), 'region').what).toBe(
      'region eu-west-1 (from environment)',
    );
    expect(one(await runChecks(deps({}, noRegion)), 'region').what).toBe(
      'region us-east-1 (from IMDS placement/region)',
    );
    const noImds = deps(
      {
        instanceId: INSTANCE,
        imds: {
          endpoint: 'http://127.0.0.1:9',
          require: async () => {
            throw new ImdsError('timed out', undefined, 'ETIMEDOUT');
          },
        },
      },
      noRegion,
    );
    ec2.resetHistory();
    const results = await runChecks(noImds);
    expect(one(results, 'region').status).toBe('FAIL');
    expect(one(results, 'aws').what).toBe('AWS checks skipped: no region');
    expect(ec2.calls()).toHaveLength(0);
  });

  it('an unreachable EC2 endpoint is one FAIL line, and the DryRuns are not attempted', async () => {
    healthyAws();
    ec2
      .on(DescribeInstancesCommand)
      .rejects(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }));
    const results = await runChecks(deps());
    expect(byCheck(results, 'ec2')).toHaveLength(1);
    expect(one(results, 'ec2').what).toMatch(/EC2 endpoint unreachable \(ECONNREFUSED/);
    expect(one(results, 'ec2-dry-run').status).toBe('WARN');
    for (const c of mutatingCommands) expect(ec2.commandCalls(c)).toHaveLength(0);
  });

  it('an EC2 endpoint that never answers: each attempt cut at aws.callTimeoutMs, one FAIL line, checks go on', async () => {
    healthyAws();
    ec2.on(DescribeInstancesCommand).callsFake(() => new Promise(() => undefined));
    const results = await runChecks(
      deps(
        {},
        { ...baseConfig, aws: { callTimeoutMs: 100 }, executor: { retryBaseDelayMs: 1, retryMaxDelayMs: 2 } },
      ),
    );
    expect(one(results, 'ec2').what).toMatch(
      /EC2 endpoint unreachable \(CallTimeout: DescribeInstances: no answer within 100 ms/,
    );
    expect(ec2.commandCalls(DescribeInstancesCommand)).toHaveLength(3);
    for (const c of mutatingCommands) expect(ec2.commandCalls(c)).toHaveLength(0);
    // The rest of check still ran.
    expect(one(results, 'sqs').status).toBe('OK');
  });

  it('a denied Describe names the Describe statement', async () => {
    healthyAws();
    ec2.on(DescribeSubnetsCommand).rejects(awsError('UnauthorizedOperation'));
    const results = await runChecks(deps());
    expect(one(results, 'ec2:DescribeSubnets').fix).toMatch(/Ec2DescribeOwnedResources/);
    expect(one(results, 'ec2-dry-run').what).toMatch(/discovering the loxilb resources failed/);
  });

  it('a host without loxilb resources: the DryRuns it cannot try are one WARN', async () => {
    healthyAws();
    ec2.on(DescribeNetworkInterfacesCommand).resolves({ NetworkInterfaces: [] });
    ec2.on(DescribeSubnetsCommand).resolves({ Subnets: [] });
    ec2.on(DescribeRouteTablesCommand).resolves({ RouteTables: [] });
    ec2.on(DescribeAddressesCommand).resolves({ Addresses: [] });
    const results = await runChecks(deps());
    const warn = one(results, 'ec2-dry-run');
    expect(warn.status).toBe('WARN');
    expect(warn.what).toMatch(/ec2:CreateTags, ec2:DisassociateAddress, ec2:DetachNetworkInterface/);
    expect(checkExitCode(results)).toBe(0);
  });

  it('lifecycle: a missing hook is a FAIL; group membership without config is a WARN', async () => {
    healthyAws();
    asg.on(DescribeLifecycleHooksCommand).resolves({ LifecycleHooks: [] });
    const missing = one(await runChecks(deps()), 'autoscaling:DescribeLifecycleHooks');
    expect(missing.status).toBe('FAIL');
    expect(missing.what).toBe('lifecycle hook teardownd-terminate not found on group loxilb-asg');

    const { lifecycle: _l, ...noLifecycle } = baseConfig;
    const results = await runChecks(deps({}, noLifecycle));
    expect(one(results, 'lifecycle').status).toBe('WARN');
    expect(one(results, 'lifecycle').what).toMatch(/is in group loxilb-asg but lifecycle/);
  });

  it('an unreachable loxilb API is a WARN (the gate falls back), never a FAIL', async () => {
    healthyAws();
    const results = await runChecks(
      deps({
        httpGet: async () => {
          throw Object.assign(new Error('fetch failed'), { code: 'ECONNREFUSED' });
        },
      }),
    );
    expect(one(results, 'loxilb-api').status).toBe('WARN');
    expect(checkExitCode(results)).toBe(0);
  });

  it('a state dir that is not a directory is a FAIL (run refuses it); one not writable a WARN', async () => {
    healthyAws();
    const failing = (code: string) => async (dir: string) => {
      if (dir === '/var/lib/teardownd') throw Object.assign(new Error(code), { code });
    };
    const notDir = one(await runChecks(deps({ checkWritable: failing('ENOTDIR') })), 'state-dirs');
    expect(notDir).toMatchObject({ status: 'FAIL', what: 'not a directory: /var/lib/teardownd (ENOTDIR)' });
    const readOnly = one(await runChecks(deps({ checkWritable: failing('EROFS') })), 'state-dirs');
    expect(readOnly.status).toBe('WARN');
  });

  it('a missing default config file is a WARN, not a FAIL', async () => {
    healthyAws();
    const results = await runChecks(
      deps({ configFile: { path: '/etc/teardownd/config.json', found: false } }),
    );
    expect(one(results, 'config').status).toBe('WARN');
  });
});

describe('policyStatements (what a denial tells the operator to add)', () => {
  it('names, for every action the code may call, exactly the statements of scripts/iam-policy.json that grant it', () => {
    const policy = JSON.parse(
      readFileSync(join(resolve(__dirname, '../../..'), 'scripts/iam-policy.json'), 'utf8'),
    ) as {
      Statement: Array<{ Sid: string; Action: string | string[] }>;
    };
    const actions = Object.entries(awsApiCalls).flatMap(([svc, c]) =>
      [...c.read, ...c.mutate].map((a) => `${svc}:${a}`),
    );
    expect(Object.keys(policyStatements).sort()).toEqual([...actions].sort());
    for (const action of actions) {
      const granting = policy.Statement.filter((s) => [s.Action].flat().includes(action)).map((s) => s.Sid);
      expect([action, [...policyStatements[action]].sort()]).toEqual([action, granting.sort()]);
    }
  });

  it('loxilb-api: says how the gate will read BFD — off (setRoles, HTTP 500 message) or its sessions', async () => {
    healthyAws();
    const answer = (bfd: { status: number; body: string }) =>
      deps({
        httpGet: async (url: string) =>
          url.endsWith('/bfd/all')
            ? bfd
            : { status: 200, body: '{"Attr":[{"instance":"llb-inst0","state":"MASTER"}]}' },
      });
    const off = await runChecks(
      answer({
        status: 500,
        body: '{"code":500,"message":"bfd session not running","result":"bfd session not running"}',
      }),
    );
    expect(one(off, 'loxilb-api')).toMatchObject({
      status: 'OK',
      what: expect.stringMatching(/MASTER; BFD off \(kube-loxilb --setRoles\)/),
    });
    const on = await runChecks(
      answer({
        status: 200,
        body: '{"Attr":[{"instance":"llb-inst0","remoteIp":"10.0.2.11","state":"BFDUp"}]}',
      }),
    );
    expect(one(on, 'loxilb-api').what).toMatch(/BFD sessions: 10\.0\.2\.11 BFDUp/);
  });
});

describe('ha-cluster (who the gate counts with BFD off)', () => {
  it('names the cluster the gate will read, or warns that it cannot', async () => {
    healthyAws();
    ec2.on(DescribeSpotInstanceRequestsCommand).resolves({ SpotInstanceRequests: [] });
    const bfdOff = {
      httpGet: async (url: string) =>
        url.endsWith('/bfd/all')
          ? { status: 500, body: '{"code":500,"message":"bfd session not running"}' }
          : { status: 200, body: '{"Attr":[{"instance":"llb-inst0","state":"MASTER"}]}' },
    };
    asg.on(DescribeAutoScalingGroupsCommand).resolves({
      AutoScalingGroups: [
        {
          AutoScalingGroupName: 'loxilb-asg',
          Instances: [
            { InstanceId: INSTANCE, LifecycleState: 'InService' },
            { InstanceId: 'i-0bbbbbbbbbbbbbbb2', LifecycleState: 'InService' },
          ],
        } as never,
      ],
    });
    const ok = await runChecks(deps(bfdOff));
    expect(one(ok, 'ha-cluster')).toMatchObject({
      status: 'OK',
      what: expect.stringMatching(
        /Auto Scaling group loxilb-asg: other members i-0bbbbbbbbbbbbbbb2 \(InService\)/,
      ),
    });
    // BFD on: the cluster is not what the gate reads, so it is not asked.
    expect(byCheck(await runChecks(deps()), 'ha-cluster')).toEqual([]);
    asg.on(DescribeAutoScalingGroupsCommand).resolves({ AutoScalingGroups: [] });
    const unknown = await runChecks(deps(bfdOff));
    expect(one(unknown, 'ha-cluster')).toMatchObject({
      status: 'WARN',
      what: expect.stringMatching(/cannot tell this host's cluster: Auto Scaling group loxilb-asg not found/),
    });
  });
});
