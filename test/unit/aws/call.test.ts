import { awsCall, AwsCallContext, AwsClient, callEc2, CallContext } from '../../../lib/aws/call';
import { TokenBucket } from '../../../lib/aws/pacer';
import { parseConfig } from '../../../lib/config/load';
import { nullLogger } from '../../../lib/log';
import { flush, ManualClock } from '../../helpers/manual-clock';

/** A stand-in SDK command: only its class name (the action) and input matter to the call path. */
class DetachNetworkInterfaceCommand {
  constructor(readonly input: Record<string, unknown>) {}
}

type Answer = 'hang' | 'hang-ignoring-abort' | Error | Record<string, unknown>;

/** A client whose attempts answer as scripted; records each attempt's time and abort signal. */
function fakeClient(clock: ManualClock, script: Answer[]) {
  const sent: Array<{ at: number; signal: AbortSignal }> = [];
  const client = {
    send(_command: unknown, options: { abortSignal: AbortSignal }) {
      sent.push({ at: clock.now(), signal: options.abortSignal });
      const answer = script[Math.min(sent.length - 1, script.length - 1)];
      if (answer === 'hang-ignoring-abort') return new Promise(() => undefined);
      if (answer === 'hang')
        return new Promise((_, reject) =>
          options.abortSignal.addEventListener('abort', () =>
            reject(Object.assign(new Error('Request aborted'), { name: 'AbortError' })),
          ),
        );
      return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
    },
  };
  return { client: client as unknown as AwsClient, sent };
}

function context(clock: ManualClock, extra: Partial<AwsCallContext> = {}): AwsCallContext {
  return {
    clock,
    logger: nullLogger(),
    config: parseConfig({
      aws: { callTimeoutMs: 1000 },
      executor: { maxAttempts: 3, retryBaseDelayMs: 10, retryMaxDelayMs: 10 },
    }),
    random: () => 0.5,
    ...extra,
  };
}

const command = () => new DetachNetworkInterfaceCommand({ AttachmentId: 'eni-attach-1' });

/** Settles `p` into a result the test can inspect after moving the clock. */
function outcome<T>(p: Promise<T>) {
  const box: { value?: T; error?: unknown; settled: boolean } = { settled: false };
  p.then(
    (value) => Object.assign(box, { value, settled: true }),
    (error: unknown) => Object.assign(box, { error, settled: true }),
  );
  return box;
}

describe('lib/aws/call.ts: the one call path', () => {
  it('an attempt with no answer is cut at aws.callTimeoutMs (the SDK signal aborted too) and retried', async () => {
    const clock = new ManualClock();
    const { client, sent } = fakeClient(clock, ['hang', { ok: true }]);
    const res = outcome(awsCall(context(clock), client, command(), { mutating: true }));
    await clock.advance(999);
    expect(res.settled).toBe(false);
    expect(sent[0].signal.aborted).toBe(false);
    await clock.advance(1);
    expect(sent[0].signal.aborted).toBe(true);
    expect(sent[0].signal.reason).toMatchObject({ name: 'CallTimeout' });
    await clock.advance(10);
    expect(res.value).toEqual({ output: { ok: true }, attempts: 2 });
  });

  it('settles at the cut even when the SDK ignores its abort signal', async () => {
    const clock = new ManualClock();
    const { client } = fakeClient(clock, ['hang-ignoring-abort']);
    const res = outcome(awsCall(context(clock), client, command(), { mutating: false, maxAttempts: 1 }));
    await clock.advance(1000);
    expect(res.error).toMatchObject({
      name: 'CallTimeout',
      message:
        'DetachNetworkInterface: no answer within 1000 ms (aws.callTimeoutMs); the request was aborted',
      attempts: 1,
      gaveUp: 'max-attempts',
    });
  });

  it('the deadline cuts an attempt in flight and ends the retries', async () => {
    const clock = new ManualClock();
    const { client, sent } = fakeClient(clock, ['hang']);
    const ctx = context(clock, { deadlineAt: clock.now() + 300 });
    const res = outcome(awsCall(ctx, client, command(), { mutating: true }));
    await clock.advance(300);
    expect(res.error).toMatchObject({ name: 'DeadlineExceeded', attempts: 1, gaveUp: 'deadline' });
    expect(sent).toHaveLength(1);
    expect(sent[0].signal.aborted).toBe(true);
  });

  it('retries a throttled call until the deadline, beyond executor.maxAttempts', async () => {
    const clock = new ManualClock();
    const throttled = Object.assign(new Error('Rate exceeded'), { name: 'RequestLimitExceeded' });
    const { client, sent } = fakeClient(clock, [throttled, throttled, throttled, throttled, { ok: 1 }]);
    const ctx = context(clock, { deadlineAt: clock.now() + 60000 });
    const res = await clock.run(awsCall(ctx, client, command(), { mutating: true }));
    expect(res).toEqual({ output: { ok: 1 }, attempts: 5 });
    expect(sent).toHaveLength(5);
  });

  it("the caller's signal ends the call at once with its reason, and is not retried", async () => {
    const clock = new ManualClock();
    const { client, sent } = fakeClient(clock, ['hang-ignoring-abort']);
    const stop = new AbortController();
    const res = outcome(
      awsCall(context(clock, { signal: stop.signal }), client, command(), { mutating: true }),
    );
    await flush();
    stop.abort(new Error('received SIGTERM'));
    await flush();
    expect(res.error).toMatchObject({ message: 'received SIGTERM', gaveUp: 'aborted' });
    expect(sent).toHaveLength(1);
    expect(clock.pendingTimers).toBe(0);
  });

  it('paced calls wait for a token of ctx.pacer; reads are not paced; every attempt is counted', async () => {
    const clock = new ManualClock();
    const { client, sent } = fakeClient(clock, [{}]);
    const counter = { read: 0, mutate: 0 };
    const pacer = new TokenBucket({ capacity: 2, refillPerSecond: 1 }, clock);
    const ctx: CallContext = {
      ...context(clock, { pacer, counter }),
      config: parseConfig({ aws: { callTimeoutMs: 1000 } }),
      ec2: client as never,
    };
    const start = clock.now();
    await clock.run(
      Promise.all([
        callEc2(ctx, command(), { mutating: true }),
        callEc2(ctx, command(), { mutating: true }),
        callEc2(ctx, command(), { mutating: true }),
        callEc2(ctx, command(), { mutating: false }),
      ]),
    );
    expect(sent.map((s) => s.at - start).sort((a, b) => a - b)).toEqual([0, 0, 0, 1000]);
    expect(counter).toEqual({ read: 1, mutate: 3 });
  });

  it('a paced call whose token would come after the deadline is not sent', async () => {
    const clock = new ManualClock();
    const { client, sent } = fakeClient(clock, [{}]);
    const pacer = new TokenBucket({ capacity: 1, refillPerSecond: 0.1 }, clock);
    await pacer.take();
    const ctx = context(clock, { pacer, deadlineAt: clock.now() + 5000 });
    const err = await awsCall(ctx, client, command(), { mutating: true, paced: true }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ name: 'DeadlineExceeded', gaveUp: 'deadline' });
    expect(sent).toEqual([]);
  });
});
