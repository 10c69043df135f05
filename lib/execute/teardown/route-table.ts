import { DeleteRouteTableCommand, DisassociateRouteTableCommand } from '@aws-sdk/client-ec2';
import { ActionHandler, dryRunFlag } from './handler';

/** loxilb's own shutdown never deletes its route table; we do, once no subnet we keep uses it. */
export const disassociateRouteTable: ActionHandler<'DisassociateRouteTable'> = {
  action: 'DisassociateRouteTable',
  command: (p, dryRun) =>
    new DisassociateRouteTableCommand({ AssociationId: p.associationId, ...dryRunFlag(dryRun) }),
  manualCommand: (p) => `aws ec2 disassociate-route-table --association-id ${p.associationId}`,
};

/** DependencyViolation right after the disassociations is eventual consistency: retried with backoff until the deadline. */
export const deleteRouteTable: ActionHandler<'DeleteRouteTable'> = {
  action: 'DeleteRouteTable',
  command: (p, dryRun) =>
    new DeleteRouteTableCommand({ RouteTableId: p.routeTableId, ...dryRunFlag(dryRun) }),
  blockedAttempts: 'until-deadline',
  manualCommand: (p) => `aws ec2 delete-route-table --route-table-id ${p.routeTableId}`,
};
