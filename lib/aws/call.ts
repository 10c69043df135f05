import type { EC2Client } from '@aws-sdk/client-ec2';
import { Clock } from '../clock';
import { Config } from '../config/schema';
import { Logger, LogFields } from '../log';
import { CallTimeoutError, classifyAwsError, DeadlineExceededError, ErrorClass } from './errors';
import { TokenBucket } from './pacer';
import { AttemptedError, ATTEMPTS_UNDER_A_DEADLINE, withRetry } from './retry';

/**
 * The one AWS call path. Every request the daemon makes to AWS (EC2, Auto Scaling, SQS, SNS, S3,
 * CloudWatch Logs) goes through `awsCall(ctx, client, command, { mutating })`, which resolves to
 * `{ output, attempts }`; `callEc2(ctx, command, options)` is the same with `ctx.ec2` as the client.
 * A caller builds its command with the SDK as usual and never calls `client.send` itself.
 *
 * Each attempt is
 *  - cut after `timeoutMs` (default `aws.callTimeoutMs`): the request is aborted (the SDK destroys
 *    the socket) and fails with CallTimeout, which is retried like a 5xx — a hung connection costs
 *    one timeout, never the whole deadline;
 *  - cut by `ctx.deadlineAt` (DeadlineExceeded) and by `ctx.signal` (shutdown, episode abort): the
 *    promise settles at once even if the SDK were to ignore the abort;
 *  - for `paced` calls (mutating EC2), started only with a token from `ctx.pacer`, the per-process
 *    bucket sized like EC2's (`aws.mutatingBucket`).
 * Errors classified `retry` in lib/aws/errors.ts (throttling, 5xx, timeouts, dropped connections)
 * are retried with full-jitter backoff until the deadline, or `maxAttempts` (default
 * executor.maxAttempts) when there is none. The SDK clients run with maxAttempts 1 (lib/aws/clients.ts):
 * this is the only retry policy. The error thrown is the last attempt's, with `attempts` and
 * `gaveUp` (lib/aws/retry.ts).
 */
/** The config a call reads: aws.* (timeouts, pacing) and executor.* (retry attempts and backoff). */
export type CallConfig = Pick<Config, 'aws' | 'executor'>;

export interface AwsCallContext {
  clock: Clock;
  config: CallConfig;
  logger: Logger;
  /** Aborts the call in flight and any wait (shutdown, the episode being stopped). */
  signal?: AbortSignal;
  /** Epoch ms: an attempt in flight is cut at it, and no retry or pacing wait starts past it. */
  deadlineAt?: number;
  /** The per-process bucket for mutating EC2 calls (daemon/wiring.ts builds it). */
  pacer?: TokenBucket;
  /** Counts every request sent (for the throttling budget and the report). */
  counter?: CallCounter;
  random?: () => number;
}

/** The EC2 flavour: the call context plus the client, as teardown handlers and discovery use it. */
export interface CallContext extends AwsCallContext {
  ec2: EC2Client;
  config: Config;
}

export interface CallCounter {
  read: number;
  mutate: number;
}

export interface AwsCallOptions {
  mutating: boolean;
  /** Take a pacing token before each attempt (mutating EC2 calls; `callEc2` sets it). */
  paced?: boolean;
  /** Per attempt; default `aws.callTimeoutMs`. A long poll passes its wait time plus that. */
  timeoutMs?: number;
  /** Attempts when there is no deadline; default executor.maxAttempts. 1 = a loop that retries itself. */
  maxAttempts?: number;
  /**
   * How many times a `blocked` error is tried before it surfaces (default 1 = not retried).
   * `until-deadline`: a dependency AWS is still letting go of (DependencyViolation right after the
   * ENI delete, InvalidCidrBlock.InUse right after the subnet delete — eventual consistency) is retried
   * with backoff until the deadline (the backoff never sleeps past it); without a deadline, 5 tries.
   */
  blockedAttempts?: number | 'until-deadline';
  logFields?: LogFields;
}

/** The part of a Command this module needs; keeps the SDK's deep generics out of the signatures. */
export interface AwsCommand {
  input: unknown;
  constructor: { name: string };
}
/** Any SDK v3 client. */
export interface AwsClient {
  send(command: never, options?: never): Promise<unknown>;
}

type Send = (command: unknown, options: { abortSignal?: AbortSignal }) => Promise<unknown>;

/**
 * The core: `attempt(signal)` makes one request and must honour `signal`. `action` names it in
 * logs and errors (`DescribeNetworkInterfaces`). Use it directly only when one attempt is more than
 * one `send` (S3 GetObject reads its body stream inside the same cut).
 */
export async function awsRequest<T>(
  ctx: AwsCallContext,
  action: string,
  attempt: (signal: AbortSignal) => Promise<T>,
  options: AwsCallOptions,
): Promise<{ output: T; attempts: number }> {
  const { config } = ctx;
  const { executor } = config;
  const blockedAttempts = blockedAttemptsOf(ctx, options.blockedAttempts);
  const timeoutMs = options.timeoutMs ?? config.aws.callTimeoutMs;
  let blockedSeen = 0;
  let attempts = 0;
  const classify = (err: unknown): ErrorClass => {
    const c = classifyAwsError(err);
    if (c !== 'blocked') return c;
    blockedSeen++;
    return blockedSeen < blockedAttempts ? 'retry' : 'blocked';
  };
  try {
    const output = await withRetry(
      async (n) => {
        attempts = n;
        if (options.paced && ctx.pacer) {
          const waitedMs = await ctx.pacer.take({ signal: ctx.signal, deadlineAt: ctx.deadlineAt, action });
          if (waitedMs > 0)
            ctx.logger.debug('paced a mutating call', { ...options.logFields, call: action, waitedMs });
        }
        if (ctx.counter) ctx.counter[options.mutating ? 'mutate' : 'read']++;
        return attemptWithCut(ctx, action, timeoutMs, attempt);
      },
      {
        maxAttempts: (options.maxAttempts ?? executor.maxAttempts) + Math.max(0, blockedAttempts - 1),
        baseDelayMs: executor.retryBaseDelayMs,
        maxDelayMs: executor.retryMaxDelayMs,
        clock: ctx.clock,
        signal: ctx.signal,
        deadlineAt: ctx.deadlineAt,
        classify,
        random: ctx.random,
        onRetry: ({ attempt: n, delayMs, errorCode, errorClass }) =>
          // A hung request is worth a line at the default level; routine throttling is not.
          ctx.logger.log(errorCode === 'CallTimeout' ? 'warn' : 'debug', 'retrying AWS call', {
            ...options.logFields,
            attempt: n,
            delayMs,
            errorCode,
            errorClass,
            call: action,
          }),
      },
    );
    return { output, attempts };
  } catch (err) {
    if (err && typeof err === 'object') (err as AttemptedError).attempts = attempts;
    throw err;
  }
}

function blockedAttemptsOf(ctx: AwsCallContext, wanted: AwsCallOptions['blockedAttempts']): number {
  if (wanted !== 'until-deadline') return wanted ?? 1;
  // Under a deadline the deadline ends it (withRetry never sleeps past it).
  return ctx.deadlineAt === undefined ? 5 : ATTEMPTS_UNDER_A_DEADLINE;
}

/** One SDK command through the call path (see the module header). */
export function awsCall<O>(
  ctx: AwsCallContext,
  client: AwsClient,
  command: AwsCommand,
  options: AwsCallOptions,
): Promise<{ output: O; attempts: number }> {
  const send = (client.send as unknown as Send).bind(client);
  return awsRequest<O>(
    ctx,
    actionOf(command),
    async (signal) => (await send(command, { abortSignal: signal })) as O,
    options,
  );
}

/** An EC2 command through the call path; mutating ones are paced by `ctx.pacer`. */
export function callEc2<O>(
  ctx: CallContext,
  command: AwsCommand,
  options: AwsCallOptions,
): Promise<{ output: O; attempts: number }> {
  return awsCall<O>(ctx, ctx.ec2, command, { paced: options.mutating, ...options });
}

export function actionOf(command: AwsCommand): string {
  return command.constructor.name.replace(/Command$/, '');
}

/**
 * One attempt, settled by whichever comes first: the answer, the per-attempt timeout, the deadline,
 * or the caller's signal. The signal handed to the SDK is aborted with the same reason, so the
 * socket is closed too.
 */
async function attemptWithCut<T>(
  ctx: AwsCallContext,
  action: string,
  timeoutMs: number,
  attempt: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  ctx.signal?.throwIfAborted();
  const now = ctx.clock.now();
  // A first attempt made past the deadline (a notice that came late) still gets its own timeout:
  // callers decide whether to start work after the deadline; retries never start after it.
  const byDeadline =
    ctx.deadlineAt !== undefined && ctx.deadlineAt > now && ctx.deadlineAt <= now + timeoutMs;
  const cutInMs = byDeadline ? ctx.deadlineAt! - now : timeoutMs;
  const cut = new AbortController();
  const timer = new AbortController();
  const onAbort = () => cut.abort(ctx.signal!.reason);
  ctx.signal?.addEventListener('abort', onAbort, { once: true });
  ctx.clock.guard(cutInMs, timer.signal).then(
    () =>
      cut.abort(
        byDeadline
          ? new DeadlineExceededError(action, 'cut in flight: the deadline came before AWS answered')
          : new CallTimeoutError(action, timeoutMs),
      ),
    () => undefined,
  );
  const aborted = new Promise<never>((_, reject) =>
    cut.signal.addEventListener('abort', () => reject(cut.signal.reason), { once: true }),
  );
  try {
    const request = attempt(cut.signal);
    request.catch(() => undefined);
    return await Promise.race([request, aborted]);
  } catch (err) {
    // The SDK reports our abort as a generic AbortError: throw the reason (timeout, deadline, signal).
    if (cut.signal.aborted) throw cut.signal.reason;
    throw err;
  } finally {
    timer.abort();
    ctx.signal?.removeEventListener('abort', onAbort);
  }
}

/** Follows NextToken until the last page; `page` builds the command for one token. */
export async function describeAll<P extends { NextToken?: string }, T>(
  ctx: CallContext,
  page: (nextToken?: string) => AwsCommand,
  items: (output: P) => T[] | undefined,
  logFields?: LogFields,
  options: Pick<AwsCallOptions, 'maxAttempts'> = {},
): Promise<T[]> {
  const out: T[] = [];
  let token: string | undefined;
  // Bounded: a misbehaving endpoint that always returns a token cannot loop forever.
  for (let pages = 0; pages < 1000; pages++) {
    const { output } = await callEc2<P>(ctx, page(token), {
      mutating: false,
      logFields,
      maxAttempts: options.maxAttempts,
    });
    out.push(...(items(output) ?? []));
    token = output.NextToken;
    if (!token) break;
  }
  return out;
}
