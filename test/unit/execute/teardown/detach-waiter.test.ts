import { parseConfig } from '../../../../lib/config/load';
import { nullLogger } from '../../../../lib/log';
import { CallContext } from '../../../../lib/aws/call';
import { DetachTimeoutError, DetachWaiter } from '../../../../lib/execute/teardown/eni';
import { ManualClock } from '../../../helpers/manual-clock';
import { MockEc2 } from '../../../helpers/mock-ec2';

const ME = 'i-0aaaaaaaaaaaaaaa1';

function setup() {
  const ec2 = new MockEc2();
  ec2.seedFootprint({ instanceId: ME });
  const clock = new ManualClock();
  const ctx: CallContext = {
    ec2: ec2.client,
    clock,
    config: parseConfig({}),
    logger: nullLogger(),
    random: () => 0.5,
  };
  const detach = (id: string) => {
    const eni = ec2.enis.get(id)!;
    eni.Status = 'detaching';
    eni.Attachment!.Status = 'detaching';
  };
  const clone = (id: string) => {
    ec2.enis.set(id, {
      ...structuredClone(ec2.enis.get('eni-lx')!),
      NetworkInterfaceId: id,
      Attachment: { AttachmentId: `eni-attach-${id}`, InstanceId: ME, DeviceIndex: 2, Status: 'attached' },
    });
  };
  return { ec2, clock, ctx, detach, clone };
}

describe('DetachWaiter', () => {
  it('a waiter added the moment the poll loop ends still gets an answer', async () => {
    const { ec2, clock, ctx, detach, clone } = setup();
    clone('eni-b');
    ec2.detachPolls = 0;
    // The detaching state machine of the mock only runs for ENIs it saw being detached.
    (ec2 as unknown as { detaching: Map<string, number> }).detaching.set('eni-lx', 0);
    detach('eni-lx');
    const waiter = new DetachWaiter(ctx, 100, ME);
    const second = waiter.wait('eni-lx', { timeoutMs: 10000 }).then(() => {
      // Registered from the first waiter's resolution: the loop has just run out of waiters.
      (ec2 as unknown as { detaching: Map<string, number> }).detaching.set('eni-b', 0);
      detach('eni-b');
      return waiter.wait('eni-b', { timeoutMs: 10000 });
    });
    const result = await clock.run(second);
    expect(result).toMatchObject({ gone: false, eni: { networkInterfaceId: 'eni-b', status: 'available' } });
  });

  it('times out with the last status seen, and an id that is gone resolves as gone', async () => {
    const { ec2, clock, ctx, detach } = setup();
    ec2.detachPolls = 1000;
    (ec2 as unknown as { detaching: Map<string, number> }).detaching.set('eni-lx', 1000);
    detach('eni-lx');
    const waiter = new DetachWaiter(ctx, 100, ME);
    const err = await clock.run(waiter.wait('eni-lx', { timeoutMs: 450 }).catch((e: unknown) => e));
    expect(err).toBeInstanceOf(DetachTimeoutError);
    expect((err as DetachTimeoutError).message).toMatch(/still detaching after executor\.detachTimeoutMs/);
    expect(ec2.count('DescribeNetworkInterfaces')).toBeLessThanOrEqual(5);
    ec2.enis.delete('eni-lx');
    expect(await clock.run(waiter.wait('eni-lx', { timeoutMs: 450 }))).toEqual({ gone: true });
  });
});
