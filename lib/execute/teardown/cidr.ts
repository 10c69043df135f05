import { DisassociateVpcCidrBlockCommand } from '@aws-sdk/client-ec2';
import { callEc2 } from '../../aws/call';
import { ActionHandler } from './handler';

/**
 * The cloud CIDR (loxilb --cloudcidrblock), never the VPC's primary one (the planner and the executor
 * both refuse it). InvalidCidrBlock.InUse right after the subnet deletion is retried with backoff until the deadline.
 */
export const disassociateVpcCidrBlock: ActionHandler<'DisassociateVpcCidrBlock'> = {
  action: 'DisassociateVpcCidrBlock',
  run: (ctx, p, logFields) =>
    callEc2(ctx, new DisassociateVpcCidrBlockCommand({ AssociationId: p.associationId }), {
      mutating: true,
      logFields,
      blockedAttempts: 'until-deadline',
    }),
  manualCommand: (p) => `aws ec2 disassociate-vpc-cidr-block --association-id ${p.associationId}`,
};
