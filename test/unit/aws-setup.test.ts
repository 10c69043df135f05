import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CollectionTag, parse, ScalarTag, Tags } from 'yaml';
import { ConfigSchema } from '../../lib/config/schema';
import { fixtureJson, withFields } from '../fixtures/events';

const repo = resolve(__dirname, '../..');
const templateText = readFileSync(join(repo, 'scripts/aws-setup.yaml'), 'utf8');

/** CloudFormation short-form intrinsics → their long form (`!GetAtt A.B` → `{"Fn::GetAtt": ["A","B"]}`). */
function cfnTags(): Tags {
  const names = ['Ref', 'GetAtt', 'Sub', 'Join', 'Select', 'Split', 'If', 'Equals', 'Not', 'And', 'Or'];
  const more = ['FindInMap', 'Base64', 'Cidr', 'GetAZs', 'ImportValue', 'Condition'];
  return [...names, ...more].flatMap((name) => {
    const key = name === 'Ref' || name === 'Condition' ? name : `Fn::${name}`;
    const scalar: ScalarTag = {
      tag: `!${name}`,
      resolve: (value: string) => ({ [key]: name === 'GetAtt' ? value.split('.') : value }),
    };
    const collection = (kind: 'seq' | 'map'): CollectionTag => ({
      tag: `!${name}`,
      collection: kind,
      resolve: (node) => ({ [key]: node.toJSON() }),
    });
    return [scalar, collection('seq'), collection('map')];
  });
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
interface Resource {
  Type: string;
  Properties: Record<string, Json>;
}
interface Template {
  Parameters: Record<string, { Type: string; Default?: Json; MinValue?: number; MaxValue?: number }>;
  Resources: Record<string, Resource>;
  Outputs: Record<string, { Value: Json }>;
}
const template = parse(templateText, { customTags: cfnTags() }) as Template;

/** Every intrinsic reference anywhere in a value: Ref names, GetAtt resources, ${X} in Sub strings. */
function references(value: Json, out: string[] = []): string[] {
  if (Array.isArray(value)) value.forEach((v) => references(v, out));
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'Ref') out.push(String(v));
      else if (k === 'Fn::GetAtt') out.push(String((v as string[])[0]));
      else if (k === 'Fn::Sub') {
        const text = Array.isArray(v) ? String(v[0]) : String(v);
        const locals = Array.isArray(v) ? Object.keys((v[1] as Record<string, Json>) ?? {}) : [];
        for (const m of text.matchAll(/\$\{([^}!]+)\}/g)) {
          const name = m[1].split('.')[0];
          if (!locals.includes(name)) out.push(name);
        }
      }
      references(v, out);
    }
  }
  return out;
}

/** Replaces `{Ref: Param}` by the given parameter values, so event patterns become plain data. */
function substitute(value: Json, params: Record<string, string>): Json {
  if (Array.isArray(value)) return value.map((v) => substitute(v, params));
  if (value && typeof value === 'object') {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === 'Ref') {
      const name = String(value.Ref);
      if (!(name in params)) throw new Error(`no test value for parameter ${name}`);
      return params[name];
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, params)]));
  }
  return value;
}

/**
 * EventBridge pattern matching, for what a pattern can say: every key of the pattern must be in the
 * event; an array lists alternatives (OR) and matches a scalar equal to one of them, or an array
 * field sharing any element with it; an object recurses; `{prefix}`, `{anything-but}` and
 * `{exists}` content filters.
 */
function matches(pattern: Json, event: Json): boolean {
  if (!pattern || typeof pattern !== 'object' || Array.isArray(pattern))
    throw new Error(`pattern must be an object: ${JSON.stringify(pattern)}`);
  const ev = (event && typeof event === 'object' && !Array.isArray(event) ? event : {}) as Record<
    string,
    Json
  >;
  return Object.entries(pattern).every(([key, rule]) => {
    const value = ev[key];
    if (Array.isArray(rule)) {
      const values = Array.isArray(value) ? value : [value];
      return rule.some((alt) =>
        alt !== null && typeof alt === 'object' && !Array.isArray(alt)
          ? contentFilter(alt, value, key in ev)
          : value !== undefined && values.some((v) => v === alt),
      );
    }
    if (rule && typeof rule === 'object') return value !== undefined && matches(rule, value);
    throw new Error(`pattern leaf ${key} must be an array: ${JSON.stringify(rule)}`);
  });
}

function contentFilter(filter: { [k: string]: Json }, value: Json | undefined, present: boolean): boolean {
  const [[kind, arg]] = Object.entries(filter);
  const scalars = (Array.isArray(value) ? value : [value]).filter((v) => v !== undefined);
  switch (kind) {
    case 'exists':
      return arg === present;
    case 'prefix':
      return scalars.some((v) => typeof v === 'string' && v.startsWith(String(arg)));
    case 'anything-but': {
      const excluded = Array.isArray(arg) ? arg : [arg];
      return present && scalars.every((v) => !excluded.includes(v));
    }
    default:
      throw new Error(`content filter ${kind} not supported by this matcher`);
  }
}

const resources = template.Resources;
const rules = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::Events::Rule');
const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
const testGroup = 'my-asg'; // the group of the ASG UG example in eventbridge-lifecycle-terminate.json

function patternOf(ruleName: string): Json {
  return substitute(resources[ruleName].Properties.EventPattern, { AutoScalingGroupName: testGroup });
}

describe('the EventBridge pattern matcher itself', () => {
  it('implements exact values, OR lists, nesting, missing fields and content filters', () => {
    const event = { source: 'aws.ec2', detail: { state: 'stopping', tags: ['a', 'b'] } };
    expect(matches({ source: ['aws.ec2', 'aws.health'] }, event)).toBe(true);
    expect(matches({ source: ['aws.health'] }, event)).toBe(false);
    expect(matches({ detail: { state: ['stopping'] } }, event)).toBe(true);
    expect(matches({ detail: { state: ['running'] } }, event)).toBe(false);
    expect(matches({ detail: { missing: ['x'] } }, event)).toBe(false);
    expect(matches({ detail: { tags: ['b'] } }, event)).toBe(true);
    expect(matches({ detail: { state: [{ prefix: 'stop' }] } }, event)).toBe(true);
    expect(matches({ detail: { state: [{ 'anything-but': ['stopping'] }] } }, event)).toBe(false);
    expect(matches({ detail: { other: [{ exists: false }] } }, event)).toBe(true);
    expect(matches({ detail: { other: [{ 'anything-but': 'x' }] } }, event)).toBe(false);
  });
});

describe('scripts/aws-setup.yaml', () => {
  it('parses as a CloudFormation template whose every reference resolves', () => {
    const known = new Set([...Object.keys(template.Parameters), ...Object.keys(resources)]);
    const dangling = references(template as unknown as Json).filter(
      (name) => !known.has(name) && !name.startsWith('AWS::'),
    );
    expect(dangling).toEqual([]);
    // And the check above sees references at all (Refs, GetAtts and Sub variables).
    expect(references(template as unknown as Json)).toEqual(
      expect.arrayContaining(['AutoScalingGroupName', 'Topic', 'TopicName', 'HeartbeatTimeout']),
    );
  });

  it('has one topic and no shared queue: each host makes its own (config sources.sqs.topicArn)', () => {
    expect(ofType('AWS::SQS::Queue')).toEqual([]);
    expect(ofType('AWS::SNS::Topic').map(([n]) => n)).toEqual(['Topic']);
    expect(resources.Topic.Properties.TopicName).toEqual({ Ref: 'TopicName' });
    const snippet = JSON.stringify(template.Outputs.ConfigSnippet.Value);
    expect(snippet).toContain('topicArn');
    expect(snippet).not.toContain('queueUrl');
  });

  it('has the terminate lifecycle hook on the group, notifying the topic, CONTINUE by default', () => {
    const hooks = ofType('AWS::AutoScaling::LifecycleHook');
    expect(hooks).toHaveLength(1);
    const [[, hook]] = hooks;
    expect(hook.Properties).toEqual(
      expect.objectContaining({
        AutoScalingGroupName: { Ref: 'AutoScalingGroupName' },
        LifecycleHookName: { Ref: 'LifecycleHookName' },
        LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
        DefaultResult: 'CONTINUE',
        HeartbeatTimeout: { Ref: 'HeartbeatTimeout' },
        NotificationTargetARN: { Ref: 'Topic' },
        RoleARN: { 'Fn::GetAtt': ['HookPublishRole', 'Arn'] },
      }),
    );
    // The hook's role may publish to this topic and nothing else.
    const role = resources.HookPublishRole.Properties as {
      AssumeRolePolicyDocument: { Statement: Array<Record<string, Json>> };
      Policies: Array<{ PolicyDocument: { Statement: Array<Record<string, Json>> } }>;
    };
    expect(role.AssumeRolePolicyDocument.Statement[0].Principal).toEqual({
      Service: 'autoscaling.amazonaws.com',
    });
    expect(role.Policies.flatMap((p) => p.PolicyDocument.Statement)).toEqual([
      { Effect: 'Allow', Action: 'sns:Publish', Resource: { Ref: 'Topic' } },
    ]);
    const heartbeat = template.Parameters.HeartbeatTimeout;
    expect([heartbeat.MinValue, heartbeat.MaxValue]).toEqual([30, 7200]);
    expect(heartbeat.Default).toBe(ConfigSchema.parse({}).lifecycle.fallbackHeartbeatTimeoutSeconds);
  });

  it('sends every rule to the topic, and lets only those rules publish to it', () => {
    expect(rules.map(([name]) => name).sort()).toEqual(
      [
        'HealthScheduledChangeRule',
        'LifecycleTerminateRule',
        'RebalanceRecommendationRule',
        'SpotInterruptionRule',
        'StateChangeRule',
      ].sort(),
    );
    for (const [name, rule] of rules) {
      expect([name, rule.Properties.State]).toEqual([name, 'ENABLED']);
      expect([name, rule.Properties.Targets]).toEqual([
        name,
        [{ Id: expect.any(String), Arn: { Ref: 'Topic' } }],
      ]);
    }
    const [[, policy]] = ofType('AWS::SNS::TopicPolicy');
    expect(policy.Properties.Topics).toEqual([{ Ref: 'Topic' }]);
    const statements = (policy.Properties.PolicyDocument as { Statement: Array<Record<string, Json>> })
      .Statement;
    const publishers = statements.filter((s) => s.Effect === 'Allow' && s.Action === 'sns:Publish');
    expect(publishers).toHaveLength(1);
    const [allow] = publishers;
    expect(allow.Principal).toEqual({ Service: 'events.amazonaws.com' });
    const sourceArns = (allow.Condition as Record<string, Record<string, Json[]>>).ArnEquals['aws:SourceArn'];
    expect(sourceArns.map((a) => (a as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0]).sort()).toEqual(
      rules.map(([name]) => name).sort(),
    );
    // The account may subscribe queues (and only queues): the hosts' own teardownd-<id>.
    const subscribe = statements.find((s) => Array.isArray(s.Action) && s.Action.includes('sns:Subscribe'));
    expect(subscribe?.Condition).toEqual({ StringEquals: { 'sns:Protocol': 'sqs' } });
  });

  it('outputs the topic ARN and the hook name for the config', () => {
    expect(template.Outputs.TopicArn.Value).toEqual({ Ref: 'Topic' });
    expect(template.Outputs.LifecycleHookName.Value).toEqual({ Ref: 'LifecycleHookName' });
  });
});

describe('each rule matches the real event it is for, and not the others', () => {
  const stateChange = (state: string) =>
    JSON.parse(withFields('eventbridge-state-change.json', { 'detail.state': state })) as Json;
  const lifecycle = fixtureJson('eventbridge-lifecycle-terminate.json') as Json;

  /** rule → [events it must match, events it must not match] */
  const cases: Record<string, [Array<[string, Json]>, Array<[string, Json]>]> = {
    LifecycleTerminateRule: [
      [
        ['ASG UG terminate lifecycle event (group my-asg)', lifecycle],
        [
          'the warm-pool variant of the same group (the daemon decides)',
          fixtureJson('eventbridge-lifecycle-terminate-warm-pool.json') as Json,
        ],
      ],
      [
        [
          "another group's terminate event (NTH fixture)",
          fixtureJson('eventbridge-lifecycle-terminate-nth.json') as Json,
        ],
        [
          'the launch lifecycle event of the same group',
          JSON.parse(
            withFields('eventbridge-lifecycle-terminate.json', {
              'detail-type': 'EC2 Instance-launch Lifecycle Action',
              'detail.LifecycleTransition': 'autoscaling:EC2_INSTANCE_LAUNCHING',
            }),
          ) as Json,
        ],
        ['an ASG-direct launch body', fixtureJson('asg-direct-launch.json') as Json],
        [
          'an ASG-direct terminate body (not an EventBridge event)',
          fixtureJson('asg-direct-terminate.json') as Json,
        ],
      ],
    ],
    SpotInterruptionRule: [
      [['EC2 UG spot interruption warning', fixtureJson('eventbridge-spot-interruption.json') as Json]],
      [['a rebalance recommendation', fixtureJson('eventbridge-rebalance.json') as Json]],
    ],
    RebalanceRecommendationRule: [
      [['EC2 UG rebalance recommendation', fixtureJson('eventbridge-rebalance.json') as Json]],
      [['a spot interruption warning', fixtureJson('eventbridge-spot-interruption.json') as Json]],
    ],
    StateChangeRule: [
      [
        ['state shutting-down', stateChange('shutting-down')],
        ['state stopping', stateChange('stopping')],
        ['state terminated', stateChange('terminated')],
      ],
      [
        [
          'the EC2 UG example as captured (state pending)',
          fixtureJson('eventbridge-state-change.json') as Json,
        ],
        ['state running', stateChange('running')],
        ['state stopped', stateChange('stopped')],
      ],
    ],
    HealthScheduledChangeRule: [
      [
        ['NTH scheduled-change event', fixtureJson('eventbridge-health-scheduled-change.json') as Json],
        ['real 2019 retirement event', fixtureJson('eventbridge-health-retirement.json') as Json],
        [
          'retirement listing three instances',
          fixtureJson('eventbridge-health-retirement-multi.json') as Json,
        ],
      ],
      [
        [
          'a Health issue (not a scheduled change)',
          JSON.parse(
            withFields('eventbridge-health-retirement.json', { 'detail.eventTypeCategory': 'issue' }),
          ) as Json,
        ],
        [
          'a scheduled change of another service',
          JSON.parse(
            withFields('eventbridge-health-scheduled-change.json', { 'detail.service': 'RDS' }),
          ) as Json,
        ],
      ],
    ],
  };

  it('covers every rule of the template', () => {
    expect(Object.keys(cases).sort()).toEqual(rules.map(([name]) => name).sort());
  });

  for (const [rule, [yes, no]] of Object.entries(cases)) {
    it(`${rule}`, () => {
      const pattern = patternOf(rule);
      for (const [what, event] of yes) expect([what, matches(pattern, event)]).toEqual([what, true]);
      for (const [what, event] of no) expect([what, matches(pattern, event)]).toEqual([what, false]);
    });
  }

  it('each real EventBridge fixture is routed by exactly one rule; SNS and ASG-direct bodies by none', () => {
    const fixtures = [
      'eventbridge-spot-interruption.json',
      'eventbridge-rebalance.json',
      'eventbridge-lifecycle-terminate.json',
      'eventbridge-health-scheduled-change.json',
      'eventbridge-health-retirement.json',
    ];
    for (const f of fixtures) {
      const hits = rules.filter(([name]) => matches(patternOf(name), fixtureJson(f) as Json)).map(([n]) => n);
      expect([f, hits.length]).toEqual([f, 1]);
    }
    for (const f of ['sns-asg-terminate.json', 'asg-direct-terminate.json', 'asg-test-notification.json']) {
      const hits = rules.filter(([name]) => matches(patternOf(name), fixtureJson(f) as Json)).map(([n]) => n);
      expect([f, hits]).toEqual([f, []]);
    }
  });
});
