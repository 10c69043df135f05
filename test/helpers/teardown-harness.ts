import { AwsEmulator, EmulatorOptions } from '../../sim/emulator/server';
import { LoxilbClusterIds, LoxilbClusterOptions, seedLoxilbCluster } from '../../sim/loxilb/footprint';
import { DaemonProcess, runCli, RunResult, TempWorkspace } from './daemon-process';
import { reportOf } from './teardown-cli';

/** A finished CLI run, with the report its `report: <path>` line names. */
export interface CliRun extends RunResult {
  /** The JSON report the run wrote (throws, showing the output, when there is no `report:` line). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  report(): any;
}

/** How one `teardown` / `plan` command line is built. */
export interface CommandOptions {
  /** A config file already written, or `extra` for `config()` (default: `config()`). */
  config?: string | Record<string, unknown>;
  /** `--scope` (default `full`); `null` leaves the scope to the gate. */
  scope?: string | null;
  /** Flags after the verb's own, e.g. `--dry-run`, `--json`. */
  flags?: string[];
  /** `--instance-id` (default the seeded master). */
  instanceId?: string;
  /** Bound on the whole run before it is killed (default 30 s). */
  timeoutMs?: number;
}

/** Fast test knobs every teardown e2e file starts from: short detach polls and retry delays. */
const TEST_EXECUTOR = { detachPollIntervalMs: 30, retryBaseDelayMs: 20 };

/**
 * The shared set-up of the CLI teardown end-to-end tests: an emulator seeded with one loxilb cluster
 * (its footprint and decoys), a temp workspace for config, state and reports, and the built CLI run
 * as a real process against both. `stop()` stops every process it started, the emulator and the
 * workspace; call it in afterEach.
 */
export class TeardownHarness {
  readonly procs: DaemonProcess[] = [];

  private constructor(
    readonly emulator: AwsEmulator,
    readonly ws: TempWorkspace,
    /** The seeded cluster; `seed()` replaces it. */
    public ids: LoxilbClusterIds,
  ) {}

  static async start(
    opts: { emulator?: EmulatorOptions; cluster?: LoxilbClusterOptions } = {},
  ): Promise<TeardownHarness> {
    const emulator = await AwsEmulator.start(opts.emulator);
    return new TeardownHarness(emulator, new TempWorkspace(), seedLoxilbCluster(emulator, opts.cluster));
  }

  /** Seeds another cluster into the same emulator and makes it the one commands default to. */
  seed(opts: LoxilbClusterOptions = {}): LoxilbClusterIds {
    this.ids = seedLoxilbCluster(this.emulator, opts);
    return this.ids;
  }

  /**
   * Writes the config file and returns its path: the cluster's cloud CIDR and the fast executor
   * knobs, then `extra` on top. `extra.executor` is merged into the knobs; any other key replaces
   * the default, and a key given as `undefined` drops it (e.g. `{ cloud: undefined }`).
   */
  config(extra: Record<string, unknown> = {}): string {
    return this.ws.writeConfig({
      cloud: { cidrBlock: this.ids.cloudCidr },
      ...extra,
      executor: { ...TEST_EXECUTOR, ...(extra.executor as Record<string, unknown> | undefined) },
    });
  }

  /** `-c CONFIG VERB --instance-id ID [--scope S] [flags…]`. */
  args(verb: 'teardown' | 'plan', opts: CommandOptions = {}): string[] {
    const config = typeof opts.config === 'string' ? opts.config : this.config(opts.config);
    const scope = opts.scope === undefined ? 'full' : opts.scope;
    return [
      '-c',
      config,
      verb,
      '--instance-id',
      opts.instanceId ?? this.ids.masterInstanceId,
      ...(scope === null ? [] : ['--scope', scope]),
      ...(opts.flags ?? []),
    ];
  }

  teardown(opts: CommandOptions = {}): Promise<CliRun> {
    return this.cli(this.args('teardown', opts), opts.timeoutMs);
  }

  plan(opts: CommandOptions = {}): Promise<CliRun> {
    return this.cli(this.args('plan', opts), opts.timeoutMs);
  }

  /** Any CLI command line, run to completion against the emulator. */
  async cli(args: string[], timeoutMs?: number): Promise<CliRun> {
    const res = await runCli(args, this.emulator.env(), timeoutMs);
    return { ...res, report: () => reportOf(res.stdout) };
  }

  /** Starts a command as a long-running process (to signal or kill it); stopped by `stop()`. */
  spawn(args: string[]): DaemonProcess {
    const p = new DaemonProcess(args, this.emulator.env());
    this.procs.push(p);
    return p;
  }

  async stop(): Promise<void> {
    for (const p of this.procs) await p.stop();
    await this.emulator.stop();
    this.ws.cleanup();
  }
}
