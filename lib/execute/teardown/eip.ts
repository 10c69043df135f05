import { DisassociateAddressCommand, ReleaseAddressCommand } from '@aws-sdk/client-ec2';
import { ActionHandler, dryRunFlag } from './handler';

/**
 * EIPs belong to the user (loxilb never allocates them), so they are disassociated; released only
 * when they carry eip.releaseTag (the planner decides that). DisassociateAddress is idempotent;
 * InvalidAssociationID.NotFound means already done.
 */
export const disassociateAddress: ActionHandler<'DisassociateAddress'> = {
  action: 'DisassociateAddress',
  command: (p, dryRun) =>
    new DisassociateAddressCommand({ AssociationId: p.associationId, ...dryRunFlag(dryRun) }),
  manualCommand: (p) => `aws ec2 disassociate-address --association-id ${p.associationId}`,
};

/** InvalidIPAddress.InUse right after the disassociation is eventual consistency: retried a few times. */
export const releaseAddress: ActionHandler<'ReleaseAddress'> = {
  action: 'ReleaseAddress',
  command: (p, dryRun) => new ReleaseAddressCommand({ AllocationId: p.allocationId, ...dryRunFlag(dryRun) }),
  blockedAttempts: 4,
  manualCommand: (p) => `aws ec2 release-address --allocation-id ${p.allocationId}`,
};
