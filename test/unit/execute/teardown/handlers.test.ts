import { handlers } from '../../../../lib/execute/teardown';
import { ActionHandler } from '../../../../lib/execute/teardown/handler';
import { ActionParams } from '../../../../lib/plan/actions';

/**
 * Each handler builds its AWS command in one place: the executor sends it as is, `teardownd check`
 * sends the same one with DryRun=true. A real teardown must never carry DryRun (it would change
 * nothing and report success), and a check must never lack it (it would change something).
 */
const params: ActionParams[] = [
  { action: 'DisassociateAddress', associationId: 'eipassoc-1', networkInterfaceId: 'eni-1' },
  { action: 'ReleaseAddress', allocationId: 'eipalloc-1' },
  { action: 'DetachNetworkInterface', networkInterfaceId: 'eni-1', attachmentId: 'eni-attach-1' },
  { action: 'DeleteNetworkInterface', networkInterfaceId: 'eni-1', waitForDetach: true },
  { action: 'DisassociateRouteTable', associationId: 'rtbassoc-1', routeTableId: 'rtb-1' },
  { action: 'DeleteRouteTable', routeTableId: 'rtb-1' },
  { action: 'DeleteSubnet', subnetId: 'subnet-1' },
  {
    action: 'DisassociateVpcCidrBlock',
    associationId: 'vpc-cidr-assoc-1',
    cidrBlock: '10.1.0.0/28',
    vpcId: 'vpc-1',
  },
];

const handlerOf = (p: ActionParams) => handlers[p.action] as ActionHandler;

describe('teardown handlers: one command builder per AWS action', () => {
  it('covers every action', () => {
    expect(params.map((p) => p.action).sort()).toEqual(Object.keys(handlers).sort());
  });

  it.each(params.map((p) => [p.action, p] as const))('%s: the real call carries no DryRun', (action, p) => {
    const command = handlerOf(p).command(p as never);
    expect(command.constructor.name).toBe(`${action}Command`);
    expect(command.input).not.toHaveProperty('DryRun');
  });

  it.each(params.filter((p) => p.action !== 'DisassociateVpcCidrBlock').map((p) => [p.action, p] as const))(
    '%s: the check sends the same command with DryRun=true',
    (_action, p) => {
      const real = handlerOf(p).command(p as never).input as Record<string, unknown>;
      const dry = handlerOf(p).command(p as never, true).input as Record<string, unknown>;
      expect(dry).toEqual({ ...real, DryRun: true });
    },
  );

  it('the manual command names the same resource the call acts on', () => {
    expect(handlerOf(params[2]).manualCommand(params[2] as never)).toBe(
      'aws ec2 detach-network-interface --attachment-id eni-attach-1',
    );
  });
});
