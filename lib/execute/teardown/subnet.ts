import { DeleteSubnetCommand } from '@aws-sdk/client-ec2';
import { ActionHandler, dryRunFlag } from './handler';

/**
 * The planner only plans this when no ENI we are not deleting is left in the subnet; a
 * DependencyViolation here is then an ENI deletion that has not propagated yet, so it is retried with
 * backoff until the deadline before it is reported as blocked.
 */
export const deleteSubnet: ActionHandler<'DeleteSubnet'> = {
  action: 'DeleteSubnet',
  command: (p, dryRun) => new DeleteSubnetCommand({ SubnetId: p.subnetId, ...dryRunFlag(dryRun) }),
  blockedAttempts: 'until-deadline',
  manualCommand: (p) => `aws ec2 delete-subnet --subnet-id ${p.subnetId}`,
};
