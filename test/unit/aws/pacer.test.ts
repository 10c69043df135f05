import { TokenBucket } from '../../../lib/aws/pacer';
import { ManualClock } from '../../helpers/manual-clock';

describe('lib/aws/pacer.ts: the mutating-call token bucket', () => {
  it('serves a burst of `capacity` at once, then one token per 1/refill seconds, in arrival order', async () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket({ capacity: 3, refillPerSecond: 2 }, clock);
    const start = clock.now();
    const servedAt: Array<[number, number]> = [];
    const takes = Array.from({ length: 6 }, (_, i) =>
      bucket.take().then(() => servedAt.push([i, clock.now() - start])),
    );
    await clock.run(Promise.all(takes));
    expect(servedAt).toEqual([
      [0, 0],
      [1, 0],
      [2, 0],
      [3, 500],
      [4, 1000],
      [5, 1500],
    ]);
  });

  it('refills while idle, never above capacity', async () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket({ capacity: 50, refillPerSecond: 5 }, clock);
    for (let i = 0; i < 50; i++) expect(await bucket.take()).toBe(0);
    expect(bucket.available()).toBe(0);
    await clock.advance(2000);
    expect(bucket.available()).toBe(10);
    await clock.advance(60000);
    expect(bucket.available()).toBe(50);
  });

  it('a token that would come after the deadline is refused at once, and nothing is taken', async () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket({ capacity: 1, refillPerSecond: 1 }, clock);
    await bucket.take();
    await expect(
      bucket.take({ deadlineAt: clock.now() + 500, action: 'DeleteSubnet' }),
    ).rejects.toMatchObject({
      name: 'DeadlineExceeded',
      message: expect.stringMatching(/^DeleteSubnet: no pacing token before the deadline/),
    });
    expect(bucket.available()).toBe(0);
    // One that fits waits for it.
    const waited = clock.run(bucket.take({ deadlineAt: clock.now() + 1500 }));
    expect(await waited).toBe(1000);
  });

  it('an aborted wait gives its token back', async () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket({ capacity: 1, refillPerSecond: 1 }, clock);
    await bucket.take();
    const stop = new AbortController();
    const waiting = bucket.take({ signal: stop.signal });
    expect(bucket.available()).toBe(-1);
    stop.abort(new Error('received SIGTERM'));
    await expect(waiting).rejects.toThrow('received SIGTERM');
    expect(bucket.available()).toBe(0);
  });
});
