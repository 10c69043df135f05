import type { LoxilbClusterIds } from './footprint';
import { LoxilbNode, LoxilbNodeOptions, LoxilbVip, LoxilbWorld, WorldOptions } from './node';
import type { AwsEmulator } from '../emulator/server';

/**
 * One call from a seeded footprint (sim/loxilb/footprint.ts) to a running loxilb cluster:
 *
 *   const cluster = await startLoxilbCluster(emulator, ids, { mode: 'bfd' });   // or 'setroles'
 *   cluster.master / cluster.peer    LoxilbNode bound to ids.masterInstanceId / ids.peerInstanceId,
 *                                    steady: MASTER (owning the seeded loxilb ENI and its VIPs/EIPs)
 *                                    and BACKUP, BFD sessions Up (mode 'bfd') or BFD off with
 *                                    kube-loxilb electing (mode 'setroles')
 *   cluster.elector                  the fake kube-loxilb (mode 'setroles')
 *   await cluster.stop()             kills every node (no SIGTERM path) and stops the elector
 *
 * Then e.g. `emulator.ec2.terminateInstance(ids.masterInstanceId)` and
 * `await cluster.peer!.waitForTakeover()`: the peer sees the master Down after `detectMs` (BFD) or
 * is elected by kube-loxilb once the master's API stops answering (setroles), and takes over.
 * Options are small by default so a scenario takes well under a second.
 */

export interface LoxilbClusterSetup extends WorldOptions {
  mode: 'bfd' | 'setroles';
  /** The takeover's DeleteNetworkInterface retries (default 20 × 50 ms: loxilb's count, a test's interval). */
  retry?: { count?: number; intervalMs?: number };
  /** Run loxilb's SIGTERM path on node.stop() (default true). */
  sigtermCleanup?: boolean;
  /** kube-loxilb's poll interval (default 50 ms; real: about 2 s). */
  electorPollMs?: number;
  /** How long kube-loxilb waits for an answer before it counts a node unreachable (default 5000 ms). */
  electorTimeoutMs?: number;
  /** Defaults for both nodes (per-node overrides through `nodeOptions`). */
  nodeOptions?: Partial<LoxilbNodeOptions>;
}

export interface LoxilbCluster {
  mode: 'bfd' | 'setroles';
  world: LoxilbWorld;
  master: LoxilbNode;
  peer?: LoxilbNode;
  nodes: LoxilbNode[];
  elector?: KubeLoxilbElector;
  stop(): Promise<void>;
}

/** The seeded footprint's LB rules: every secondary IP of its loxilb ENIs, with the EIP mapped to it. */
export function footprintVips(ids: LoxilbClusterIds): LoxilbVip[] {
  return ids.enis.flatMap((e) => e.vips.map((privateIp, i) => ({ privateIp, publicIp: e.publicIps[i] })));
}

export async function startLoxilbCluster(
  emulator: AwsEmulator,
  ids: LoxilbClusterIds,
  setup: LoxilbClusterSetup,
): Promise<LoxilbCluster> {
  const world = new LoxilbWorld(emulator, { detectMs: setup.detectMs ?? 150, tickMs: setup.tickMs });
  const instanceIds = [ids.masterInstanceId, ...(ids.peerInstanceId ? [ids.peerInstanceId] : [])];
  const ipOf = (instanceId: string) => {
    const i = emulator.ec2.instanceById(instanceId)!;
    return emulator.ec2.networkInterfaceById(i.primaryNetworkInterfaceId)!.privateIps[0].privateIpAddress;
  };
  const ips = instanceIds.map(ipOf);
  const vips = footprintVips(ids);
  const nodes: LoxilbNode[] = [];
  try {
    for (const [n, instanceId] of instanceIds.entries())
      nodes.push(
        await world.startNode({
          instanceId,
          name: n === 0 ? 'master' : 'peer',
          cloudCidr: ids.cloudCidr,
          cloudInstance: ids.cloudInstance,
          bfdPeers: setup.mode === 'bfd' ? ips.filter((_, m) => m !== n) : undefined,
          vips,
          retry: { count: setup.retry?.count ?? 20, intervalMs: setup.retry?.intervalMs ?? 50 },
          sigtermCleanup: setup.sigtermCleanup,
          ...setup.nodeOptions,
        }),
      );
  } catch (err) {
    await world.stop();
    throw err;
  }
  const [master, peer] = nodes;
  // The master's discriminator outranks the peers', as when it won its mastership by a BFD timeout.
  master.seedSteadyState({ role: 'MASTER', loxiEniId: ids.enis[0]?.eniId });
  for (const node of nodes.slice(1))
    node.seedSteadyState({
      role: 'BACKUP',
      peerDiscs: new Map([[master.privateIp, master.discriminatorFor(node.privateIp) ?? 0]]),
    });
  let elector: KubeLoxilbElector | undefined;
  if (setup.mode === 'setroles')
    elector = new KubeLoxilbElector(nodes, {
      pollMs: setup.electorPollMs,
      timeoutMs: setup.electorTimeoutMs,
      master,
    });
  return {
    mode: setup.mode,
    world,
    master,
    peer,
    nodes,
    elector,
    async stop() {
      await elector?.stop();
      await world.stop();
    },
  };
}

/**
 * kube-loxilb `--setRoles`: every `pollMs` it asks each loxilb's API for its state; a node that
 * answers 200 within `timeoutMs` is reachable (a stopped node refuses at once, so a generous
 * timeout keeps a slow machine from electing a new master by accident). It keeps the current master while that one answers, else elects the first
 * reachable node, and POSTs MASTER to it and BACKUP to every other reachable node each round
 * (loxilb ignores a state it already has). It knows nothing of AWS.
 */
export class KubeLoxilbElector {
  private master?: LoxilbNode;
  private readonly pollMs: number;
  private readonly timeoutMs: number;
  private timer?: NodeJS.Timeout;
  private round?: Promise<void>;
  private stopped = false;
  /** Every election: when and whom. */
  readonly elections: { at: number; master: string }[] = [];

  constructor(
    private readonly nodes: LoxilbNode[],
    opts: { pollMs?: number; timeoutMs?: number; master?: LoxilbNode } = {},
  ) {
    this.pollMs = opts.pollMs ?? 50;
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.master = opts.master;
    this.schedule();
  }

  currentMaster(): LoxilbNode | undefined {
    return this.master;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.round = this.pollOnce().finally(() => this.schedule());
    }, this.pollMs);
  }

  /** One round (tests may call it directly). */
  async pollOnce(): Promise<void> {
    const reachable: LoxilbNode[] = [];
    for (const node of this.nodes) {
      const ok = await fetch(`${node.apiUrl}/netlox/v1/config/cistate/all`, {
        signal: AbortSignal.timeout(this.timeoutMs),
      }).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) reachable.push(node);
    }
    if (this.stopped) return;
    if (!this.master || !reachable.includes(this.master)) {
      this.master = reachable[0];
      if (this.master) this.elections.push({ at: Date.now(), master: this.master.name });
    }
    for (const node of reachable)
      await fetch(`${node.apiUrl}/netlox/v1/config/cistate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          instance: 'llb-inst0',
          state: node === this.master ? 'MASTER' : 'BACKUP',
          vip: '0.0.0.0',
        }),
        signal: AbortSignal.timeout(this.timeoutMs),
      }).catch(() => undefined);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.round?.catch(() => undefined);
  }
}
