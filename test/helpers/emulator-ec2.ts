import { EC2Client } from '@aws-sdk/client-ec2';
import { Ec2ServiceOptions } from '../../sim/emulator/ec2';
import { AwsEmulator } from '../../sim/emulator/server';
import { CallRecord, EmulatorError } from '../../sim/emulator/types';
import { LoxilbClusterIds, LoxilbClusterOptions, seedLoxilbCluster } from '../../sim/loxilb/footprint';
import { parseConfig } from '../../lib/config/load';
import { ConfigInput } from '../../lib/config/schema';
import { EngineDeps } from '../../lib/episode/engine';
import { nullLogger } from '../../lib/log';
import { emulatorEc2Client } from './emulator-clients';
import { ManualClock } from './manual-clock';

/**
 * EC2 for unit tests of discovery, the executor and the engine: the AWS emulator in-process on
 * 127.0.0.1 with one loxilb cluster seeded, and the real SDK client pointed at it. Transitions are
 * immediate by default (detaches, CIDR disassociations), because the code under test runs on a
 * ManualClock and must never wait on the emulator's real-time timers; a test that needs an ENI to
 * stay `detaching` sets `holdDetaches`. `stop()` in afterEach.
 */
export class EmulatorEc2 {
  /** The most calls of each action the client had in flight at once (measured around `send`). */
  readonly maxInFlight = new Map<string, number>();
  private readonly current = new Map<string, number>();

  private constructor(
    readonly emulator: AwsEmulator,
    readonly client: EC2Client,
    readonly ids: LoxilbClusterIds,
  ) {
    const inFlight = this.current;
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const action = String(context.commandName).replace(/Command$/, '');
        const now = (inFlight.get(action) ?? 0) + 1;
        inFlight.set(action, now);
        this.maxInFlight.set(action, Math.max(this.maxInFlight.get(action) ?? 0, now));
        try {
          return await next(args);
        } finally {
          inFlight.set(action, inFlight.get(action)! - 1);
        }
      },
      { step: 'initialize', name: 'countInFlight' },
    );
  }

  /**
   * The teardown engine on this emulator: a ManualClock that lets an emulator call in flight land
   * before it moves time, the config (`cloud.cidrBlock` of the seeded cluster, then `config`), and
   * the engine's dependencies (`deps` on top: at least how loxilb is asked).
   */
  engine(
    config: ConfigInput,
    deps: Pick<EngineDeps, 'loxilb'> & Partial<EngineDeps>,
  ): { clock: ManualClock; deps: EngineDeps } {
    const clock = new ManualClock();
    clock.ioInFlight = () => this.inFlight() > 0;
    return {
      clock,
      deps: {
        ec2: this.client,
        config: parseConfig({ cloud: { cidrBlock: this.ids.cloudCidr }, ...config }),
        clock,
        logger: nullLogger(),
        random: () => 0.5,
        ...deps,
      },
    };
  }

  /** Calls sent and not answered yet (for ManualClock.ioInFlight). */
  inFlight(): number {
    let n = 0;
    for (const v of this.current.values()) n += v;
    return n;
  }

  static async start(
    opts: { ec2?: Ec2ServiceOptions; cluster?: LoxilbClusterOptions } = {},
  ): Promise<EmulatorEc2> {
    const emulator = await AwsEmulator.start({
      ec2: { detachDelayMs: 0, cidrDisassociateDelayMs: 0, ...opts.ec2 },
    });
    const ids = seedLoxilbCluster(emulator, opts.cluster);
    return new EmulatorEc2(emulator, emulatorEc2Client(emulator), ids);
  }

  /** Every EC2 call the emulator received, in order (injected answers included). */
  calls(action?: string): CallRecord[] {
    return this.emulator.calls.of('ec2', action);
  }

  /** Every mutating EC2 call that was sent, whatever its answer. */
  mutatingCalls(): CallRecord[] {
    return this.emulator.calls.mutating('ec2', true);
  }

  count(action: string): number {
    return this.calls(action).length;
  }

  /** The next calls of `action` are answered with these AWS errors, one each, in order. */
  fail(action: string, ...errors: Array<{ code: string; status?: number; message?: string }>): void {
    const queue = errors.map((e) => new EmulatorError(e.code, e.message ?? e.code, e.status ?? 400));
    this.emulator.faults.add({
      service: 'ec2',
      action,
      kind: 'before',
      count: queue.length,
      run: () => {
        throw queue.shift()!;
      },
    });
  }

  /** Runs `run` before each of the next EC2 calls is answered (until it returns `'done'`). */
  beforeCall(run: (call: CallRecord) => void | 'done'): void {
    const remove = this.emulator.faults.add({
      service: 'ec2',
      kind: 'before',
      run: (call) => {
        if (run(call) === 'done') remove();
      },
    });
  }

  async stop(): Promise<void> {
    this.client.destroy();
    await this.emulator.stop();
  }
}
