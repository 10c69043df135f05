import cron from 'node-cron';
import { z } from 'zod';

/**
 * The one config schema. Every key has a default that matches a stock loxilb deployment
 * (tag key `loxiType`, empty `--cloudinstance` suffix), so a host without a config file
 * behaves like loxilb itself would. Units are in the names (…Ms, …Seconds).
 */

const cidr = z
  .string()
  .regex(/^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$/, 'must be an IPv4 CIDR such as 123.123.123.0/28');

const tagPair = z.object({ key: z.string().min(1), value: z.string().min(1) }).strict();

/**
 * `full`: last node standing, everything of the cluster goes; `handover`: a live peer exists (or may):
 * change nothing its takeover does; `none`: observe and report only. `instance` (before issue 9) is
 * gone: it cut a live cluster's VIPs early and raced the peer's takeover.
 */
export const scopeValues = ['full', 'handover', 'none'] as const;
export type Scope = (typeof scopeValues)[number];

/** What to tell someone who still writes the old scope name. */
export const RENAMED_SCOPE_MESSAGE =
  'scope "instance" no longer exists: use handover (a live peer takes over; this host changes nothing on loxilb\'s AWS resources)';

export function scopeProblem(value: string): string | undefined {
  if (value === 'instance') return RENAMED_SCOPE_MESSAGE;
  if (!(scopeValues as readonly string[]).includes(value))
    return `must be one of ${scopeValues.map((v) => JSON.stringify(v)).join(', ')}`;
  return undefined;
}

export const ScopeSchema = z
  .string()
  .superRefine((v, ctx) => {
    const problem = scopeProblem(v);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .transform((v) => v as Scope);

const ownershipSchema = z
  .object({
    /** Tag key loxilb writes on everything it creates (`loxiType`). */
    tagKey: z.string().min(1).default('loxiType'),
    /**
     * loxilb `--cloudinstance` value; appended to the tag values with no separator. Unset: the running
     * loxilb's own flag (lib/gate/loxilb-flags.ts), else empty (loxilb's default). Read it with
     * `cloudInstanceOf`.
     */
    cloudInstance: z.string().optional(),
    /** Tag the daemon writes on loxilb resources attached to it, naming the owning instance id. */
    ownerTagKey: z.string().min(1).default('teardownd:owner'),
  })
  .strict();

/** An AWS region name such as us-east-1 or ap-southeast-2 (also used for the `--region` flags). */
export const REGION_PATTERN = /^[a-z]{2}(-[a-z0-9]+)+-\d+$/;

/** cloud.region and sweeper.regions: a typo is bad input at load, not an endpoint that never answers. */
const regionName = z.string().regex(REGION_PATTERN, {
  error: (issue) => `${JSON.stringify(issue.input)} is not an AWS region name (e.g. us-east-1)`,
});

const cloudSchema = z
  .object({
    /** loxilb `--cloudcidrblock`. When unset, the secondary CIDR association containing the loxilb subnet is used. */
    cidrBlock: cidr.optional(),
    /** AWS region; when unset: AWS_REGION, then IMDS placement/region. */
    region: regionName.optional(),
  })
  .strict();

const gateSchema = z
  .object({
    /** `loxilb-api`: ask loxilb's REST API; `static`: use `static`; `override`: use `override` as the scope. */
    mode: z.enum(['loxilb-api', 'static', 'override']).default('loxilb-api'),
    loxilbApiUrl: z.string().url().default('http://127.0.0.1:11111'),
    apiTimeoutMs: z.number().int().positive().default(2000),
    static: z
      .object({
        /**
         * loxilb runs with BFD (`--ka`); as the last node standing (AWS view) it tears down everything.
         * Absent: what the running loxilb's `--ka` says (loxilbFlags), else false. No default here, so
         * a config copied from the example does not override loxilb's own flag.
         */
        bfd: z.boolean().optional(),
        /** kube-loxilb `--setRoles`: roles set externally; the cluster is read from AWS (gate.clusterTagKey). */
        setRoles: z.boolean().default(false),
        /** Whether this node is the MASTER of llb-inst0 (static mode has no API to ask). */
        master: z.boolean().default(false),
      })
      .strict()
      .default({ setRoles: false, master: false }),
    override: ScopeSchema.optional(),
    /**
     * How often the running daemon reads loxilb's HA state (role, BFD sessions) and keeps it under
     * stateDir, so a decision after loxilb died (or at the SIGTERM probe) has a recent observation.
     */
    observeIntervalMs: z.number().int().min(100).default(5000),
    /** An observation older than this many intervals counts as unknown (→ handover). */
    observationMaxAgeIntervals: z.number().int().min(1).max(100).default(3),
    /**
     * While an episode that decided `handover` waits for its host to die, AWS's view of the peers is
     * read again on this interval; when no peer can take over any more, the decision is re-made.
     */
    redecideIntervalMs: z.number().int().min(100).default(10000),
    /**
     * With BFD off (kube-loxilb --setRoles) and in static mode, the cluster is this instance's Auto
     * Scaling group; set this to an instance tag key instead to mean "the running instances whose
     * tag has the same value as mine".
     */
    clusterTagKey: z.string().min(1).optional(),
    /**
     * A node that became MASTER runs loxilb's takeover (wipe the old master's ENI by tag, then build
     * its own VIP network). A `full` teardown of such a node within `recentMs` of the promotion first
     * waits — up to `waitMs`, and never more than half the time left — until AWS shows the takeover
     * over: its own loxilb ENI attached and no other one left, or loxilb's resources unchanged for
     * `quietMs` (a takeover that aborted). Racing it could leave what it creates after the teardown
     * looked; not settled in time, the decision becomes `handover` and the leak is reported.
     */
    takeover: z
      .object({
        recentMs: z.number().int().min(0).default(300000),
        waitMs: z.number().int().min(0).default(45000),
        quietMs: z.number().int().min(100).default(10000),
        pollMs: z.number().int().min(50).default(1000),
      })
      .strict()
      .default({ recentMs: 300000, waitMs: 45000, quietMs: 10000, pollMs: 1000 }),
  })
  .strict()
  .superRefine((g, ctx) => {
    if (g.mode === 'override' && !g.override) {
      ctx.addIssue({ code: 'custom', path: ['override'], message: 'required when gate.mode is "override"' });
    }
  });

const loxilbFlagsSchema = z
  .object({
    /**
     * Read `--cloudcidrblock`, `--cloudinstance` and `--ka` from the running loxilb process and use
     * them as defaults for cloud.cidrBlock, ownership.cloudInstance and gate.static.bfd.
     */
    enabled: z.boolean().default(true),
    /** The host's /proc (a loxilb in a container is a host process too). */
    procRoot: z.string().min(1).default('/proc'),
  })
  .strict();

const eipSchema = z
  .object({
    /** `disassociate`: never release; `release-owned`: release addresses carrying `releaseTag`. */
    policy: z.enum(['disassociate', 'release-owned']).default('disassociate'),
    releaseTag: tagPair.default({ key: 'teardownd:release', value: 'true' }),
  })
  .strict();

const stagesSchema = z
  .object({
    eip: z.boolean().default(true),
    eni: z.boolean().default(true),
    routeTable: z.boolean().default(true),
    subnet: z.boolean().default(true),
    cidr: z.boolean().default(true),
  })
  .strict();

const executorSchema = z
  .object({
    /** Independent actions inside one stage run at most this many at a time. */
    concurrency: z.number().int().min(1).max(64).default(8),
    /**
     * The same bound for the EIP stage's disassociations: loxilb puts all VIPs on one ENI (up to 49),
     * and they should go in one wave; aws.mutatingBucket, not this bound, keeps the account safe.
     */
    eipConcurrency: z.number().int().min(1).max(64).default(64),
    /**
     * Attempts per AWS call when no deadline bounds it (heartbeats, check, the SQS acknowledgements);
     * under a teardown or completion deadline, retryable errors are retried until the deadline.
     */
    maxAttempts: z.number().int().min(1).max(50).default(8),
    retryBaseDelayMs: z.number().int().min(1).default(200),
    retryMaxDelayMs: z.number().int().min(1).default(5000),
    /** How often to re-check an ENI that is detaching. */
    detachPollIntervalMs: z.number().int().min(1).default(1000),
    detachTimeoutMs: z.number().int().min(1).default(90000),
    /** Budget of a teardown when the trigger gives no deadline. */
    defaultDeadlineMs: z.number().int().min(1000).default(110000),
    /** Time kept back before the trigger's deadline for completion and report shipping. */
    deadlineReserveMs: z.number().int().min(0).default(10000),
  })
  .strict();

const awsSchema = z
  .object({
    /**
     * One attempt of any AWS request is aborted after this long and retried (lib/aws/call.ts): a hung
     * connection costs one timeout, not the deadline. SQS long polls get their wait time on top.
     */
    callTimeoutMs: z.number().int().min(100).max(120000).default(10000),
    connectionTimeoutMs: z.number().int().min(100).max(60000).default(3000),
    /**
     * Client-side pacing of mutating EC2 calls, one bucket per process, sized like EC2's own
     * per-account bucket for mutating actions (50 burst, 5 per second), so a large footprint waits
     * for tokens instead of being throttled. Lower it when several hosts of one account tear down
     * at once.
     */
    mutatingBucket: z
      .object({
        capacity: z.number().int().min(1).max(10000).default(50),
        refillPerSecond: z.number().positive().max(10000).default(5),
      })
      .strict()
      .default({ capacity: 50, refillPerSecond: 5 }),
  })
  .strict();

const reportsSchema = z
  .object({
    dir: z.string().min(1).default('/var/lib/teardownd/reports'),
    s3: z
      .object({
        bucket: z.string().min(3),
        prefix: z.string().default('teardownd/'),
      })
      .strict()
      .optional(),
    cloudwatchLogs: z
      .object({
        logGroupName: z.string().min(1),
        /** Stream name is `<prefix><instanceId>`. */
        logStreamPrefix: z.string().default('teardownd/'),
      })
      .strict()
      .optional(),
    /** Upper bound on shipping the report before the lifecycle action is completed. */
    shipTimeoutMs: z.number().int().min(100).default(5000),
  })
  .strict();

const imdsSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** Default endpoint comes from AWS_EC2_METADATA_SERVICE_ENDPOINT, else http://169.254.169.254. */
    endpoint: z.string().url().optional(),
    pollIntervalMs: z.number().int().min(100).default(2000),
    requestTimeoutMs: z.number().int().min(50).default(1000),
    tokenTtlSeconds: z.number().int().min(1).max(21600).default(21600),
    /** Opt-in, loud IMDSv1 fallback; off by default. */
    allowV1Fallback: z.boolean().default(false),
  })
  .strict();

const sqsSchema = z
  .object({
    /**
     * The standard topology: the group's SNS topic. The daemon creates its own queue
     * `teardownd-<instance-id>`, subscribed with a filter on its instance id.
     */
    topicArn: z
      .string()
      .regex(
        /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/,
        'must be an SNS topic ARN such as arn:aws:sns:us-east-1:123456789012:teardownd',
      )
      .optional(),
    /** The shared-queue option: one queue every host of the group consumes (see foreignReleaseSeconds). */
    queueUrl: z.string().url().optional(),
    waitTimeSeconds: z.number().int().min(0).max(20).default(20),
    visibilityTimeoutSeconds: z.number().int().min(5).max(43200).default(60),
    maxMessages: z.number().int().min(1).max(10).default(10),
    /** What to do with messages about other instances: `release` (shared queue, with a delay) or `delete` (single consumer). */
    foreignMessages: z.enum(['release', 'delete']).default('release'),
    /**
     * Shared queue: a released foreign message stays invisible for a random whole number of seconds
     * in [min, max] (never 0), so no host spins on it and the others get their turn.
     */
    foreignReleaseSeconds: z
      .object({
        min: z.number().int().min(1).max(43200).default(5),
        max: z.number().int().min(1).max(43200).default(15),
      })
      .strict()
      .refine((r) => r.min <= r.max, { message: 'min must not exceed max', path: ['max'] })
      .default({ min: 5, max: 15 }),
    /** Shared queue: how many hosts consume it (the group's maximum size); `check` sizes the redrive policy with it. */
    sharedQueueConsumers: z.number().int().min(1).optional(),
    /** Per-host queue: pause between CreateQueue attempts while SQS refuses a recently deleted name. */
    recreateRetryMs: z.number().int().min(10).default(10000),
    /** When set, malformed messages are left for the queue's DLQ instead of being deleted. */
    deadLetterAfterReceives: z.number().int().min(1).optional(),
  })
  .strict()
  .superRefine((q, ctx) => {
    if (q.topicArn && q.queueUrl) {
      ctx.addIssue({
        code: 'custom',
        path: ['queueUrl'],
        message:
          'set either topicArn (a queue per host, the standard) or queueUrl (a shared queue), not both',
      });
    }
  });

const sourcesSchema = z
  .object({
    imds: imdsSchema.default(imdsSchema.parse({})),
    sqs: sqsSchema.default(sqsSchema.parse({})),
    /** Rebalance recommendations are advisory; tear down on them only when this is true. */
    teardownOnRebalance: z.boolean().default(false),
    /**
     * A stop (spot stop or hibernate, scheduled stop) is not the end of the host: it keeps its ENI and
     * loxilb rebuilds its network when it starts again. Tear down on a stop only when this is true.
     */
    teardownOnStop: z.boolean().default(false),
    shutdownProbe: z
      .object({ enabled: z.boolean().default(true), timeoutMs: z.number().int().min(1000).default(90000) })
      .strict()
      .default({ enabled: true, timeoutMs: 90000 }),
  })
  .strict();

const lifecycleSchema = z
  .object({
    /** Needed to complete by instance id when the notice came from IMDS (no token, no names). */
    autoScalingGroupName: z.string().min(1).optional(),
    hookName: z.string().min(1).optional(),
    /** Result sent when the teardown left something behind. */
    onFailure: z.enum(['CONTINUE', 'ABANDON']).default('CONTINUE'),
    /** Used when DescribeLifecycleHooks cannot tell the hook's HeartbeatTimeout. */
    fallbackHeartbeatTimeoutSeconds: z.number().int().min(30).max(7200).default(300),
    /** Stop heartbeating when the teardown has made no progress for this many intervals. */
    maxStalledHeartbeats: z.number().int().min(1).default(3),
    completeRetryIntervalMs: z.number().int().min(10).default(2000),
    completeTimeoutMs: z.number().int().min(100).default(60000),
  })
  .strict();

function isCronExpression(expression: string): boolean {
  try {
    return cron.validate(expression);
  } catch {
    return false;
  }
}

const sweeperSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** node-cron expression; checked at load, so a bad one never gets as far as `ready`. */
    schedule: z
      .string()
      .min(1)
      .default('*/10 * * * *')
      .refine(isCronExpression, {
        error: (issue) =>
          `${JSON.stringify(issue.input)} is not a valid cron expression (e.g. "*/10 * * * *")`,
      }),
    /** `report` never changes anything; `apply` tears orphans down. */
    mode: z.enum(['report', 'apply']).default('report'),
    /** An unattached loxilb ENI younger than this is never an orphan (loxilb may be attaching it). */
    graceMs: z.number().int().min(0).default(600000),
    /**
     * An unattached loxilb ENI whose owner is gone belongs to the surviving peer's takeover (loxilb
     * deletes it itself, and a sweeper racing it aborts the takeover) while any member of the cluster
     * may be alive: it is an orphan only after it has looked so for this long (minutes; default 10).
     */
    takeoverGraceMs: z.number().int().min(0).default(600000),
    /** Random delay before each scheduled sweep so the hosts of one cluster do not sweep in lockstep. */
    jitterMs: z.number().int().min(0).default(30000),
    /** Regions to sweep; empty means the host's own region. */
    regions: z.array(regionName).default([]),
  })
  .strict();

export const ConfigSchema = z
  .object({
    ownership: ownershipSchema.default(ownershipSchema.parse({})),
    cloud: cloudSchema.default({}),
    gate: gateSchema.default(gateSchema.parse({})),
    loxilbFlags: loxilbFlagsSchema.default(loxilbFlagsSchema.parse({})),
    eip: eipSchema.default(eipSchema.parse({})),
    stages: stagesSchema.default(stagesSchema.parse({})),
    executor: executorSchema.default(executorSchema.parse({})),
    aws: awsSchema.default(awsSchema.parse({})),
    reports: reportsSchema.default(reportsSchema.parse({})),
    /** Journal and episode state. */
    stateDir: z.string().min(1).default('/var/lib/teardownd'),
    sources: sourcesSchema.default(sourcesSchema.parse({})),
    lifecycle: lifecycleSchema.default(lifecycleSchema.parse({})),
    sweeper: sweeperSchema.default(sweeperSchema.parse({})),
    /** Observe and report only: zero mutating calls, no heartbeat, no completion, no SQS delete. */
    dryRun: z.boolean().default(false),
    log: z
      .object({ level: z.enum(['error', 'warn', 'info', 'debug']).default('info') })
      .strict()
      .default({ level: 'info' }),
  })
  .strict();

export type Config = z.infer<typeof ConfigSchema>;

/** gate.static.bfd in effect: the config's, else loxilb's --ka (merged in as a default at load), else false. */
export function staticBfd(config: Config): boolean {
  return config.gate.static.bfd ?? false;
}

/** loxilb's `--cloudinstance` suffix in effect: the config's (or loxilb's own flag under it), else ''. */
export function cloudInstanceOf(config: Pick<Config, 'ownership'>): string {
  return config.ownership.cloudInstance ?? '';
}
export type ConfigInput = z.input<typeof ConfigSchema>;
