import { EC2Client } from '@aws-sdk/client-ec2';
import { ipToNumber } from '../emulator/ec2-ip';
import { BfdSessionEntry, CiStateEntry, LoxilbApiBackend, LoxilbApiServer } from './api';
import { CloudAborted, CloudCall, CloudIdentity, LoxilbCloud, NodeDied, TakeoverPhase } from './cloud';
import type { AwsEmulator } from '../emulator/server';

/**
 * A fake loxilb node that behaves as loxilb does on AWS, against the emulator. One object per node:
 *
 *   const world = new LoxilbWorld(emulator, { detectMs: 120 });
 *   const node = await world.startNode({ instanceId, cloudCidr, bfdPeers: [peerIp], vips });
 *   node.apiUrl                 its REST API on 127.0.0.1 (loxilb-api.ts: cistate, bfd, setRoles POST)
 *   node.role()                 HA state of llb-inst0: MASTER | BACKUP | NOT_DEFINED | FAULT | STOP
 *   node.bfdSessions()          [{remoteIp, state: BFDUp|BFDDown|BFDInit|BFDAdminDown}]; undefined = BFD off
 *   node.takeover()             {status: none|running|succeeded|aborted, failedCall?, phase?, calls, eniId?}
 *   node.takeovers()            every takeover so far (a repeated MASTER starts none)
 *   await node.waitForTakeover(timeoutMs?, count?)   until takeover #count (default 1) settled (bounded)
 *   await node.stop()           SIGTERM: loxilb's shutdown path (LB rules removed: for the MASTER,
 *                               DisassociateAddress per EIP-mapped VIP and UnassignPrivateIpAddresses
 *                               per plain VIP; then CloudDestroyVIPNetWork only if MASTER + BFD
 *                               running + every session exactly BFDDown), then the process exits.
 *                               `sigtermCleanup: false` skips the shutdown path; node.shutdown() records it.
 *   await node.kill()           the process dies: no cleanup, API port closed, no more BFD packets.
 *   await node.start()          (again after stop/kill) a fresh process: NOT_DEFINED, sessions BFDDown.
 *   node.deleteBfdSession(ip)   as `DELETE /config/bfd/remoteIp/{ip}`: the peer's session → BFDInit
 *   node.setRole('MASTER')      as kube-loxilb's POST /config/cistate (an unchanged role is ignored)
 *
 * HA semantics (loxilb pkg/proto/bfd.go, pkg/loxinet/cluster.go): sessions start BFDDown; the
 * world delivers each live peer's session state every tick (Down→Init, Init→Up, …); when a session
 * comes Up the node with the larger discriminator (its IP as a number) is MASTER, the other BACKUP;
 * a session Up whose peer sends nothing for `detectMs` goes Down, the node's discriminator becomes
 * the peer's + 1 and it becomes MASTER; a peer that deletes its session sends AdminDown once and
 * this side sits in BFDInit. A peer is live when its node is running AND its EC2 instance is
 * `running` in the emulator; a node whose instance reaches `terminated` or `stopped` dies by itself
 * (no cleanup). While its instance is `shutting-down` (or `stopping`) the node still runs — its API
 * answers and the test can play its SIGTERM path — but it takes no part in BFD any more: peers see
 * it Down, and its own sessions stay as they were (so two nodes reclaimed together each still see
 * the other Up, and neither destroys: loxilb's leak that teardownd must cover).
 * Becoming MASTER runs CloudPrepareVIPNetWork, then adds each VIP (loxilb-cloud.ts); becoming
 * BACKUP only drops the host side; a state equal to the current one is ignored.
 *
 * AWS calls go through the real EC2Client signed with the node's own access key id
 * (`node.accessKeyId`), so `emulator.calls.by(node.accessKeyId)` are its calls and the daemon's are
 * `emulator.calls.by(DAEMON_ACCESS_KEY_ID)`.
 */

export type HaState = 'MASTER' | 'BACKUP' | 'FAULT' | 'STOP' | 'NOT_DEFINED';
export type BfdState = 'BFDAdminDown' | 'BFDDown' | 'BFDInit' | 'BFDUp';
const HA_STATES: HaState[] = ['MASTER', 'BACKUP', 'FAULT', 'STOP', 'NOT_DEFINED'];
export const DEFAULT_INSTANCE = 'llb-inst0';

/** An LB rule's address: the private VIP on loxilb's ENI and, when mapped, the user's EIP. */
export interface LoxilbVip {
  privateIp: string;
  publicIp?: string;
}

export type TakeoverStatus = 'none' | 'running' | 'succeeded' | 'aborted';

export interface TakeoverRecord {
  status: Exclude<TakeoverStatus, 'none'>;
  /** What made the node MASTER: `bfd` (a session event) or `api` (kube-loxilb's POST, setRole). */
  trigger: 'bfd' | 'api';
  startedAt: number;
  finishedAt?: number;
  /** Where an aborted takeover stopped: phase A/B of CloudPrepareVIPNetWork, or adding the VIPs. */
  phase?: TakeoverPhase | 'vips';
  failedCall?: { action: string; target?: string; errorCode: string; message: string };
  /** Every AWS call of this takeover, in order. */
  calls: CloudCall[];
  /** The loxilb ENI it created, if it got that far. */
  eniId?: string;
}

export interface TakeoverView extends Partial<Omit<TakeoverRecord, 'status'>> {
  status: TakeoverStatus;
  calls: CloudCall[];
}

export interface ShutdownRecord {
  /** LB rules removed (the MASTER's VIPs). */
  rulesRemoved: { privateIp: string; publicIp?: string; ok: boolean; errorCode?: string }[];
  /** Whether loxilb's gate let CloudDestroyVIPNetWork run, and why not. */
  destroy: 'ran' | 'not-master' | 'bfd-off' | 'session-not-down' | 'skipped';
  destroyStatus?: 'succeeded' | 'aborted';
  failedCall?: { action: string; target?: string; errorCode: string };
  calls: CloudCall[];
}

export interface LoxilbNodeOptions {
  instanceId: string;
  /** Log/display name (default the instance id). */
  name?: string;
  /** loxilb `--cloudcidrblock`. */
  cloudCidr: string;
  /** loxilb `--cloudinstance` (default ''). */
  cloudInstance?: string;
  /** BFD peers' IPs (`--ka`); omitted = BFD off (kube-loxilb `--setRoles`). */
  bfdPeers?: string[];
  /** LB rules' VIPs. */
  vips?: LoxilbVip[];
  /** DeleteNetworkInterface retries of the takeover (loxilb: 20 × 2000 ms; keep small in tests). */
  retry?: { count?: number; intervalMs?: number };
  /** Run loxilb's SIGTERM path on stop() (default true). */
  sigtermCleanup?: boolean;
  /** Access key id of its EC2 client (default `AKIALOXILB` + the instance id's tail). */
  accessKeyId?: string;
}

interface Session {
  remoteIp: string;
  state: BfdState;
  myDisc: number;
  remDisc: number;
  ciState: string;
  lastRx: number;
}

export interface WorldOptions {
  /** How long a BFD session stays Up without packets (loxilb: retryCount × interval = 300 ms). */
  detectMs?: number;
  /** How often packets are delivered and timeouts checked (default 20 ms). */
  tickMs?: number;
}

/** Waits (bounded) until `check()` is truthy; the error names `what`. */
export async function waitUntil<T>(
  check: () => T,
  what: string,
  timeoutMs = 15_000,
  everyMs = 10,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export class LoxilbNode implements LoxilbApiBackend {
  readonly name: string;
  readonly instanceId: string;
  readonly privateIp: string;
  readonly accessKeyId: string;
  readonly bfdEnabled: boolean;
  private readonly api = new LoxilbApiServer(this);
  private readonly ec2: EC2Client;
  private cloud!: LoxilbCloud;
  private running = false;
  private ha: Record<string, HaState> = {};
  private sessions = new Map<string, Session>();
  /** VIPs configured on the host (added while MASTER): loxilb removes these at SIGTERM. */
  private localVips = new Set<string>();
  private work: Promise<void> = Promise.resolve();
  private readonly records: TakeoverRecord[] = [];
  private current?: TakeoverRecord;
  private shutdownRecord?: ShutdownRecord;
  private shutdownCalls?: CloudCall[];

  constructor(
    readonly world: LoxilbWorld,
    readonly options: LoxilbNodeOptions,
  ) {
    this.instanceId = options.instanceId;
    this.name = options.name ?? options.instanceId;
    const instance = world.emulator.ec2.instanceById(options.instanceId);
    if (!instance) throw new Error(`LoxilbNode: no instance ${options.instanceId} in the emulator`);
    const primary = world.emulator.ec2.networkInterfaceById(instance.primaryNetworkInterfaceId);
    this.privateIp = primary!.privateIps[0].privateIpAddress;
    this.accessKeyId = options.accessKeyId ?? `AKIALOXILB${options.instanceId.slice(-10).toUpperCase()}`;
    this.bfdEnabled = options.bfdPeers !== undefined;
    this.ec2 = new EC2Client({
      endpoint: world.emulator.url,
      region: 'us-east-1',
      credentials: { accessKeyId: this.accessKeyId, secretAccessKey: 'loxilb-secret' },
    });
    this.reset();
  }

  get apiUrl(): string {
    return this.api.url;
  }

  /** `METHOD path` of every API request this node answered. */
  get apiRequests(): string[] {
    return this.api.requests;
  }

  isRunning(): boolean {
    return this.running;
  }

  /** Running and its instance `running`: what a BFD peer or kube-loxilb can see. */
  isLive(): boolean {
    return this.running && this.world.emulator.ec2.instanceById(this.instanceId)?.state === 'running';
  }

  role(instance = DEFAULT_INSTANCE): HaState {
    return this.ha[instance] ?? 'NOT_DEFINED';
  }

  bfdSessions(): BfdSessionEntry[] {
    if (!this.bfdEnabled) throw new Error('bfd session not running');
    return [...this.sessions.values()].map((s) => ({
      instance: DEFAULT_INSTANCE,
      interval: 100000,
      port: 3784,
      remoteIp: s.remoteIp,
      retryCount: 3,
      sourceIP: this.privateIp,
      state: s.state,
    }));
  }

  /** The sessions as the API shows them, or undefined when BFD is off. */
  sessionStates(): { remoteIp: string; state: BfdState }[] | undefined {
    if (!this.bfdEnabled) return undefined;
    return [...this.sessions.values()].map((s) => ({ remoteIp: s.remoteIp, state: s.state }));
  }

  ciStates(): CiStateEntry[] {
    return Object.entries(this.ha).map(([instance, state]) => ({ instance, state, vip: '0.0.0.0' }));
  }

  /** POST /config/cistate: kube-loxilb `--setRoles`. */
  setCiState(entry: CiStateEntry): void {
    if (!HA_STATES.includes(entry.state as HaState)) throw new Error('invalid cluster-state');
    this.ciStateUpdate(entry.instance || DEFAULT_INSTANCE, entry.state as HaState, 'api');
  }

  setRole(state: HaState, instance = DEFAULT_INSTANCE): void {
    this.setCiState({ instance, state, vip: '0.0.0.0' });
  }

  deleteBfdSession(remoteIp: string): void {
    const s = this.sessions.get(remoteIp);
    if (!s) throw new Error('no bfd session');
    this.sessions.delete(remoteIp);
    this.world.deliverAdminDown(this, remoteIp, s.myDisc);
  }

  takeovers(): TakeoverRecord[] {
    return this.records.map((r) => ({ ...r, calls: [...r.calls] }));
  }

  /** The latest takeover (status `none` before any). */
  takeover(): TakeoverView {
    const last = this.records[this.records.length - 1];
    return last ? { ...last, calls: [...last.calls] } : { status: 'none', calls: [] };
  }

  /** Resolves with the latest takeover once at least `count` have started and the latest settled. */
  async waitForTakeover(timeoutMs = 15_000, count = 1): Promise<TakeoverView> {
    await waitUntil(
      () => this.records.length >= count && this.records[this.records.length - 1].status !== 'running',
      `takeover #${count} on ${this.name} to settle`,
      timeoutMs,
    );
    return this.takeover();
  }

  /** What the last SIGTERM path did (undefined before one ran). */
  shutdown(): ShutdownRecord | undefined {
    return this.shutdownRecord && { ...this.shutdownRecord, calls: [...this.shutdownRecord.calls] };
  }

  /** The loxilb ENI this process knows (created by its takeover, or seeded). */
  /** The next EC2 call `action` of this node's cloud code waits until released (LoxilbCloud.hold). */
  holdCloudCall(action: string): { reached: Promise<void>; release: () => void } {
    return this.cloud.hold(action);
  }

  loxiEniId(): string {
    return this.cloud.loxiEniId;
  }

  // ---------------------------------------------------------------- lifecycle

  async start(): Promise<void> {
    if (this.running) return;
    this.reset();
    this.running = true;
    await this.api.start();
  }

  /** SIGTERM: loxilb's shutdown path (unless `sigtermCleanup: false`), then the process exits. */
  async stop(): Promise<void> {
    if (!this.running) return;
    // Like loxilb's signal handler, this does not wait for a takeover goroutine still running.
    if (this.options.sigtermCleanup ?? true) await this.runShutdownPath();
    await this.kill();
  }

  /** The process dies at once: no cleanup, API closed, no more BFD packets or AWS calls. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    await this.api.stop();
  }

  /** Called by the world: the instance is gone, so is the process. */
  instanceGone(): void {
    void this.kill();
  }

  destroy(): void {
    this.running = false;
    void this.api.stop();
    this.ec2.destroy();
  }

  /**
   * The state a cluster is in after this node's takeover already happened (what the seeded
   * footprint shows): used by startLoxilbCluster so a test starts from a steady cluster.
   */
  seedSteadyState(input: { role: HaState; loxiEniId?: string; peerDiscs?: Map<string, number> }): void {
    this.ha[DEFAULT_INSTANCE] = input.role;
    if (input.role === 'MASTER') {
      this.cloud.loxiEniId = input.loxiEniId ?? '';
      this.cloud.intfEniName = input.loxiEniId ? 'eth1' : '';
      for (const v of this.options.vips ?? []) this.localVips.add(v.privateIp);
    }
    for (const s of this.sessions.values()) {
      const remote = input.peerDiscs?.get(s.remoteIp) ?? ipToNumber(s.remoteIp)!;
      s.state = 'BFDUp';
      s.remDisc = remote;
      s.ciState = input.role;
      if (input.role === 'MASTER') s.myDisc = Math.max(s.myDisc, remote + 1);
      s.lastRx = Date.now();
    }
  }

  discriminatorFor(remoteIp: string): number | undefined {
    return this.sessions.get(remoteIp)?.myDisc;
  }

  // ---------------------------------------------------------------- BFD (driven by the world)

  /** A packet from `from`: runs loxilb's RunSessionSM on this side's session to it. */
  receive(from: LoxilbNode, raw: { state: BfdState; disc: number }): void {
    const s = this.sessions.get(from.privateIp);
    if (!s || !this.running) return;
    const old = s.state;
    let oldForNotify = old;
    s.remDisc = raw.disc;
    s.lastRx = Date.now();
    if (raw.state === 'BFDDown') {
      if (s.state === 'BFDDown') s.state = 'BFDInit';
    } else if (raw.state === 'BFDInit') {
      if (s.state !== 'BFDUp') s.state = 'BFDUp';
    } else if (raw.state === 'BFDAdminDown') {
      s.state = 'BFDInit';
    } else {
      s.state = 'BFDUp';
      // loxilb forces a re-election when both sides think they are MASTER.
      if (s.ciState === 'MASTER' && s.myDisc <= s.remDisc) oldForNotify = 'BFDDown';
    }
    this.notify(s, s.state, oldForNotify);
  }

  /** loxilb's checkSessTimeout. */
  checkTimeout(detectMs: number): void {
    if (!this.running) return;
    for (const s of this.sessions.values()) {
      if (s.state !== 'BFDUp' || Date.now() - s.lastRx <= detectMs) continue;
      s.state = 'BFDDown';
      s.myDisc = s.remDisc + 1;
      this.notify(s, 'BFDDown', 'BFDUp');
    }
  }

  /** This side's state and discriminator for the session to `remoteIp` (what its packets say). */
  packetFor(remoteIp: string): { state: BfdState; disc: number } | undefined {
    const s = this.sessions.get(remoteIp);
    return s && { state: s.state, disc: s.myDisc };
  }

  private notify(s: Session, now: BfdState, old: BfdState): void {
    if (now === old || s.remDisc === 0) return;
    let state: HaState | undefined;
    if (now === 'BFDUp') state = s.myDisc > s.remDisc ? 'MASTER' : 'BACKUP';
    else if (now === 'BFDDown' && old === 'BFDUp') state = 'MASTER';
    else if (s.remDisc === s.myDisc) state = 'NOT_DEFINED';
    if (!state) return;
    s.ciState = state;
    this.ciStateUpdate(DEFAULT_INSTANCE, state, 'bfd');
  }

  // ---------------------------------------------------------------- HA state → cloud

  /** loxilb's CIStateUpdate: an unchanged state is ignored; a change re-syncs the rules. */
  private ciStateUpdate(instance: string, state: HaState, trigger: 'bfd' | 'api'): void {
    if (!this.running) return;
    if ((this.ha[instance] ?? 'NOT_DEFINED') === state) return;
    this.ha[instance] = state;
    if (instance !== DEFAULT_INSTANCE) return;
    this.work = this.work.then(() => this.rulesSync(state, trigger)).catch(() => undefined);
  }

  private async rulesSync(state: HaState, trigger: 'bfd' | 'api'): Promise<void> {
    if (state === 'MASTER') return this.runTakeover(trigger);
    if (state === 'BACKUP') this.cloud.unprepareVipNetwork();
    if (state !== 'NOT_DEFINED') this.localVips.clear();
  }

  private async runTakeover(trigger: 'bfd' | 'api'): Promise<void> {
    const record: TakeoverRecord = { status: 'running', trigger, startedAt: Date.now(), calls: [] };
    this.records.push(record);
    this.current = record;
    const settle = (status: 'succeeded' | 'aborted', err?: unknown) => {
      record.status = status;
      record.finishedAt = Date.now();
      record.eniId = this.cloud.loxiEniId || undefined;
      if (err instanceof CloudAborted) {
        record.failedCall = {
          action: err.action,
          target: err.target,
          errorCode: err.errorCode,
          message: err.message,
        };
        record.phase = (err as CloudAborted & { phase?: TakeoverPhase }).phase ?? 'vips';
      } else if (err) {
        record.failedCall = { action: 'process', errorCode: 'NodeDied', message: (err as Error).message };
      }
      this.current = undefined;
    };
    let prepareError: CloudAborted | undefined;
    try {
      await this.cloud.prepareVipNetwork();
    } catch (err) {
      if (!(err instanceof CloudAborted)) return settle('aborted', err);
      // loxilb ignores the result and goes on adding the VIPs (which then fail without the interface).
      prepareError = err;
    }
    try {
      const vipError = await this.addVips();
      const err = prepareError ?? vipError;
      settle(err ? 'aborted' : 'succeeded', err);
    } catch (err) {
      settle('aborted', err);
    }
  }

  /** AdvRuleVIP for each VIP on MASTER; returns the first error (loxilb logs it per VIP and goes on). */
  private async addVips(): Promise<CloudAborted | undefined> {
    let first: CloudAborted | undefined;
    for (const vip of this.options.vips ?? []) {
      if (this.localVips.has(vip.privateIp)) continue;
      try {
        await this.cloud.updatePrivateIp(vip.privateIp, vip.publicIp, true);
        this.localVips.add(vip.privateIp);
      } catch (err) {
        if (err instanceof NodeDied) throw err;
        if (err instanceof CloudAborted) first ??= err;
        else throw err;
      }
    }
    return first;
  }

  private async runShutdownPath(): Promise<void> {
    const calls: CloudCall[] = [];
    this.shutdownCalls = calls;
    const record: ShutdownRecord = { rulesRemoved: [], destroy: 'skipped', calls };
    this.shutdownRecord = record;
    try {
      for (const vip of this.options.vips ?? []) {
        if (!this.localVips.has(vip.privateIp)) continue;
        try {
          await this.cloud.updatePrivateIp(vip.privateIp, vip.publicIp, false);
          record.rulesRemoved.push({ ...vip, ok: true });
        } catch (err) {
          if (err instanceof NodeDied) throw err;
          record.rulesRemoved.push({ ...vip, ok: false, errorCode: (err as CloudAborted).errorCode });
        }
        this.localVips.delete(vip.privateIp);
      }
      if (this.role() !== 'MASTER') record.destroy = 'not-master';
      else if (!this.bfdEnabled) record.destroy = 'bfd-off';
      else if ([...this.sessions.values()].some((s) => s.state !== 'BFDDown'))
        record.destroy = 'session-not-down';
      else {
        record.destroy = 'ran';
        try {
          await this.cloud.destroyVipNetwork();
          record.destroyStatus = 'succeeded';
        } catch (err) {
          if (!(err instanceof CloudAborted)) throw err;
          record.destroyStatus = 'aborted';
          record.failedCall = { action: err.action, target: err.target, errorCode: err.errorCode };
        }
      }
    } finally {
      this.shutdownCalls = undefined;
    }
  }

  private recordCall(call: CloudCall): void {
    if (this.shutdownCalls) this.shutdownCalls.push(call);
    else if (this.current) this.current.calls.push(call);
  }

  /** A fresh process: no roles (llb-inst0 NOT_DEFINED), BFD sessions Down, no cloud globals. */
  private reset(): void {
    this.ha = { [DEFAULT_INSTANCE]: 'NOT_DEFINED' };
    this.localVips = new Set();
    this.sessions = new Map();
    for (const remoteIp of this.options.bfdPeers ?? [])
      this.sessions.set(remoteIp, {
        remoteIp,
        state: 'BFDDown',
        myDisc: ipToNumber(this.privateIp)!,
        remDisc: 0,
        ciState: 'NOT_DEFINED',
        lastRx: 0,
      });
    this.cloud = new LoxilbCloud(
      this.ec2,
      () => this.identity(),
      {
        cloudCidr: this.options.cloudCidr,
        cloudInstance: this.options.cloudInstance,
        retry: this.options.retry,
      },
      (call) => this.recordCall(call),
      () => this.running,
    );
  }

  /** What loxilb reads from IMDS at start-up: instance id, VPC, AZ, the primary ENI's security groups. */
  private identity(): CloudIdentity {
    const ec2 = this.world.emulator.ec2;
    const instance = ec2.instanceById(this.instanceId)!;
    const primary = ec2.networkInterfaceById(instance.primaryNetworkInterfaceId);
    return {
      instanceId: this.instanceId,
      vpcId: instance.vpcId,
      availabilityZone: instance.availabilityZone,
      securityGroupIds: primary?.groups.map((g) => g.groupId) ?? [],
    };
  }
}

/**
 * The network between fake loxilb nodes: delivers BFD packets between live nodes every `tickMs`,
 * times sessions out after `detectMs`, and lets a node whose instance is terminated or stopped die.
 */
export class LoxilbWorld {
  readonly nodes: LoxilbNode[] = [];
  readonly detectMs: number;
  private readonly timer: NodeJS.Timeout;

  constructor(
    readonly emulator: AwsEmulator,
    opts: WorldOptions = {},
  ) {
    this.detectMs = opts.detectMs ?? 300;
    this.timer = setInterval(() => this.tick(), opts.tickMs ?? 20);
  }

  /** Creates and starts a node (its API listening, BFD sessions Down, role NOT_DEFINED). */
  async startNode(options: LoxilbNodeOptions): Promise<LoxilbNode> {
    const node = new LoxilbNode(this, options);
    this.nodes.push(node);
    await node.start();
    return node;
  }

  nodeByIp(ip: string): LoxilbNode | undefined {
    return this.nodes.find((n) => n.privateIp === ip);
  }

  /** One round: packets from every live node to its peers, then every session's timeout. */
  tick(): void {
    for (const node of this.nodes) {
      if (!node.isRunning()) continue;
      const state = this.emulator.ec2.instanceById(node.instanceId)?.state;
      if (state === undefined || state === 'terminated' || state === 'stopped') node.instanceGone();
    }
    for (const receiver of this.nodes) {
      if (!receiver.isLive()) continue;
      for (const sender of this.nodes) {
        if (sender === receiver || !sender.isLive()) continue;
        const raw = sender.packetFor(receiver.privateIp);
        if (raw) receiver.receive(sender, raw);
      }
    }
    for (const node of this.nodes) if (node.isLive()) node.checkTimeout(this.detectMs);
  }

  /** The one AdminDown packet a deleted session sends. */
  deliverAdminDown(from: LoxilbNode, toIp: string, disc: number): void {
    const to = this.nodeByIp(toIp);
    if (to?.isLive() && from.isLive()) to.receive(from, { state: 'BFDAdminDown', disc });
  }

  /** Kills every node (no SIGTERM path) and stops the ticker. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all(this.nodes.map((n) => n.kill()));
    for (const n of this.nodes) n.destroy();
  }
}
