import { Config, Scope, staticBfd } from '../config/schema';
import { BfdSessionEntry, LoxilbHaView } from './loxilb-api';
import type { GateDecision, GateSource, PeerVerdict } from './decision-schema';

/**
 * The gate decides how much of loxilb's footprint this host may tear down. It is pure: what loxilb
 * said (a live answer or the last observation, with its age), what AWS says about the peers, and the
 * config in; a decision with its reason and the peers it weighed out. Gathering those facts is
 * lib/gate/ha-facts.ts; reading loxilb on an interval is lib/gate/ha-observer.ts.
 *
 * loxilb's own rule (reference/loxilb-ha.md): only the last node standing cleans up — MASTER of
 * `llb-inst0`, BFD running, every session exactly `BFDDown` (zero sessions counts). Everyone else
 * leaves the shared footprint to the peer that takes over, because anything done to it first cuts
 * the VIPs early and can abort the takeover. teardownd adds what loxilb cannot see: a peer whose
 * instance AWS is ending (shutting-down…, Terminating*, Warmed:*, spot marked-for-termination) cannot
 * take over, and with BFD off (kube-loxilb --setRoles) the Auto Scaling group tells who is left.
 * Whenever that cannot be established the answer is `handover`: a leak is reported and swept later,
 * an outage is not undone.
 */

export type { GateDecision, GateSource, PeerVerdict };

/** loxilb's default cluster instance (loxilb common: cmn.CIDefault). */
export const LOXILB_CLUSTER_INSTANCE = 'llb-inst0';

/** The only BFD state loxilb counts as "peer gone" (proto/bfd.go); AdminDown and Init are not. */
export const PEER_DOWN_STATE = 'BFDDown';

/** What loxilb said, with when. */
export interface HaObservation {
  /** Epoch ms when loxilb answered. */
  observedAt: number;
  url: string;
  view: LoxilbHaView;
  /**
   * Epoch ms of the first observation in which this node was MASTER after one in which it was not
   * (kept while it stays MASTER): its loxilb's takeover started then.
   */
  promotedAt?: number;
}

/** loxilb's answer for this decision: a live read, else the last observation kept on disk. */
export interface LoxilbAnswer {
  url: string;
  observation?: HaObservation;
  /** True when `observation` was read just now. */
  live: boolean;
  /** Why the live read failed (then `observation`, if any, is the last one kept). */
  error?: string;
  errorCode?: string;
}

/** An instance as AWS sees it, for deciding whether it can take over. */
export interface PeerFact {
  instanceId: string;
  privateIp?: string;
  instanceState?: string;
  /** Absent: not in an Auto Scaling group. */
  asgLifecycleState?: string;
  spotStatusCode?: string;
}

/** What AWS said about the peers the gate asked for. */
export interface AwsPeerView {
  /** BFD peers by remote IP; null: no instance in this region has that private IP. */
  byIp?: Record<string, PeerFact | null>;
  /** The cluster (setRoles / static): every OTHER member, with where membership came from. */
  cluster?: { source: string; members: PeerFact[] };
  /** The lookup failed or membership could not be established: the gate then decides handover. */
  error?: string;
  errorCode?: string;
}

/** What the fact-gathering must find out before the gate can decide. */
export interface PeerQuestions {
  /** Map these BFD peer IPs to their instances. */
  peerIps?: string[];
  /** Establish the cluster's other members. */
  cluster?: boolean;
}

export interface GateInput {
  config: Config;
  /** CLI `--scope`; wins over everything. */
  cliScope?: Scope;
  /** Only consulted in `loxilb-api` mode; absent there means "not asked" (→ handover). */
  loxilb?: LoxilbAnswer;
  /** AWS's view of the peers asked for by `peerQuestions`. */
  aws?: AwsPeerView;
  /** Epoch ms, to age the observation. */
  now: number;
}

const ENDING_INSTANCE_STATES = new Set(['shutting-down', 'terminated', 'stopping', 'stopped']);

/** Whether an instance can take over, from AWS's view alone. */
export function peerVerdict(fact: PeerFact): { alive: boolean; why: string } {
  const s = fact.instanceState;
  if (s && ENDING_INSTANCE_STATES.has(s)) return { alive: false, why: `instance is ${s}` };
  const l = fact.asgLifecycleState;
  if (l && (l.startsWith('Terminat') || l.startsWith('Warmed:')))
    return { alive: false, why: `Auto Scaling lifecycle state ${l}` };
  if (fact.spotStatusCode === 'marked-for-termination')
    return { alive: false, why: 'spot request marked-for-termination' };
  return {
    alive: true,
    why: `instance ${s ?? 'in an unknown state'}${l ? `, ${l}` : ''}${fact.spotStatusCode ? `, spot ${fact.spotStatusCode}` : ''}`,
  };
}

/** Cluster members that count as alive (setRoles): InService, Pending*, Standby — and not ending. */
function memberVerdict(fact: PeerFact): { alive: boolean; why: string } {
  const l = fact.asgLifecycleState;
  if (l !== undefined && !/^(InService|Pending|EnteringStandby|Standby)/.test(l))
    return { alive: false, why: `Auto Scaling lifecycle state ${l}` };
  return peerVerdict(fact);
}

function ageLimitMs(config: Config): number {
  return config.gate.observeIntervalMs * config.gate.observationMaxAgeIntervals;
}

/** The observation to decide from, or why there is none usable. */
function usableObservation(
  answer: LoxilbAnswer | undefined,
  config: Config,
  now: number,
): { observation: HaObservation; ageMs: number } | { why: string } {
  if (!answer) return { why: 'loxilb API not asked' };
  const failed = answer.error ? `loxilb API unreachable (${answer.error})` : 'loxilb API not answered';
  if (!answer.observation) return { why: `${failed} and no earlier observation kept` };
  const ageMs = Math.max(0, now - answer.observation.observedAt);
  if (!answer.live && ageMs > ageLimitMs(config)) {
    return {
      why: `${failed}; the last observation is ${Math.round(ageMs / 1000)} s old, older than ${config.gate.observationMaxAgeIntervals} × gate.observeIntervalMs`,
    };
  }
  return { observation: answer.observation, ageMs };
}

function sessionsOf(view: LoxilbHaView): BfdSessionEntry[] {
  // Every session counts (loxilb's destroy looks at all of them), whichever instance it serves.
  return view.bfdSessions;
}

/** This node's HA role in loxilb's answer: its state for llb-inst0 (the only instance loxilb's cloud code acts on). */
export function haRoleOf(view: LoxilbHaView): string | undefined {
  return view.ciStates.find((c) => c.instance === LOXILB_CLUSTER_INSTANCE)?.state;
}

/** Which AWS facts the decision needs; nothing when it does not depend on the peers. */
export function peerQuestions(input: Omit<GateInput, 'aws'>): PeerQuestions | undefined {
  const { config, cliScope } = input;
  if (cliScope !== undefined || config.gate.mode === 'override') return undefined;
  if (config.gate.mode === 'static') {
    return config.gate.static.master ? { cluster: true } : undefined;
  }
  const usable = usableObservation(input.loxilb, config, input.now);
  if (!('observation' in usable)) return undefined;
  const view = usable.observation.view;
  if (haRoleOf(view) !== 'MASTER') return undefined;
  if (view.bfdRunning === false) return { cluster: true };
  const ips = sessionsOf(view)
    .filter((s) => s.state !== PEER_DOWN_STATE && s.remoteIp)
    .map((s) => s.remoteIp!);
  return ips.length ? { peerIps: [...new Set(ips)] } : undefined;
}

/** Whether the gate reads loxilb's API for this config (so callers ask it only then). */
export function needsLoxilbApi(config: Config, cliScope?: Scope): boolean {
  return cliScope === undefined && config.gate.mode === 'loxilb-api';
}

export function decideScope(input: GateInput): GateDecision {
  const { config, cliScope } = input;
  const gate = config.gate;

  if (cliScope !== undefined) {
    return {
      scope: cliScope,
      source: 'cli',
      reason: `scope ${cliScope} given on the command line (--scope)`,
    };
  }
  if (gate.mode === 'override') {
    // The schema guarantees override is set in this mode.
    const scope = gate.override as Scope;
    return { scope, source: 'override', reason: `scope ${scope} set by config gate.override` };
  }
  if (gate.mode === 'static') return decideStatic(input);
  return decideFromApi(input);
}

const handover = (source: GateSource, reason: string, extra: Partial<GateDecision> = {}): GateDecision => ({
  scope: 'handover',
  source,
  reason,
  ...extra,
});

/** setRoles or static: the last node standing is the one with no other live member in its cluster. */
function decideFromCluster(
  aws: AwsPeerView | undefined,
  source: GateSource,
  prefix: string,
  extra: Partial<GateDecision>,
): GateDecision {
  if (!aws?.cluster) {
    const why = aws?.error ?? 'cluster membership was not looked up';
    return handover(
      source,
      `${prefix}; cluster membership unknown (${why}): a peer may take over, so nothing is changed`,
      extra,
    );
  }
  const peers: PeerVerdict[] = aws.cluster.members.map((m) => ({
    instanceId: m.instanceId,
    ...(m.privateIp ? { ip: m.privateIp } : {}),
    instanceState: m.instanceState,
    asgLifecycleState: m.asgLifecycleState,
    spotStatusCode: m.spotStatusCode,
    ...memberVerdict(m),
  }));
  const alive = peers.filter((p) => p.alive);
  if (alive.length) {
    return handover(
      source,
      `${prefix}; live member(s) of ${aws.cluster.source}: ${alive.map((p) => `${p.instanceId} (${p.why})`).join(', ')} — the new MASTER's takeover removes this host's loxilb resources`,
      { ...extra, peers },
    );
  }
  return {
    scope: 'full',
    source,
    reason: `${prefix}; no other live member of ${aws.cluster.source}${peers.length ? ` (${peers.map((p) => `${p.instanceId}: ${p.why}`).join(', ')})` : ''}: last node standing, everything goes`,
    peers,
    ...extra,
  };
}

function decideStatic(input: GateInput): GateDecision {
  const { master, setRoles } = input.config.gate.static;
  const bfd = staticBfd(input.config);
  const details = { bfd, master, setRoles };
  if (!master) {
    return handover(
      'static',
      `static config: this node is not the MASTER of ${LOXILB_CLUSTER_INSTANCE}; the MASTER keeps the footprint`,
      { details, staleEni: true },
    );
  }
  return decideFromCluster(
    input.aws,
    'static',
    `static config: MASTER of ${LOXILB_CLUSTER_INSTANCE}${setRoles ? ' (roles from kube-loxilb --setRoles)' : bfd ? ' with BFD' : ''}`,
    { details },
  );
}

function decideFromApi(input: GateInput): GateDecision {
  const { config, loxilb: answer, aws, now } = input;
  const usable = usableObservation(answer, config, now);
  if (!('observation' in usable)) {
    return handover('fallback', `${usable.why}; taking the safe decision: a peer may take over`, {
      details: answer ? { apiUrl: answer.url, error: answer.error, errorCode: answer.errorCode } : undefined,
    });
  }
  const { observation, ageMs } = usable;
  const view = observation.view;
  const role = haRoleOf(view);
  const sessions = sessionsOf(view);
  const seen = {
    observedAt: new Date(observation.observedAt).toISOString(),
    ageMs,
    live: !!answer?.live,
  };
  const from = seen.live ? '' : ` (last observation, ${Math.round(ageMs / 1000)} s old)`;
  const details: Record<string, unknown> = {
    apiUrl: observation.url,
    clusterInstance: LOXILB_CLUSTER_INSTANCE,
    haState: role ?? null,
    bfdRunning: view.bfdRunning !== false,
    bfdPeers: sessions.map((s) => ({ remoteIp: s.remoteIp ?? null, state: s.state ?? null })),
    ...(answer?.error ? { liveError: answer.error, errorCode: answer.errorCode } : {}),
  };
  const promoted =
    role === 'MASTER' && observation.promotedAt !== undefined
      ? { takeover: { promotedAt: new Date(observation.promotedAt).toISOString() } }
      : {};
  const extra = { observation: seen, details, ...promoted };

  if (role !== 'MASTER') {
    return handover(
      'loxilb-api',
      `this node is ${role ?? 'in no HA state'} of ${LOXILB_CLUSTER_INSTANCE}${from}, not MASTER; the MASTER keeps the footprint`,
      { ...extra, staleEni: true },
    );
  }
  if (view.bfdRunning === false) {
    return decideFromCluster(
      aws,
      'loxilb-api',
      `MASTER of ${LOXILB_CLUSTER_INSTANCE}${from}, BFD off (kube-loxilb --setRoles)`,
      extra,
    );
  }
  if (sessions.length === 0) {
    return {
      scope: 'full',
      source: 'loxilb-api',
      reason: `MASTER of ${LOXILB_CLUSTER_INSTANCE}${from} with BFD running and no BFD sessions: no peers, last node standing, everything goes`,
      peers: [],
      ...extra,
    };
  }
  const peers: PeerVerdict[] = sessions.map((s) => {
    const ip = s.remoteIp ?? '?';
    const base = { ip, bfdState: s.state ?? 'no state' };
    if (s.state === PEER_DOWN_STATE) return { ...base, alive: false, why: 'BFD session down' };
    if (aws?.error || !aws?.byIp) {
      return {
        ...base,
        alive: true,
        why: `BFD ${base.bfdState}; AWS view unavailable (${aws?.error ?? 'not asked'})`,
      };
    }
    const fact = aws.byIp[ip];
    if (fact === undefined)
      return { ...base, alive: true, why: `BFD ${base.bfdState}; not looked up in AWS` };
    if (fact === null) {
      // Not an EC2 instance here, or already gone: only BFD can tell, and it does not say down.
      return { ...base, alive: true, why: `BFD ${base.bfdState}; no instance has this private IP` };
    }
    const v = peerVerdict(fact);
    return {
      ...base,
      instanceId: fact.instanceId,
      instanceState: fact.instanceState,
      asgLifecycleState: fact.asgLifecycleState,
      spotStatusCode: fact.spotStatusCode,
      alive: v.alive,
      why: v.alive ? `BFD ${base.bfdState}; ${v.why}` : v.why,
    };
  });
  const alive = peers.filter((p) => p.alive);
  const name = (p: PeerVerdict) => `${p.ip}${p.instanceId ? ` (${p.instanceId})` : ''}`;
  if (alive.length) {
    return handover(
      'loxilb-api',
      `MASTER of ${LOXILB_CLUSTER_INSTANCE}${from}, but BFD peer ${alive.map((p) => `${name(p)}: ${p.why}`).join('; ')} can take over — its takeover removes this host's loxilb resources`,
      { ...extra, peers },
    );
  }
  return {
    scope: 'full',
    source: 'loxilb-api',
    reason: `MASTER of ${LOXILB_CLUSTER_INSTANCE}${from} with BFD and no peer that can take over (${peers.map((p) => `${name(p)}: ${p.why}`).join('; ')}): last node standing, everything goes`,
    peers,
    ...extra,
  };
}
