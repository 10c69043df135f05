import { Config, Scope } from '../config/schema';
import type { AddressInfo } from '../discovery/ec2-reads';
import { describeState, InstanceState, liveness } from '../discovery/instance-state';

/**
 * What a planned action is, when it may run, and how each one is built. The teardown's planner
 * (./planner.ts) and the sweeper's orphan plan (lib/sweeper/orphan-plan.ts) decide *which* resources go;
 * both build every action with the one builder for its AWS call below and admit it through `admit`
 * (the safety check, then the stage switch), so the parameters sent to AWS and the rules that guard
 * them exist once. The executor calls `safetyViolation` again right before each mutating call.
 */

export type StageName = 'eip' | 'eni' | 'route-table' | 'subnet' | 'cidr';
export const STAGE_ORDER: readonly StageName[] = ['eip', 'eni', 'route-table', 'subnet', 'cidr'];

/** config.stages key of each stage. */
export const STAGE_SWITCH: Record<StageName, keyof Config['stages']> = {
  eip: 'eip',
  eni: 'eni',
  'route-table': 'routeTable',
  subnet: 'subnet',
  cidr: 'cidr',
};

export type ResourceKind =
  'eip-association' | 'eip' | 'eni' | 'route-table-association' | 'route-table' | 'subnet' | 'vpc-cidr';

export type ActionParams =
  | {
      action: 'DisassociateAddress';
      associationId: string;
      allocationId?: string;
      publicIp?: string;
      networkInterfaceId: string;
      privateIpAddress?: string;
    }
  | { action: 'ReleaseAddress'; allocationId: string; publicIp?: string }
  | { action: 'DetachNetworkInterface'; networkInterfaceId: string; attachmentId: string }
  | { action: 'DeleteNetworkInterface'; networkInterfaceId: string; waitForDetach: boolean }
  | { action: 'DisassociateRouteTable'; associationId: string; routeTableId: string; subnetId?: string }
  | { action: 'DeleteRouteTable'; routeTableId: string }
  | { action: 'DeleteSubnet'; subnetId: string }
  | { action: 'DisassociateVpcCidrBlock'; associationId: string; cidrBlock: string; vpcId: string };

export type ActionName = ActionParams['action'];

/** What the safety check looks at; captured at plan time, refreshed by the executor where it can. */
export interface SafetyFacts {
  /** Tags of the resource that proves ownership (for an EIP association: the ENI it sits on). */
  tags?: Record<string, string>;
  /** The ownership tag that must be on it. */
  expectedTag?: { key: string; value: string };
  /** ReleaseAddress only: the address's own tags and the tag that allows releasing it. */
  addressTags?: Record<string, string>;
  releaseTag?: { key: string; value: string };
  /** ENI actions: the ENI's current attachment. */
  eniAttachment?: { instanceId?: string; deviceIndex?: number; status?: string };
  /** ENI actions: the owner tag, for an ENI that is no longer attached. */
  ownerTag?: { key: string; value?: string };
  /**
   * ENI actions: an earlier run of this episode recorded the (now unattached) ENI as this host's; it
   * counts only while no owner tag names another instance.
   */
  remembered?: boolean;
  /**
   * Full scope only: an unattached ENI no live instance owns (an attach that failed, a host that died
   * after its detach), which loxilb's own destroy removes too; `ownerState` is what EC2 said of the
   * instance its owner tag names (absent: no owner tag).
   */
  abandoned?: { ownerState?: InstanceState };
  /** CIDR action: the block and the VPC's primary block. */
  cidr?: { cidrBlock: string; primary: boolean; vpcPrimaryCidr?: string };
}

export type PlannedStatus = 'planned' | 'blocked' | 'skipped';

export interface PlannedAction {
  /** Stable within a plan: `<stage>:<action>:<resource>`. */
  id: string;
  stage: StageName;
  /** The AWS action name. */
  action: ActionName;
  /** The id the call acts on (association id, allocation id, ENI id, …). */
  resource: string;
  kind: ResourceKind;
  params: ActionParams;
  /** Actions that must end done (or already done) first; otherwise this one is blocked. */
  dependsOn: string[];
  status: PlannedStatus;
  /** Why it is blocked or skipped. */
  reason?: string;
  /** Resource ids that block it. */
  blockers?: string[];
  /** One human line: what and why. */
  summary: string;
  facts: SafetyFacts;
}

/** A loxilb-tagged resource the plan deliberately does not touch, and why. */
export interface Untouched {
  resource: string;
  kind: ResourceKind;
  reason: string;
}

export interface Plan {
  instanceId: string;
  scope: Scope;
  vpcId?: string;
  actions: PlannedAction[];
  untouched: Untouched[];
  warnings: string[];
}

/**
 * The safety invariants, checked by the planner and again by the executor before each mutating call.
 * Returns why the action must not run, or undefined.
 *  1. never a resource without the ownership tag;
 *  2. never an ENI attached to another instance, never device index 0, never the primary VPC CIDR;
 *  (release) never an EIP without the release tag.
 */
export function safetyViolation(action: PlannedAction, instanceId: string): string | undefined {
  const f = action.facts;
  if (action.kind === 'vpc-cidr') {
    if (!f.cidr) return 'safety: no CIDR facts recorded';
    if (f.cidr.primary || (f.cidr.vpcPrimaryCidr && f.cidr.cidrBlock === f.cidr.vpcPrimaryCidr)) {
      return `safety: ${f.cidr.cidrBlock} is the VPC's primary CIDR, which is never disassociated`;
    }
    return undefined;
  }
  if (!f.expectedTag || !f.tags) return 'safety: no ownership facts recorded';
  if (f.tags[f.expectedTag.key] !== f.expectedTag.value) {
    return `safety: ${action.resource} does not carry the ownership tag ${f.expectedTag.key}=${f.expectedTag.value}`;
  }
  if (action.kind === 'eni' || action.kind === 'eip-association') {
    const a = f.eniAttachment;
    if (a && a.instanceId && a.status !== 'detached') {
      if (a.instanceId !== instanceId)
        return `safety: the ENI is attached to another instance (${a.instanceId})`;
      if (a.deviceIndex === 0) return 'safety: the ENI is at device index 0 (the primary interface)';
    } else if (action.kind === 'eni' && f.ownerTag && f.ownerTag.value !== instanceId) {
      const owner = f.ownerTag.value;
      // The episode's own record vouches for an ENI nobody else has claimed since.
      if (f.remembered && owner === undefined) return undefined;
      const ownerState = f.abandoned?.ownerState;
      const unowned = !!f.abandoned && (owner === undefined || ownerNotLive(ownerState));
      if (!unowned) {
        return owner !== undefined && f.abandoned
          ? `safety: the ENI's owner ${owner} is ${describeState(ownerState)}: it may still use it`
          : `safety: the ENI is not attached to ${instanceId} and its ${f.ownerTag.key} tag does not name it`;
      }
    }
  }
  if (action.kind === 'eip') {
    const rt = f.releaseTag;
    if (!rt || f.addressTags?.[rt.key] !== rt.value) {
      return `safety: the address does not carry the release tag ${rt?.key}=${rt?.value}`;
    }
  }
  return undefined;
}

/** An owner that can no longer use its ENI: terminated, gone, or shutting down itself. */
export function ownerNotLive(state: InstanceState | undefined): boolean {
  const l = liveness(state);
  return l === 'gone' || l === 'going';
}

/** An action as a builder returns it, before `admit` gives it its id and status. */
export type ActionSpec = Omit<PlannedAction, 'id' | 'status' | 'dependsOn'> & Partial<PlannedAction>;

/**
 * The one place a planned action is born: its id, then (in this order of precedence) the safety
 * check for `actorId` (the host tearing down, or the sweeping host) and the stage switch in config.
 * A skipped action keeps no blockers: the caller's dependency blocks come after admission.
 */
export function admit(spec: ActionSpec, actorId: string, stages: Config['stages']): PlannedAction {
  const action: PlannedAction = {
    id: `${spec.stage}:${spec.action}:${spec.resource}`,
    status: 'planned',
    dependsOn: [],
    ...spec,
  };
  const unsafe = safetyViolation(action, actorId);
  if (unsafe) {
    action.status = 'skipped';
    action.reason = unsafe;
    delete action.blockers;
  } else if (!stages[STAGE_SWITCH[spec.stage]]) {
    action.status = 'skipped';
    action.reason = `stage disabled by config stages.${STAGE_SWITCH[spec.stage]}`;
    delete action.blockers;
  }
  return action;
}

/** What differs between the teardown's and the sweeper's action: the words, the facts, the order. */
export interface ActionContext {
  summary: string;
  facts: SafetyFacts;
  dependsOn?: string[];
}

/** The stage and resource kind of each action: what every builder below would otherwise repeat. */
const SHAPE: { [A in ActionName]: { stage: StageName; kind: ResourceKind } } = {
  DisassociateAddress: { stage: 'eip', kind: 'eip-association' },
  ReleaseAddress: { stage: 'eip', kind: 'eip' },
  DetachNetworkInterface: { stage: 'eni', kind: 'eni' },
  DeleteNetworkInterface: { stage: 'eni', kind: 'eni' },
  DisassociateRouteTable: { stage: 'route-table', kind: 'route-table-association' },
  DeleteRouteTable: { stage: 'route-table', kind: 'route-table' },
  DeleteSubnet: { stage: 'subnet', kind: 'subnet' },
  DisassociateVpcCidrBlock: { stage: 'cidr', kind: 'vpc-cidr' },
};

/** The action that sends `params`, acting on `resource`, with the context folded in. */
function spec(params: ActionParams, resource: string, c: ActionContext): ActionSpec {
  const { stage, kind } = SHAPE[params.action];
  return {
    stage,
    action: params.action,
    resource,
    kind,
    params,
    summary: c.summary,
    facts: c.facts,
    ...(c.dependsOn ? { dependsOn: c.dependsOn } : {}),
  };
}

/** The address's name in summaries: its public IP, else its allocation or association id. */
export function eipName(addr: AddressInfo): string {
  return addr.publicIp ?? addr.allocationId ?? addr.associationId ?? '?';
}

export function disassociateAddress(
  addr: AddressInfo & { associationId: string },
  networkInterfaceId: string,
  c: ActionContext,
): ActionSpec {
  const { associationId, allocationId, publicIp, privateIpAddress } = addr;
  return spec(
    {
      action: 'DisassociateAddress',
      associationId,
      allocationId,
      publicIp,
      networkInterfaceId,
      privateIpAddress,
    },
    associationId,
    c,
  );
}

/**
 * The release after a disassociation, or undefined: only under eip.policy `release-owned`, only an
 * address carrying the release tag (the EIPs are the user's). `eniFacts` are the disassociation's.
 */
export function releaseAddress(
  addr: AddressInfo,
  config: Config,
  disassociateId: string,
  eniFacts: SafetyFacts,
): ActionSpec | undefined {
  const rt = config.eip.releaseTag;
  if (config.eip.policy !== 'release-owned' || !addr.allocationId || addr.tags[rt.key] !== rt.value) {
    return undefined;
  }
  return spec(
    { action: 'ReleaseAddress', allocationId: addr.allocationId, publicIp: addr.publicIp },
    addr.allocationId,
    {
      summary: `release EIP ${eipName(addr)} (tagged ${rt.key}=${rt.value})`,
      facts: { ...eniFacts, addressTags: addr.tags, releaseTag: rt },
      dependsOn: [disassociateId],
    },
  );
}

export function detachNetworkInterface(
  networkInterfaceId: string,
  attachmentId: string,
  c: ActionContext,
): ActionSpec {
  return spec({ action: 'DetachNetworkInterface', networkInterfaceId, attachmentId }, networkInterfaceId, c);
}

export function deleteNetworkInterface(
  networkInterfaceId: string,
  waitForDetach: boolean,
  c: ActionContext,
): ActionSpec {
  return spec({ action: 'DeleteNetworkInterface', networkInterfaceId, waitForDetach }, networkInterfaceId, c);
}

export function disassociateRouteTable(
  routeTableId: string,
  association: { associationId: string; subnetId?: string },
  c: ActionContext,
): ActionSpec {
  const { associationId, subnetId } = association;
  return spec({ action: 'DisassociateRouteTable', associationId, routeTableId, subnetId }, associationId, c);
}

export function deleteRouteTable(routeTableId: string, c: ActionContext): ActionSpec {
  return spec({ action: 'DeleteRouteTable', routeTableId }, routeTableId, c);
}

export function deleteSubnet(subnetId: string, c: ActionContext): ActionSpec {
  return spec({ action: 'DeleteSubnet', subnetId }, subnetId, c);
}

export function disassociateVpcCidrBlock(
  cidr: { associationId: string; cidrBlock: string; vpcId: string },
  c: ActionContext,
): ActionSpec {
  const { associationId, cidrBlock, vpcId } = cidr;
  return spec({ action: 'DisassociateVpcCidrBlock', associationId, cidrBlock, vpcId }, associationId, c);
}
