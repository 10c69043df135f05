import { Config, Scope } from './config/schema';
import { BfdSessionEntry, LoxilbHaView } from './loxilb-api';

/**
 * The gate decides how much of loxilb's footprint this host may tear down. It is pure: loxilb's
 * answers (or their absence) and the config in, a decision with its reason out.
 *
 * It makes loxilb's own decision (DESIGN.md "Gate"): loxilb tears its cloud resources down only when
 * it is the MASTER of `llb-inst0`, BFD is running and every BFD peer is down (last node standing) →
 * `full`. With kube-loxilb `--setRoles` it never does, and in every other case a peer takes over the
 * shared subnet/CIDR → `instance`. `none` only ever comes from configuration or the CLI.
 */

export type GateSource = 'loxilb-api' | 'static' | 'override' | 'cli' | 'fallback';

export interface GateDecision {
  scope: Scope;
  reason: string;
  source: GateSource;
  details?: Record<string, unknown>;
}

/** loxilb's default cluster instance (loxilb common: cmn.CIDefault). */
export const LOXILB_CLUSTER_INSTANCE = 'llb-inst0';

/** BFD states that mean "the peer is gone" (proto/bfd.go). `BFDInit` is a peer coming up. */
const PEER_DOWN_STATES = new Set(['BFDDown', 'BFDAdminDown']);

export type LoxilbAnswer =
  | { ok: true; view: LoxilbHaView; url: string }
  | { ok: false; error: string; errorCode: string; url: string };

export interface GateInput {
  config: Config;
  /** CLI `--scope`; wins over everything. */
  cliScope?: Scope;
  /** Only consulted in `loxilb-api` mode; absent there means "not asked" and is treated as unreachable. */
  loxilb?: LoxilbAnswer;
}

/** Whether the gate needs loxilb's API for this config (so callers ask it only then). */
export function needsLoxilbApi(config: Config, cliScope?: Scope): boolean {
  return cliScope === undefined && config.gate.mode === 'loxilb-api' && !config.gate.static.setRoles;
}

function sessionsOf(view: LoxilbHaView): BfdSessionEntry[] {
  // Sessions carry the cluster instance they serve; an empty name is the default instance.
  return view.bfdSessions.filter((s) => !s.instance || s.instance === LOXILB_CLUSTER_INSTANCE);
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
  if (gate.static.setRoles) {
    return {
      scope: 'instance',
      source: gate.mode === 'static' ? 'static' : 'loxilb-api',
      reason:
        'kube-loxilb --setRoles (gate.static.setRoles): roles are set externally and loxilb never tears down shared resources; only this instance’s ENIs and EIP associations go',
      details: { setRoles: true },
    };
  }
  if (gate.mode === 'static') return decideStatic(config);
  return decideFromApi(input.loxilb);
}

function decideStatic(config: Config): GateDecision {
  const { bfd, master } = config.gate.static;
  const details = { bfd, master, setRoles: false };
  if (!master) {
    return {
      scope: 'instance',
      source: 'static',
      reason: `static config: this node is not the MASTER of ${LOXILB_CLUSTER_INSTANCE}; the master keeps the shared subnet/CIDR`,
      details,
    };
  }
  if (!bfd) {
    return {
      scope: 'instance',
      source: 'static',
      reason:
        'static config: loxilb runs without BFD, so it never tears down shared resources; a peer takes them over',
      details,
    };
  }
  return {
    scope: 'full',
    source: 'static',
    reason: `static config: MASTER of ${LOXILB_CLUSTER_INSTANCE} with BFD; static mode cannot see the peers, so this node is taken as the last one standing`,
    details,
  };
}

function decideFromApi(answer: LoxilbAnswer | undefined): GateDecision {
  if (!answer || !answer.ok) {
    return {
      scope: 'instance',
      source: 'fallback',
      reason: answer
        ? `loxilb API unreachable (${answer.error}); taking the safe scope: only this instance’s ENIs and EIP associations`
        : 'loxilb API not asked; taking the safe scope',
      details: answer ? { apiUrl: answer.url, error: answer.error, errorCode: answer.errorCode } : undefined,
    };
  }
  const { view, url } = answer;
  const ci = view.ciStates.find((c) => c.instance === LOXILB_CLUSTER_INSTANCE);
  const sessions = sessionsOf(view);
  const details: Record<string, unknown> = {
    apiUrl: url,
    clusterInstance: LOXILB_CLUSTER_INSTANCE,
    haState: ci?.state ?? null,
    bfdPeers: sessions.map((s) => ({ remoteIp: s.remoteIp ?? null, state: s.state ?? null })),
  };
  const decide = (scope: Scope, reason: string): GateDecision => ({
    scope,
    source: 'loxilb-api',
    reason,
    details,
  });

  if (!ci) {
    return decide(
      'instance',
      `loxilb reports no HA state for ${LOXILB_CLUSTER_INSTANCE}; a peer keeps the shared resources`,
    );
  }
  if (ci.state !== 'MASTER') {
    return decide(
      'instance',
      `this node is ${ci.state ?? 'in no state'} of ${LOXILB_CLUSTER_INSTANCE}, not MASTER; a peer takes over the shared subnet/CIDR`,
    );
  }
  if (sessions.length === 0) {
    return decide(
      'instance',
      'MASTER, but BFD is not running (no BFD sessions); loxilb never tears down shared resources without BFD',
    );
  }
  const alive = sessions.filter((s) => !PEER_DOWN_STATES.has(s.state ?? ''));
  if (alive.length > 0) {
    const peers = alive.map((s) => `${s.remoteIp ?? '?'} (${s.state ?? 'no state'})`).join(', ');
    return decide(
      'instance',
      `MASTER, but BFD peer ${peers} is not down; it takes over the shared subnet/CIDR`,
    );
  }
  return decide(
    'full',
    `MASTER of ${LOXILB_CLUSTER_INSTANCE} with BFD and every BFD peer down (${sessions.length}): last node standing, everything goes`,
  );
}
