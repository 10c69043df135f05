import { decoysIntact, leftovers } from '../../sim/loxilb/footprint';
import { actionOf } from '../helpers/teardown-cli';
import { TeardownHarness } from '../helpers/teardown-harness';

/**
 * DESIGN.md invariant 3: dependencies are checked before a delete, not discovered by failure. A
 * subnet that still holds an ENI teardownd is not deleting is reported blocked with that ENI's id, the
 * CIDR around it and the route table serving it are kept, and everything else still goes.
 */
describe('teardownd teardown: dependency checks', () => {
  let h: TeardownHarness;

  beforeEach(async () => {
    h = await TeardownHarness.start({ emulator: { ec2: { detachDelayMs: 80 } } });
  });
  afterEach(() => h.stop());

  it('a subnet holding a foreign ENI is blocked and the CIDR kept, while everything else proceeds', async () => {
    const { emulator, ids } = h;
    // Someone else's ENI (no loxilb tag) in the loxilb subnet, attached to the peer.
    const ec2 = emulator.ec2;
    const foreign = ec2.createNetworkInterface({ subnetId: ids.subnetId, description: 'someone else' });
    ec2.attachNetworkInterface(foreign.networkInterfaceId, ids.peerInstanceId!, 2);

    const res = await h.teardown();
    expect(res.code).toBe(1);
    // Everything bound to this instance is gone; the shared resources stay.
    expect(leftovers(emulator, ids).map((l) => l.kind)).toEqual([
      'route-table-association',
      'route-table',
      'subnet',
      'cidr-association',
    ]);
    expect(decoysIntact(emulator, ids)).toEqual([]);
    expect(ec2.networkInterfaceById(foreign.networkInterfaceId)?.attachment?.status).toBe('attached');
    // Found up front: no delete was even tried against the blocked resources.
    const mutated = emulator.calls.mutating('ec2').map((c) => c.action);
    expect(mutated).not.toContain('DeleteSubnet');
    expect(mutated).not.toContain('DisassociateVpcCidrBlock');
    expect(mutated).not.toContain('DeleteRouteTable');

    const report = res.report();
    expect(report.outcome).toBe('left-behind');
    const subnet = actionOf(report, 'DeleteSubnet');
    expect(subnet).toMatchObject({ outcome: 'blocked', blockers: [foreign.networkInterfaceId] });
    expect(subnet.message).toContain(`${foreign.networkInterfaceId} (attached to ${ids.peerInstanceId})`);
    expect(actionOf(report, 'DisassociateVpcCidrBlock')).toMatchObject({
      outcome: 'blocked',
      blockers: [ids.subnetId],
    });
    expect(report.leftBehind.map((l: { manualCommand: string }) => l.manualCommand)).toEqual([
      `aws ec2 delete-route-table --route-table-id ${ids.routeTableId}`,
      `aws ec2 delete-subnet --subnet-id ${ids.subnetId}`,
      `aws ec2 disassociate-vpc-cidr-block --association-id ${ids.cidrAssociationId}`,
    ]);
    expect(res.stdout).toMatch(/left behind: .*subnet/);
  });

  it('a loxilb route table also serving another subnet is kept; the rest of the footprint goes', async () => {
    const { emulator, ids } = h;
    emulator.ec2.associateRouteTable(ids.routeTableId, ids.masterSubnetId);
    const res = await h.teardown();
    expect(res.code).toBe(1);
    expect(leftovers(emulator, ids).map((l) => l.kind)).toEqual(['route-table-association', 'route-table']);
    expect(emulator.ec2.routeTableById(ids.routeTableId)!.associations.map((a) => a.subnetId)).toEqual([
      ids.masterSubnetId,
    ]);
    const report = res.report();
    expect(actionOf(report, 'DeleteRouteTable')).toMatchObject({
      outcome: 'blocked',
      blockers: [ids.masterSubnetId],
    });
  });
});
