import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import * as autoScalingSdk from '@aws-sdk/client-auto-scaling';
import * as logsSdk from '@aws-sdk/client-cloudwatch-logs';
import * as ec2Sdk from '@aws-sdk/client-ec2';
import * as s3Sdk from '@aws-sdk/client-s3';
import * as snsSdk from '@aws-sdk/client-sns';
import * as sqsSdk from '@aws-sdk/client-sqs';
import { awsApiCalls, AwsService } from '../../lib/aws/api-calls';

const repo = resolve(__dirname, '../..');
const policyText = readFileSync(join(repo, 'scripts/iam-policy.json'), 'utf8');
const policyDoc = readFileSync(join(repo, 'scripts/iam-policy.md'), 'utf8');

interface Statement {
  Sid: string;
  Effect: string;
  Action: string | string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}
const policy = JSON.parse(policyText) as { Version: string; Statement: Statement[] };
const list = (v: string | string[]) => (Array.isArray(v) ? v : [v]);

/** `ec2:DescribeVpcs`-style names of every action in lib/aws/api-calls.ts. */
const expectedActions = Object.entries(awsApiCalls).flatMap(([service, calls]) =>
  [...calls.read, ...calls.mutate].map((a) => `${service}:${a}`),
);

/** SDK client package → IAM service prefix. */
const clientPackages: Record<string, AwsService> = {
  '@aws-sdk/client-ec2': 'ec2',
  '@aws-sdk/client-auto-scaling': 'autoscaling',
  '@aws-sdk/client-sqs': 'sqs',
  '@aws-sdk/client-sns': 'sns',
  '@aws-sdk/client-s3': 's3',
  '@aws-sdk/client-cloudwatch-logs': 'logs',
};

describe('scripts/iam-policy.json', () => {
  it('grants every AWS action the code may make, and nothing else', () => {
    const granted = policy.Statement.flatMap((s) => list(s.Action));
    expect(granted.filter((a) => a.includes('*'))).toEqual([]);
    expect([...new Set(granted)].sort()).toEqual([...expectedActions].sort());
    expect(policy.Statement.every((s) => s.Effect === 'Allow')).toBe(true);
    expect(policy.Version).toBe('2012-10-17');
  });

  it('uses Resource "*" only for Describe calls and ListQueues, which have no resource-level permissions', () => {
    for (const s of policy.Statement) {
      const star = list(s.Resource).includes('*');
      const describeOnly = list(s.Action).every(
        (a) => /^(ec2|autoscaling):Describe/.test(a) || a === 'sqs:ListQueues',
      );
      expect([s.Sid, star]).toEqual([s.Sid, describeOnly]);
    }
  });

  it('restricts mutating EC2 calls on loxilb-created resources by the loxiType tag', () => {
    const tagged: Record<string, string> = {
      'network-interface': 'loxilb-eni',
      subnet: 'loxilb-subnet',
      'route-table': 'loxilb-routetable',
    };
    for (const s of policy.Statement) {
      for (const resource of list(s.Resource)) {
        const type = /:ec2:[^:]*:[^:]*:([a-z-]+)\//.exec(resource)?.[1];
        if (!type || !(type in tagged)) continue;
        const values = Object.values(s.Condition ?? {}).flatMap((c) =>
          list(c['aws:ResourceTag/loxiType'] ?? []),
        );
        expect([s.Sid, values.length]).toEqual([s.Sid, 1]);
        expect(values[0]).toMatch(/^loxilb-/);
        if (list(s.Resource).length === 1) expect(values[0]).toContain(tagged[type]);
      }
    }
  });

  it('lets CreateTags write the owner tag key only', () => {
    const createTags = policy.Statement.filter((s) => list(s.Action).includes('ec2:CreateTags'));
    expect(createTags).toHaveLength(1);
    const [s] = createTags;
    expect(s.Condition?.['ForAllValues:StringEquals']?.['aws:TagKeys']).toEqual(['${OwnerTagKey}']);
    expect(s.Condition?.Null?.['aws:TagKeys']).toBe('false');
  });

  it('scopes Auto Scaling completion, SQS, S3 and Logs to their one resource', () => {
    const resourceOf = (action: string) =>
      policy.Statement.filter((s) => list(s.Action).includes(action)).flatMap((s) => list(s.Resource));
    expect(resourceOf('autoscaling:CompleteLifecycleAction')).toEqual([
      'arn:aws:autoscaling:${Region}:${AccountId}:autoScalingGroup:*:autoScalingGroupName/${AutoScalingGroupName}',
    ]);
    expect(resourceOf('sqs:ReceiveMessage')).toEqual(['arn:aws:sqs:${Region}:${AccountId}:teardownd-*']);
    // The sweeper may delete only per-host queues.
    expect(resourceOf('sqs:DeleteQueue')).toEqual(['arn:aws:sqs:${Region}:${AccountId}:teardownd-*']);
    expect(resourceOf('sns:Subscribe')).toEqual(['arn:aws:sns:${Region}:${AccountId}:${TopicName}']);
    expect(resourceOf('s3:PutObject')).toEqual(['arn:aws:s3:::${ReportBucket}/${ReportPrefix}*']);
    expect(resourceOf('logs:PutLogEvents')).toEqual([
      'arn:aws:logs:${Region}:${AccountId}:log-group:${LogGroupName}:*',
    ]);
  });

  it('documents every placeholder and every statement in scripts/iam-policy.md', () => {
    const placeholders = [...new Set([...policyText.matchAll(/\$\{([A-Za-z]+)\}/g)].map((m) => m[1]))];
    // Only our placeholders: no IAM policy variable (`${aws:…}`, `${ec2:…}`) slips into the file.
    expect(
      [...policyText.matchAll(/\$\{([^}]*)\}/g)].map((m) => m[1]).filter((p) => !/^[A-Za-z]+$/.test(p)),
    ).toEqual([]);
    const documented = new Set([...policyDoc.matchAll(/`\$\{([A-Za-z]+)\}`/g)].map((m) => m[1]));
    expect(placeholders.filter((p) => !documented.has(p))).toEqual([]);
    // The envsubst line substitutes exactly the placeholders the file uses.
    const envsubst = /envsubst '([^']+)'/
      .exec(policyDoc)?.[1]
      .split(/\s+/)
      .map((v) => v.slice(2, -1));
    expect([...(envsubst ?? [])].sort()).toEqual([...placeholders].sort());
    for (const s of policy.Statement)
      expect([s.Sid, policyDoc.includes(`\`${s.Sid}\``)]).toEqual([s.Sid, true]);
  });
});

/** Every .ts file under lib/ and daemon/. */
function sourceFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) out.push(p);
    }
  };
  walk(join(repo, 'lib'));
  walk(join(repo, 'daemon'));
  return out;
}

interface CommandUse {
  /** `ec2:DescribeVpcs`, or undefined when the constructor is not imported from an SDK client. */
  action?: string;
  call: string;
}

/**
 * The `new XCommand(` calls in one source text, resolved to `service:X` through the file's imports
 * from the SDK clients (named imports, aliases, and `import * as ns`).
 */
function commandsIn(text: string): CommandUse[] {
  const named = new Map<string, string>(); // local name → service:Action
  const namespaces = new Map<string, AwsService>();
  for (const m of text.matchAll(/import\s+(type\s+)?\{([^}]*)\}\s+from\s+'(@aws-sdk\/client-[a-z0-9-]+)'/g)) {
    const service = clientPackages[m[3]];
    if (!service || m[1]) continue;
    for (const part of m[2].split(',')) {
      const [orig, alias] = part
        .trim()
        .replace(/^type\s+/, '')
        .split(/\s+as\s+/);
      const action = /^(\w+)Command$/.exec(orig ?? '')?.[1];
      if (action) named.set(alias ?? orig, `${service}:${action}`);
    }
  }
  for (const m of text.matchAll(/import\s+\*\s+as\s+(\w+)\s+from\s+'(@aws-sdk\/client-[a-z0-9-]+)'/g)) {
    const service = clientPackages[m[2]];
    if (service) namespaces.set(m[1], service);
  }
  const uses: CommandUse[] = [];
  for (const m of text.matchAll(/new\s+(?:(\w+)\.)?(\w+)\s*\(/g)) {
    const [call, ns, name] = m;
    // An SDK command imported under an alias, or anything named *Command (commander's plain
    // `new Command(` is not an AWS call).
    if (!(named.has(name) && !ns) && !(name.endsWith('Command') && name !== 'Command')) continue;
    const service = ns ? namespaces.get(ns) : undefined;
    const action = ns
      ? service
        ? `${service}:${name.replace(/Command$/, '')}`
        : undefined
      : named.get(name);
    uses.push({ action, call: call.replace(/\s*\($/, '(') });
  }
  return uses;
}

function commandsUsedInSource(): { used: Map<string, string[]>; unresolved: string[] } {
  const used = new Map<string, string[]>();
  const unresolved: string[] = [];
  for (const file of sourceFiles()) {
    const where = relative(repo, file);
    for (const { action, call } of commandsIn(readFileSync(file, 'utf8'))) {
      if (!action) unresolved.push(`${where}: ${call}`);
      else used.set(action, [...(used.get(action) ?? []), where]);
    }
  }
  return { used, unresolved };
}

describe('the source scanner', () => {
  it('resolves named, aliased and namespace imports and flags constructors it cannot place', () => {
    const text = [
      "import { Command } from 'commander';",
      "import { DescribeVpcsCommand, DeleteSubnetCommand as DelSubnet, EC2Client } from '@aws-sdk/client-ec2';",
      "import type { ReceiveMessageCommandOutput } from '@aws-sdk/client-sqs';",
      "import * as asg from '@aws-sdk/client-auto-scaling';",
      "import { MysteryCommand } from './elsewhere';",
      "new Command('x'); await c.send(new DescribeVpcsCommand({}));",
      'await c.send(new DelSubnet({ SubnetId })); await a.send(new asg.CompleteLifecycleActionCommand (input));',
      'new MysteryCommand({});',
    ].join('\n');
    expect(commandsIn(text)).toEqual([
      { action: 'ec2:DescribeVpcs', call: 'new DescribeVpcsCommand(' },
      { action: 'ec2:DeleteSubnet', call: 'new DelSubnet(' },
      { action: 'autoscaling:CompleteLifecycleAction', call: 'new asg.CompleteLifecycleActionCommand(' },
      { action: undefined, call: 'new MysteryCommand(' },
    ]);
  });
});

describe('lib/aws/api-calls.ts cannot rot', () => {
  const { used, unresolved } = commandsUsedInSource();

  it('every SDK command the source constructs is resolvable to an AWS client', () => {
    expect(unresolved).toEqual([]);
  });

  it('the source makes no AWS call missing from api-calls.ts (and so from the IAM policy)', () => {
    const missing = [...used.keys()].filter((a) => !expectedActions.includes(a));
    expect(missing.map((a) => `${a} (used in ${used.get(a)!.join(', ')})`)).toEqual([]);
  });

  it('every action in api-calls.ts is used somewhere in lib/ or daemon/', () => {
    expect(expectedActions.filter((a) => !used.has(a))).toEqual([]);
  });

  it('every action in api-calls.ts is a real command of its SDK client', () => {
    const modules: Record<AwsService, Record<string, unknown>> = {
      ec2: ec2Sdk,
      autoscaling: autoScalingSdk,
      sqs: sqsSdk,
      sns: snsSdk,
      s3: s3Sdk,
      logs: logsSdk,
    };
    const unknown = expectedActions.filter((a) => {
      const [service, action] = a.split(':') as [AwsService, string];
      return typeof modules[service][`${action}Command`] !== 'function';
    });
    expect(unknown).toEqual([]);
  });
});
