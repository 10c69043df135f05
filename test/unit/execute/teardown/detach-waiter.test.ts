import { parseConfig } from '../../../../lib/config/load';
import { nullLogger } from '../../../../lib/log';
import { CallContext } from '../../../../lib/aws/call';
import { DetachTimeoutError, DetachWaiter } from '../../../../lib/execute/teardown/eni';
import { EmulatorEc2 } from '../../../helpers/emulator-ec2';
import { ManualClock } from '../../../helpers/manual-clock';

const ME = 'i-0aaaaaaaaaaaaaaa1';

describe('DetachWaiter', () => {
  let ec2: EmulatorEc2;
  afterEach(() => ec2.stop());

  /** This master with two loxilb ENIs (device 1 and 2); detaches finish at once unless held. */
  async function setup() {
    ec2 = await EmulatorEc2.start({ cluster: { masterInstanceId: ME, enis: 2 } });
    const clock = new ManualClock();
    clock.ioInFlight = () => ec2.inFlight() > 0;
    const ctx: CallContext = {
      ec2: ec2.client,
      clock,
      config: parseConfig({}),
      logger: nullLogger(),
      random: () => 0.5,
    };
    const [a, b] = ec2.ids.enis;
    const detach = (eni: typeof a) => ec2.emulator.ec2.detachNetworkInterface(eni.attachmentId);
    return { clock, ctx, a, b, detach };
  }

  it('a waiter added the moment the poll loop ends still gets an answer', async () => {
    const { clock, ctx, a, b, detach } = await setup();
    detach(a);
    const waiter = new DetachWaiter(ctx, 100, ME);
    const second = waiter.wait(a.eniId, { timeoutMs: 10000 }).then(() => {
      // Registered from the first waiter's resolution: the loop has just run out of waiters.
      detach(b);
      return waiter.wait(b.eniId, { timeoutMs: 10000 });
    });
    const result = await clock.run(second);
    expect(result).toMatchObject({ gone: false, eni: { networkInterfaceId: b.eniId, status: 'available' } });
  });

  it('times out with the last status seen, and an id that is gone resolves as gone', async () => {
    const { clock, ctx, a, detach } = await setup();
    ec2.emulator.ec2.configure({ holdDetaches: true });
    detach(a);
    const waiter = new DetachWaiter(ctx, 100, ME);
    const err = await clock.run(waiter.wait(a.eniId, { timeoutMs: 450 }).catch((e: unknown) => e));
    expect(err).toBeInstanceOf(DetachTimeoutError);
    expect((err as DetachTimeoutError).message).toMatch(/still detaching after executor\.detachTimeoutMs/);
    expect(ec2.count('DescribeNetworkInterfaces')).toBeLessThanOrEqual(5);
    ec2.emulator.ec2.releaseHeldDetaches();
    ec2.emulator.ec2.deleteNetworkInterface(a.eniId);
    expect(await clock.run(waiter.wait(a.eniId, { timeoutMs: 450 }))).toEqual({ gone: true });
  });
});
