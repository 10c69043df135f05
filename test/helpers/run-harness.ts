import { AwsEmulator } from '../../sim/emulator/server';
import { DaemonProcess, TempWorkspace } from './daemon-process';
import { LoxilbClusterIds, seedLoxilbCluster } from '../../sim/loxilb/footprint';

/**
 * The shared set-up of the `teardownd run` end-to-end tests: an emulator with a seeded two-node
 * loxilb cluster (IMDS says this host is its master), a queue, a temp workspace, and daemons
 * started with fast test knobs (100 ms IMDS polls, 1 s long polls, short detaches). `stop()` stops
 * every daemon, the emulator and the workspace.
 */
export class RunHarness {
  readonly daemons: DaemonProcess[] = [];

  private constructor(
    readonly emulator: AwsEmulator,
    readonly ws: TempWorkspace,
    readonly ids: LoxilbClusterIds,
    readonly queueUrl: string,
  ) {}

  static async start(): Promise<RunHarness> {
    const emulator = await AwsEmulator.start({ ec2: { detachDelayMs: 100 } });
    const ids = seedLoxilbCluster(emulator);
    emulator.imds.configure({ instanceId: ids.masterInstanceId });
    const queueUrl = emulator.sqs.createQueue('teardownd-events');
    return new RunHarness(emulator, new TempWorkspace(), ids, queueUrl);
  }

  /** Writes the config file (test knobs, then `extra` on top); returns its path. */
  config(extra: Record<string, unknown> = {}): string {
    return this.ws.writeConfig({
      gate: { mode: 'override', override: 'full' },
      sources: {
        imds: { pollIntervalMs: 100, requestTimeoutMs: 300 },
        sqs: { queueUrl: this.queueUrl, waitTimeSeconds: 1, visibilityTimeoutSeconds: 5 },
      },
      executor: { detachPollIntervalMs: 50, retryBaseDelayMs: 20 },
      sweeper: { enabled: false },
      ...extra,
    });
  }

  start(extra: Record<string, unknown> = {}, args: string[] = []): DaemonProcess {
    const d = new DaemonProcess(['run', '--config', this.config(extra), ...args], this.emulator.env());
    this.daemons.push(d);
    return d;
  }

  async stop(): Promise<void> {
    for (const d of this.daemons) await d.stop();
    await this.emulator.stop();
    this.ws.cleanup();
  }
}

export const ready = (d: DaemonProcess) => d.waitForLog((l) => l.message === 'ready', 15000, 'ready');
export const closed = (d: DaemonProcess, timeoutMs = 20000) =>
  d.waitForLog((l) => l.message === 'episode closed', timeoutMs, 'episode closed');
