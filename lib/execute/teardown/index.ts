import type { ActionName, ActionParams } from '../../plan/actions';
import { disassociateVpcCidrBlock } from './cidr';
import { disassociateAddress, releaseAddress } from './eip';
import { deleteNetworkInterface, detachNetworkInterface } from './eni';
import { ActionHandler } from './handler';
import { deleteRouteTable, disassociateRouteTable } from './route-table';
import { deleteSubnet } from './subnet';

/** Every action the executor can take, one handler per AWS action (one file per resource kind). */
export const handlers: { [A in ActionName]: ActionHandler<A> } = {
  DisassociateAddress: disassociateAddress,
  ReleaseAddress: releaseAddress,
  DetachNetworkInterface: detachNetworkInterface,
  DeleteNetworkInterface: deleteNetworkInterface,
  DisassociateRouteTable: disassociateRouteTable,
  DeleteRouteTable: deleteRouteTable,
  DeleteSubnet: deleteSubnet,
  DisassociateVpcCidrBlock: disassociateVpcCidrBlock,
};

export function handlerFor<A extends ActionName>(action: A): ActionHandler<A> {
  return handlers[action] as ActionHandler<A>;
}

/** The `aws ec2 …` command that performs this action by hand. */
export function manualCommand(params: ActionParams): string {
  const h = handlers[params.action] as ActionHandler;
  return h.manualCommand(params as never);
}
