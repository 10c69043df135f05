import { DeleteRouteTableCommand, DisassociateRouteTableCommand } from '@aws-sdk/client-ec2';
import { callEc2 } from '../../aws/call';
import { ActionHandler } from './handler';

/** loxilb's own shutdown never deletes its route table; we do, once no subnet we keep uses it. */
export const disassociateRouteTable: ActionHandler<'DisassociateRouteTable'> = {
  action: 'DisassociateRouteTable',
  run: (ctx, p, logFields) =>
    callEc2(ctx, new DisassociateRouteTableCommand({ AssociationId: p.associationId }), {
      mutating: true,
      logFields,
    }),
  manualCommand: (p) => `aws ec2 disassociate-route-table --association-id ${p.associationId}`,
};

/** DependencyViolation right after the disassociations is eventual consistency: retried with backoff until the deadline. */
export const deleteRouteTable: ActionHandler<'DeleteRouteTable'> = {
  action: 'DeleteRouteTable',
  run: (ctx, p, logFields) =>
    callEc2(ctx, new DeleteRouteTableCommand({ RouteTableId: p.routeTableId }), {
      mutating: true,
      logFields,
      blockedAttempts: 'until-deadline',
    }),
  manualCommand: (p) => `aws ec2 delete-route-table --route-table-id ${p.routeTableId}`,
};
