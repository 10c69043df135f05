import { nextCronRun } from '../../../lib/sweeper/scheduler';

describe('nextCronRun', () => {
  it('is the next time the expression fires after now (the sweep child tells the daemon)', () => {
    const before = Date.now();
    const next = nextCronRun('*/10 * * * *');
    expect(next.getTime()).toBeGreaterThan(before);
    expect(next.getTime() - before).toBeLessThanOrEqual(10 * 60000);
    expect([next.getMinutes() % 10, next.getSeconds(), next.getMilliseconds()]).toEqual([0, 0, 0]);
  });
});
