import type { EC2Client } from '@aws-sdk/client-ec2';
import { classifyAwsError, ErrorClass } from '../aws/errors';
import { withRetry } from '../aws/retry';
import { Clock } from '../clock';
import { Config } from '../config/schema';
import { Logger, LogFields } from '../log';

/**
 * One EC2 call under our retry policy (the SDK client runs with maxAttempts 1): throttling, 5xx and
 * network errors are retried with full-jitter backoff up to executor.maxAttempts; "blocked" errors
 * (DependencyViolation, InUse — usually eventual consistency right after the dependency went away)
 * are retried `blockedAttempts` times, then surface. Never sleeps past the deadline.
 */
export interface CallContext {
  ec2: EC2Client;
  clock: Clock;
  config: Config;
  logger: Logger;
  signal?: AbortSignal;
  /** Epoch ms after which no retry is started. */
  deadlineAt?: number;
  /** Counts every request sent (for the throttling budget and the report). */
  counter?: CallCounter;
  random?: () => number;
}

export interface CallCounter {
  read: number;
  mutate: number;
}

export interface CallOptions {
  /**
   * How many times a `blocked` error is tried before it surfaces (default 1 = not retried).
   * `until-deadline`: a dependency AWS is still letting go of (DependencyViolation right after the
   * ENI delete, InvalidCidrBlock.InUse right after the subnet delete — eventual consistency) is retried
   * with backoff until the deadline (the backoff never sleeps past it); without a deadline, 5 tries.
   */
  blockedAttempts?: number | 'until-deadline';
  mutating: boolean;
  logFields?: LogFields;
}

/** An SDK error, annotated with how many attempts were made. */
export type AttemptedError = Error & { attempts?: number };

/** The part of a Command this module needs; keeps the SDK's deep generics out of the signatures. */
export interface Ec2Command {
  input: unknown;
  constructor: { name: string };
}

type Send = (command: unknown, options: { abortSignal?: AbortSignal }) => Promise<unknown>;

export async function callEc2<O>(
  ctx: CallContext,
  command: Ec2Command,
  options: CallOptions,
): Promise<{ output: O; attempts: number }> {
  const { executor } = ctx.config;
  const blockedAttempts = blockedAttemptsOf(ctx, options.blockedAttempts);
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
      async (attempt) => {
        attempts = attempt;
        if (ctx.counter) ctx.counter[options.mutating ? 'mutate' : 'read']++;
        const send = ctx.ec2.send.bind(ctx.ec2) as unknown as Send;
        return (await send(command, { abortSignal: ctx.signal })) as O;
      },
      {
        maxAttempts: executor.maxAttempts + Math.max(0, blockedAttempts - 1),
        baseDelayMs: executor.retryBaseDelayMs,
        maxDelayMs: executor.retryMaxDelayMs,
        clock: ctx.clock,
        signal: ctx.signal,
        deadlineAt: ctx.deadlineAt,
        classify,
        random: ctx.random,
        onRetry: ({ attempt, delayMs, errorCode, errorClass }) =>
          ctx.logger.debug('retrying AWS call', {
            ...options.logFields,
            attempt,
            delayMs,
            errorCode,
            errorClass,
            call: command.constructor.name.replace(/Command$/, ''),
          }),
      },
    );
    return { output, attempts };
  } catch (err) {
    if (err && typeof err === 'object') (err as AttemptedError).attempts = attempts;
    throw err;
  }
}

/** Upper bound on tries for `until-deadline`: the deadline check in withRetry ends it much earlier. */
const MAX_BLOCKED_ATTEMPTS = 1000;

function blockedAttemptsOf(ctx: CallContext, wanted: CallOptions['blockedAttempts']): number {
  if (wanted !== 'until-deadline') return wanted ?? 1;
  return ctx.deadlineAt === undefined ? 5 : MAX_BLOCKED_ATTEMPTS;
}

/** Follows NextToken until the last page; `page` builds the command for one token. */
export async function describeAll<P extends { NextToken?: string }, T>(
  ctx: CallContext,
  page: (nextToken?: string) => Ec2Command,
  items: (output: P) => T[] | undefined,
  logFields?: LogFields,
): Promise<T[]> {
  const out: T[] = [];
  let token: string | undefined;
  // Bounded: a misbehaving endpoint that always returns a token cannot loop forever.
  for (let pages = 0; pages < 1000; pages++) {
    const { output } = await callEc2<P>(ctx, page(token), { mutating: false, logFields });
    out.push(...(items(output) ?? []));
    token = output.NextToken;
    if (!token) break;
  }
  return out;
}
