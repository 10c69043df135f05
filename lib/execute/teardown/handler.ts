import type { ActionName, ActionParams } from '../../plan/actions';
import { CallContext } from '../../aws/call';
import type { LogFields } from '../../log';

/** How one kind of action is carried out: the AWS call, and the command an operator runs by hand. */
export interface ActionHandler<A extends ActionName = ActionName> {
  action: A;
  /** Makes the call (with our retry policy). Throws the SDK error, annotated with `attempts`. */
  run(
    ctx: CallContext,
    params: Extract<ActionParams, { action: A }>,
    logFields: LogFields,
  ): Promise<{ attempts: number }>;
  /** The `aws ec2 …` command that does the same, for the report's "left behind" list. */
  manualCommand(params: Extract<ActionParams, { action: A }>): string;
}
