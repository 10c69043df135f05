import { decoysIntact, leftovers } from '../../sim/loxilb/footprint';
import { actionOf } from '../helpers/teardown-cli';
import { TeardownHarness } from '../helpers/teardown-harness';

/**
 * DESIGN.md safety invariants 1–3, each with a setup that makes a broken teardownd touch what it must
 * not: the CLI runs a real `full` teardown and the emulator's call log and state show what it did.
 */
describe('teardownd teardown: safety invariants', () => {
  let h: TeardownHarness;

  beforeEach(async () => {
    h = await TeardownHarness.start({
      emulator: { ec2: { detachDelayMs: 80, cidrDisassociateDelayMs: 50 } },
      // The decoy loxilb ENI attached to the peer (loxilb never leaves one; invariant 2 needs it).
      cluster: { peerLoxilbEni: true },
    });
  });
  afterEach(() => h.stop());

  /** Every id any mutating EC2 call named. */
  const touched = () =>
    new Set(h.emulator.calls.mutating('ec2').flatMap((c) => Object.values(c.params).map(String)));

  it('1. never touches a resource without the ownership tag', async () => {
    const { emulator, ids } = h;
    // An untagged secondary ENI on this very instance (device 2), looking just like loxilb's.
    const ec2 = emulator.ec2;
    const untagged = ec2.createNetworkInterface({ subnetId: ids.masterSubnetId, description: 'loxilb-eni' });
    const attachment = ec2.attachNetworkInterface(untagged.networkInterfaceId, ids.masterInstanceId, 2);
    // An untagged EIP associated with it.
    const eip = ec2.allocateAddress({});
    const eipAssoc = ec2.associateAddress({
      allocationId: eip.allocationId,
      networkInterfaceId: untagged.networkInterfaceId,
    });

    const res = await h.teardown();
    expect(res.code).toBe(0);
    expect(leftovers(emulator, ids)).toEqual([]);
    const seen = touched();
    for (const id of [
      untagged.networkInterfaceId,
      attachment,
      eipAssoc,
      eip.allocationId,
      ids.decoys!.untaggedEniId,
      ids.decoys!.untaggedRouteTableId,
    ]) {
      expect(seen.has(id)).toBe(false);
    }
    expect(ec2.networkInterfaceById(untagged.networkInterfaceId)?.attachment?.status).toBe('attached');
    expect(ec2.addressById(eip.allocationId)?.association?.associationId).toBe(eipAssoc);
    // Another cluster's loxilb subnet and route table carry a different tag value: also untouched.
    expect(decoysIntact(emulator, ids)).toEqual([]);
  });

  it('2a. never detaches or deletes an ENI attached to another instance', async () => {
    const { emulator, ids } = h;
    const res = await h.teardown();
    expect(res.code).toBe(0);
    const seen = touched();
    expect(seen.has(ids.decoys!.peerEniId!)).toBe(false);
    expect(seen.has(ids.decoys!.peerEniAttachmentId!)).toBe(false);
    expect(decoysIntact(emulator, ids)).toEqual([]);
    const report = res.report();
    expect(report.untouched).toContainEqual({
      resource: ids.decoys!.peerEniId,
      kind: 'eni',
      reason: `attached to another instance (${ids.peerInstanceId})`,
    });
  });

  it('2b. never touches device index 0, even when it carries the loxilb tag', async () => {
    const { emulator, ids } = h;
    emulator.ec2.createTags([ids.masterPrimaryEniId], { [ids.tagKey]: ids.tags.eni });
    const res = await h.teardown();
    expect(res.code).toBe(0);
    expect(touched().has(ids.masterPrimaryEniId)).toBe(false);
    expect(decoysIntact(emulator, ids)).toEqual([]);
    expect(res.report().untouched).toContainEqual({
      resource: ids.masterPrimaryEniId,
      kind: 'eni',
      reason: 'device index 0 (primary interface)',
    });
  });

  it('2c. never disassociates the primary VPC CIDR, even when configured as the cloud CIDR', async () => {
    const { emulator, ids } = h;
    const res = await h.teardown({ config: { cloud: { cidrBlock: ids.vpcCidr } } });
    expect(
      emulator.calls.mutating('ec2', false).filter((c) => c.action === 'DisassociateVpcCidrBlock'),
    ).toEqual([]);
    expect(decoysIntact(emulator, ids)).toEqual([]);
    const report = res.report();
    const cidr = actionOf(report, 'DisassociateVpcCidrBlock');
    expect(cidr).toMatchObject({ resource: ids.primaryCidrAssociationId, outcome: 'skipped' });
    expect(cidr.message).toMatch(/primary CIDR, which is never disassociated/);
    // Honest outcome: the refused CIDR is left behind with the reason, not a `clean` report.
    expect(res.code).toBe(1);
    expect(report.outcome).toBe('left-behind');
    expect(report.leftBehind).toContainEqual(
      expect.objectContaining({
        resource: ids.primaryCidrAssociationId,
        reason: expect.stringMatching(/refused: .*primary CIDR/),
      }),
    );
  });
});
