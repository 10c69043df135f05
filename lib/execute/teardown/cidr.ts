import { DisassociateVpcCidrBlockCommand } from '@aws-sdk/client-ec2';
import { ActionHandler } from './handler';

/**
 * The cloud CIDR (loxilb --cloudcidrblock), never the VPC's primary one (the planner and the executor
 * both refuse it). InvalidCidrBlock.InUse right after the subnet deletion is retried with backoff until the deadline.
 * DisassociateVpcCidrBlock has no DryRun: `teardownd check` cannot verify it.
 */
export const disassociateVpcCidrBlock: ActionHandler<'DisassociateVpcCidrBlock'> = {
  action: 'DisassociateVpcCidrBlock',
  command: (p) => new DisassociateVpcCidrBlockCommand({ AssociationId: p.associationId }),
  blockedAttempts: 'until-deadline',
  manualCommand: (p) => `aws ec2 disassociate-vpc-cidr-block --association-id ${p.associationId}`,
};
