import {
  DeleteNetworkInterfaceCommand,
  DeleteRouteTableCommand,
  DeleteSubnetCommand,
  DetachNetworkInterfaceCommand,
  DisassociateAddressCommand,
  DisassociateRouteTableCommand,
  DisassociateVpcCidrBlockCommand,
} from '@aws-sdk/client-ec2';
import { decoysIntact, leftovers } from '../../sim/loxilb/footprint';
import { emulatorEc2Client } from '../helpers/emulator-clients';
import { TeardownHarness } from '../helpers/teardown-harness';

/**
 * DESIGN.md invariant 4: every action is idempotent. A second run, or loxilb doing the same teardown
 * at the same time, ends in the same state with no error.
 */
describe('teardownd teardown: idempotency', () => {
  let h: TeardownHarness;

  beforeEach(async () => {
    h = await TeardownHarness.start({
      emulator: { ec2: { detachDelayMs: 80, cidrDisassociateDelayMs: 50 } },
    });
  });
  afterEach(() => h.stop());

  it('run twice: the second run finds nothing to do and changes nothing', async () => {
    const { emulator, ids } = h;
    const first = await h.teardown();
    expect(first.code).toBe(0);
    expect(leftovers(emulator, ids)).toEqual([]);
    const mutatedBefore = emulator.calls.mutating().length;

    const second = await h.teardown();
    expect(second.code).toBe(0);
    expect(second.stderr).toBe('');
    expect(second.report()).toMatchObject({ outcome: 'nothing-to-do', actions: [], leftBehind: [] });
    expect(emulator.calls.mutating().length).toBe(mutatedBefore);
    expect(decoysIntact(emulator, ids)).toEqual([]);
  });

  it('a second actor tearing the same resources down over the wire at the same time: no error, nothing left', async () => {
    const { emulator, ids } = h;
    emulator.faults.baseLatencyMs = 15;
    const actor = emulatorEc2Client(emulator);
    const eni = ids.enis[0];
    let actorDone = 0;
    const attempt = async (send: () => Promise<unknown>) => {
      try {
        await send();
        actorDone++;
      } catch {
        /* the other side got there first, or it is not possible yet */
      }
    };
    const child = h.teardown();
    let finished = false;
    void child.finally(() => (finished = true));
    // Like loxilb's own shutdown path: starts once the teardown is under way, in its own order.
    const until = Date.now() + 15000;
    while (!finished && emulator.calls.mutating('ec2').length === 0 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 5));
    }
    await attempt(() => actor.send(new DetachNetworkInterfaceCommand({ AttachmentId: eni.attachmentId })));
    await Promise.all(
      eni.eipAssociationIds.map((id) =>
        attempt(() => actor.send(new DisassociateAddressCommand({ AssociationId: id }))),
      ),
    );
    while (!finished && Date.now() < until && leftovers(emulator, ids).length > 0) {
      await attempt(() => actor.send(new DeleteNetworkInterfaceCommand({ NetworkInterfaceId: eni.eniId })));
      await attempt(() =>
        actor.send(new DisassociateRouteTableCommand({ AssociationId: ids.routeTableAssociationId })),
      );
      await attempt(() => actor.send(new DeleteRouteTableCommand({ RouteTableId: ids.routeTableId })));
      await attempt(() => actor.send(new DeleteSubnetCommand({ SubnetId: ids.subnetId })));
      await attempt(() =>
        actor.send(new DisassociateVpcCidrBlockCommand({ AssociationId: ids.cidrAssociationId })),
      );
      await new Promise((r) => setTimeout(r, 10));
    }
    const res = await child;
    actor.destroy();

    expect(actorDone).toBeGreaterThan(0);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(leftovers(emulator, ids)).toEqual([]);
    expect(decoysIntact(emulator, ids)).toEqual([]);
    const report = res.report();
    expect(report.outcome).toBe('clean');
    expect(report.leftBehind).toEqual([]);
    const outcomes = new Set(report.actions.map((a: { outcome: string }) => a.outcome));
    expect([...outcomes].every((o) => o === 'done' || o === 'already-done')).toBe(true);
    // The race really happened: some of what the teardown set out to do, the other actor had done.
    expect(outcomes.has('already-done')).toBe(true);
  });
});
