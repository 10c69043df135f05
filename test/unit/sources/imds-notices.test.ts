import {
  ImdsBodyError,
  parseRebalance,
  parseScheduledEventDate,
  parseScheduledEvents,
  parseSpotInstanceAction,
  parseTargetLifecycleState,
} from '../../../lib/sources/imds-notices';
import { fixture } from '../../fixtures/events';

const ctx = { instanceId: 'i-1234567890abcdef0', receivedAt: Date.parse('2017-09-18T08:20:01Z') };

describe('spot/instance-action', () => {
  it('reads the real compact body: terminate at the given time', () => {
    const n = parseSpotInstanceAction(fixture('imds-spot-instance-action-terminate.json'), ctx);
    expect(n).toEqual({
      instanceId: 'i-1234567890abcdef0',
      kind: 'spot-terminate',
      deadline: '2017-09-18T08:22:00.000Z',
      source: 'imds',
      receivedAt: '2017-09-18T08:20:01.000Z',
      sourceId: 'spot/terminate/2017-09-18T08:22:00Z',
    });
  });

  it('reads stop, and the tab-indented AEMM body', () => {
    expect(parseSpotInstanceAction(fixture('imds-spot-instance-action-stop.json'), ctx).kind).toBe(
      'spot-stop',
    );
    const aemm = parseSpotInstanceAction(fixture('imds-spot-instance-action-aemm.json'), ctx);
    expect(aemm.kind).toBe('spot-terminate');
    expect(aemm.deadline).toBe('2020-04-24T17:11:44.000Z');
  });

  it('keeps a stale time in the past: still a notice', () => {
    const n = parseSpotInstanceAction('{"action": "terminate", "time": "2001-01-01T00:00:00Z"}', {
      ...ctx,
      receivedAt: Date.now(),
    });
    expect(n.deadline).toBe('2001-01-01T00:00:00.000Z');
  });

  it.each([
    ['not json', 'oops', '(body)'],
    ['unknown action', '{"action": "explode", "time": "2017-09-18T08:22:00Z"}', 'action'],
    ['missing action', '{"time": "2017-09-18T08:22:00Z"}', 'action'],
    ['bad time', '{"action": "terminate", "time": "soon"}', 'time'],
    ['an array', '[]', '(body)'],
  ])('rejects %s, naming the field', (_name, body, field) => {
    let err: unknown;
    try {
      parseSpotInstanceAction(body, ctx);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ImdsBodyError);
    expect((err as ImdsBodyError).field).toBe(field);
    expect((err as Error).message).toContain('spot/instance-action');
  });
});

describe('autoscaling/target-lifecycle-state', () => {
  it('Terminated is an asg-terminate notice without token (completion goes by instance id)', () => {
    const n = parseTargetLifecycleState('Terminated', ctx)!;
    expect(n.kind).toBe('asg-terminate');
    expect(n.lifecycle).toBeUndefined();
    expect(n.deadline).toBeNull();
  });

  it.each(['InService', 'Warmed:Stopped', 'Warmed:Terminated', 'Warmed:Running', 'Standby', 'Detached'])(
    '%s is not a termination',
    (state) => {
      expect(parseTargetLifecycleState(`${state}\n`, ctx)).toBeNull();
    },
  );

  it('rejects an unknown state', () => {
    expect(() => parseTargetLifecycleState('Exploding', ctx)).toThrow(/target-lifecycle-state.*Exploding/);
  });
});

describe('events/maintenance/scheduled', () => {
  it('parses the non-RFC date format, day not zero-padded', () => {
    expect(parseScheduledEventDate('1 Jan 2021 02:00:00 GMT')).toBe(Date.parse('2021-01-01T02:00:00Z'));
    expect(parseScheduledEventDate('21 Jan 2019 09:00:43 GMT')).toBe(Date.parse('2019-01-21T09:00:43Z'));
    expect(parseScheduledEventDate('2019-01-21')).toBeNull();
  });

  it('instance-stop (no NotAfter) → scheduled-stop with NotBefore as deadline', () => {
    const [n, ...rest] = parseScheduledEvents(fixture('imds-scheduled-instance-stop.json'), ctx);
    expect(rest).toEqual([]);
    expect(n.kind).toBe('scheduled-stop');
    expect(n.deadline).toBe('2021-01-01T02:00:00.000Z');
    expect(n.sourceId).toBe('instance-event-07a1c1c08b77d4bf1');
  });

  it('system-reboot → scheduled-reboot (not destructive)', () => {
    const [n] = parseScheduledEvents(fixture('imds-scheduled-system-reboot.json'), ctx);
    expect(n.kind).toBe('scheduled-reboot');
  });

  it('canceled/completed events and empty bodies mean no notice', () => {
    expect(parseScheduledEvents(fixture('imds-scheduled-history.json'), ctx)).toEqual([]);
    expect(parseScheduledEvents(fixture('imds-scheduled-empty.json'), ctx)).toEqual([]);
    expect(parseScheduledEvents('', ctx)).toEqual([]);
  });

  it('names the broken field', () => {
    expect(() =>
      parseScheduledEvents(
        '[{"Code":"instance-stop","State":"active","EventId":"e-1","NotBefore":"tomorrow"}]',
        ctx,
      ),
    ).toThrow(/\[0\]\.NotBefore/);
    expect(() => parseScheduledEvents('[{"Code":"nope","State":"active"}]', ctx)).toThrow(/\[0\]\.Code/);
    expect(() => parseScheduledEvents('{}', ctx)).toThrow(/expected a JSON array/);
  });
});

describe('events/recommendations/rebalance', () => {
  it('is an advisory notice without deadline', () => {
    const n = parseRebalance(fixture('imds-rebalance.json'), ctx);
    expect(n.kind).toBe('rebalance');
    expect(n.deadline).toBeNull();
    expect(n.sourceId).toBe('rebalance/2020-10-27T08:22:00Z');
  });

  it('rejects a body without noticeTime', () => {
    expect(() => parseRebalance('{}', ctx)).toThrow(/noticeTime/);
  });
});
