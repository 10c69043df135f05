import { TerminationNotice } from '../../../lib/notice';
import { ImdsError } from '../../../lib/sources/imds-client';
import { IMDS_PATHS } from '../../../lib/sources/imds-notices';
import { ImdsPoller, ImdsReader, pollOnce } from '../../../lib/sources/imds-poller';
import { fixture } from '../../fixtures/events';
import { flush, ManualClock } from '../../helpers/manual-clock';
import { captureLogger } from '../../helpers/log-capture';

/** IMDS as a map: path → body, null (404) or an error to throw. */
class FakeImds implements ImdsReader {
  answers = new Map<string, string | null | Error>();
  reads: string[] = [];
  async get(path: string): Promise<string | null> {
    this.reads.push(path);
    const a = this.answers.get(path) ?? null;
    if (a instanceof Error) throw a;
    return a;
  }
}

const capture = () => captureLogger('debug');

const instanceId = 'i-0abc';

describe('pollOnce', () => {
  it('reads all four notice paths; 404 everywhere means no notice', async () => {
    const imds = new FakeImds();
    const r = await pollOnce({ imds, instanceId, clock: new ManualClock(), logger: capture().logger });
    expect(r).toEqual({ notices: [], failures: [] });
    expect(imds.reads.sort()).toEqual(Object.values(IMDS_PATHS).sort());
  });

  it('one failing path does not hide a notice on another', async () => {
    const imds = new FakeImds();
    imds.answers.set(IMDS_PATHS.scheduledEvents, new ImdsError('IMDS GET answered 500', 500));
    imds.answers.set(IMDS_PATHS.rebalance, 'garbage');
    imds.answers.set(IMDS_PATHS.spotInstanceAction, fixture('imds-spot-instance-action-terminate.json'));
    imds.answers.set(IMDS_PATHS.targetLifecycleState, 'Terminated');
    const r = await pollOnce({ imds, instanceId, clock: new ManualClock(), logger: capture().logger });
    expect(r.notices.map((n) => n.kind).sort()).toEqual(['asg-terminate', 'spot-terminate']);
    expect(r.failures.map((f) => f.path).sort()).toEqual(
      [IMDS_PATHS.scheduledEvents, IMDS_PATHS.rebalance].sort(),
    );
  });
});

describe('ImdsPoller', () => {
  it('hands each notice over once, and again only if it was not taken', async () => {
    const imds = new FakeImds();
    imds.answers.set(IMDS_PATHS.spotInstanceAction, fixture('imds-spot-instance-action-terminate.json'));
    imds.answers.set(IMDS_PATHS.scheduledEvents, fixture('imds-scheduled-instance-stop.json'));
    const seen: TerminationNotice[] = [];
    const poller = new ImdsPoller({
      imds,
      instanceId,
      clock: new ManualClock(),
      logger: capture().logger,
      intervalMs: 100,
      // The scheduled stop is "not due": refused, so it is offered again.
      onNotice: (n) => {
        seen.push(n);
        return n.kind !== 'scheduled-stop';
      },
    });
    await poller.pollOnce();
    await poller.pollOnce();
    await poller.pollOnce();
    expect(seen.filter((n) => n.kind === 'spot-terminate')).toHaveLength(1);
    expect(seen.filter((n) => n.kind === 'scheduled-stop')).toHaveLength(3);
  });

  it('keeps polling through 401/500/timeouts and catches the notice when IMDS recovers', async () => {
    const imds = new FakeImds();
    const { logger, lines } = capture();
    const clock = new ManualClock();
    const seen: TerminationNotice[] = [];
    const poller = new ImdsPoller({
      imds,
      instanceId,
      clock,
      logger,
      intervalMs: 100,
      onNotice: (n) => (seen.push(n), true),
    });
    const broken = new ImdsError(
      'IMDS meta-data/spot/instance-action timed out after 1000 ms',
      undefined,
      'ETIMEDOUT',
    );
    for (const p of Object.values(IMDS_PATHS)) imds.answers.set(p, broken);
    const abort = new AbortController();
    const loop = poller.run(abort.signal);
    for (let i = 0; i < 5; i++) await clock.advance(100);
    expect(seen).toEqual([]);
    // Same failure repeated: one warning per path, not one per poll.
    const warnings = lines.filter((l) => l.message === 'IMDS read failed; will keep polling');
    expect(warnings).toHaveLength(4);
    expect(warnings[0]).toMatchObject({ errorCode: 'ETIMEDOUT', stage: 'imds' });
    for (const p of Object.values(IMDS_PATHS)) imds.answers.set(p, null);
    imds.answers.set(IMDS_PATHS.spotInstanceAction, fixture('imds-spot-instance-action-terminate.json'));
    await clock.advance(100);
    expect(seen.map((n) => n.kind)).toEqual(['spot-terminate']);
    expect(lines.filter((l) => l.message === 'IMDS read succeeds again')).toHaveLength(4);
    abort.abort();
    await loop;
  });

  it('logs a malformed body as an error naming the path, once', async () => {
    const imds = new FakeImds();
    const { logger, lines } = capture();
    imds.answers.set(IMDS_PATHS.spotInstanceAction, '{"action": "explode", "time": "2017-09-18T08:22:00Z"}');
    const poller = new ImdsPoller({
      imds,
      instanceId,
      clock: new ManualClock(),
      logger,
      intervalMs: 100,
      onNotice: () => true,
    });
    await poller.pollOnce();
    await poller.pollOnce();
    const errors = lines.filter((l) => l.level === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({
      resource: '/latest/meta-data/spot/instance-action',
      errorCode: 'MalformedBody',
    });
    expect(String(errors[0].error)).toContain('action');
  });

  it('polls every interval and stops promptly on abort', async () => {
    const imds = new FakeImds();
    const clock = new ManualClock();
    const poller = new ImdsPoller({
      imds,
      instanceId,
      clock,
      logger: capture().logger,
      intervalMs: 2000,
      onNotice: () => true,
    });
    const abort = new AbortController();
    const loop = poller.run(abort.signal);
    await flush();
    expect(imds.reads).toHaveLength(4);
    await clock.advance(1999);
    expect(imds.reads).toHaveLength(4);
    await clock.advance(1);
    expect(imds.reads).toHaveLength(8);
    abort.abort();
    await loop;
    await clock.advance(10000);
    expect(imds.reads).toHaveLength(8);
  });
});
