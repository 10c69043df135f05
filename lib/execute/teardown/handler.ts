import type { ActionName, ActionParams } from '../../plan/actions';
import { AwsCallOptions, AwsCommand, CallContext, callEc2 } from '../../aws/call';
import type { LogFields } from '../../log';

/**
 * How one kind of action is carried out: the AWS call, and the command an operator runs by hand.
 * The call's command is built here and only here: the executor sends it, `teardownd check` sends the
 * same one with DryRun to prove the permission.
 */
export interface ActionHandler<A extends ActionName = ActionName> {
  action: A;
  /** The SDK command for these params; `dryRun` asks EC2 only whether it would be allowed. */
  command(params: Extract<ActionParams, { action: A }>, dryRun?: boolean): AwsCommand;
  /** How often a `blocked` answer (a dependency AWS is still letting go of) is tried; default once. */
  blockedAttempts?: AwsCallOptions['blockedAttempts'];
  /** The `aws ec2 …` command that does the same, for the report's "left behind" list. */
  manualCommand(params: Extract<ActionParams, { action: A }>): string;
}

/** `{ DryRun: true }` for a check, nothing for the real call (its input stays as EC2 expects it). */
export function dryRunFlag(dryRun: boolean | undefined): { DryRun?: true } {
  return dryRun ? { DryRun: true } : {};
}

/** Makes the call (with our retry policy). Throws the SDK error, annotated with `attempts`. */
export function runAction<A extends ActionName>(
  ctx: CallContext,
  handler: ActionHandler<A>,
  params: Extract<ActionParams, { action: A }>,
  logFields: LogFields,
): Promise<{ attempts: number }> {
  return callEc2(ctx, handler.command(params), {
    mutating: true,
    logFields,
    ...(handler.blockedAttempts !== undefined ? { blockedAttempts: handler.blockedAttempts } : {}),
  });
}
