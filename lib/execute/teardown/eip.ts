import { DisassociateAddressCommand, ReleaseAddressCommand } from '@aws-sdk/client-ec2';
import { callEc2 } from '../../aws/call';
import { ActionHandler } from './handler';

/**
 * EIPs belong to the user (loxilb never allocates them), so they are disassociated; released only
 * when they carry eip.releaseTag (the planner decides that). DisassociateAddress is idempotent;
 * InvalidAssociationID.NotFound means already done.
 */
export const disassociateAddress: ActionHandler<'DisassociateAddress'> = {
  action: 'DisassociateAddress',
  run: (ctx, p, logFields) =>
    callEc2(ctx, new DisassociateAddressCommand({ AssociationId: p.associationId }), {
      mutating: true,
      logFields,
    }),
  manualCommand: (p) => `aws ec2 disassociate-address --association-id ${p.associationId}`,
};

/** InvalidIPAddress.InUse right after the disassociation is eventual consistency: retried a few times. */
export const releaseAddress: ActionHandler<'ReleaseAddress'> = {
  action: 'ReleaseAddress',
  run: (ctx, p, logFields) =>
    callEc2(ctx, new ReleaseAddressCommand({ AllocationId: p.allocationId }), {
      mutating: true,
      logFields,
      blockedAttempts: 4,
    }),
  manualCommand: (p) => `aws ec2 release-address --allocation-id ${p.allocationId}`,
};
