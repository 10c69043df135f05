import { classifyAwsError } from '../aws/errors';
import { CallContext } from '../aws/call';
import { cloudInstanceOf, Config } from '../config/schema';
import { LogFields } from '../log';
import {
  AddressInfo,
  describeEnis,
  describeInstance,
  describeRouteTables,
  describeSubnets,
  EniInfo,
  loxilbTagFilter,
  loxilbTagValues,
  RouteTableInfo,
  SubnetInfo,
  TagValues,
} from './ec2-reads';
import { describeInstanceStates, INSTANCE_ID, InstanceState } from './instance-state';
import { addressesOnEnis, enisInSubnets, vpcsWithSubnets } from './related-reads';

/**
 * Discovery: what loxilb created that this instance may have to tear down, and what would block a
 * shared delete. Tag-filtered, paginated Describe calls, as few as possible (the EC2 throttling
 * buckets are shared by every host of the account), issued in two parallel waves:
 *   1. ENIs by tag `<tagKey>=loxilb-eni<inst>`; and for `full` also this instance (its VPC), subnets
 *      by tag `loxilb-subnet<inst>`, route tables by tag `loxilb-routetable<inst>`;
 *   2. EIPs by `network-interface-id` of this instance's loxilb ENIs (for `full` also of every
 *      unattached loxilb ENI); and for `full` also every ENI in the loxilb subnets (foreign ones
 *      included), the VPC (its CIDR associations), every subnet of the VPC (to know what sits inside
 *      the cloud CIDR) and the state of the instances the unattached ENIs' owner tags name — the
 *      same reads by id as the sweeper's discovery (./related-reads.ts).
 * The inventory is raw data; which of it is ours to touch is the planner's decision (lib/plan/planner.ts).
 *
 * A resumed teardown passes what an earlier run of its episode found (`remembered`, from the journal):
 * once the subnet is deleted, the CIDR no longer "holds the loxilb subnet", and once an ENI is
 * detached, it is no longer "attached here" — without the record a restart would forget them.
 */

/** How deep discovery goes: `full` also looks at the shared resources (subnet, route table, CIDR). */
export type InventoryDepth = 'full' | 'instance';

export interface CidrAssociationInfo {
  vpcId: string;
  associationId: string;
  cidrBlock: string;
  state?: string;
  /** The VPC's primary CIDR: never disassociated. */
  primary: boolean;
  /**
   * Why this association was picked: config cloud.cidrBlock, it contains the loxilb subnet, or an
   * earlier run of this episode found it (journal).
   */
  source: 'config' | 'loxilb-subnet' | 'journal';
}

/**
 * What discovery found, journaled before the first change so that a resumed run (after a crash, a
 * kill -9, a CLI re-run) still knows it when AWS no longer shows the link that led to it.
 */
export interface RememberedFacts {
  vpcId?: string;
  /** This host's loxilb ENIs (attached here at index ≠ 0, or unattached with our owner tag). */
  ownEniIds: string[];
  subnetIds: string[];
  routeTableIds: string[];
  cidr?: { vpcId: string; associationId: string; cidrBlock: string };
}

export interface Inventory {
  instanceId: string;
  /** How deep discovery went: `full` also looks at the shared resources. */
  depth: InventoryDepth;
  vpcId?: string;
  vpcPrimaryCidr?: string;
  tagKey: string;
  ownerTagKey: string;
  tagValues: TagValues;
  /** Every ENI carrying the loxilb ENI tag (this cluster), ours or not. */
  loxilbEnis: EniInfo[];
  /** EIPs associated with this instance's loxilb ENIs. */
  addresses: AddressInfo[];
  /** Subnets carrying the loxilb subnet tag, in this instance's VPC. */
  subnets: SubnetInfo[];
  /** Every ENI in those subnets, whoever owns it. */
  subnetEnis: EniInfo[];
  /** Route tables carrying the loxilb route-table tag, in this VPC, with all their associations. */
  routeTables: RouteTableInfo[];
  /** The cloud CIDR association (config cloud.cidrBlock, or the secondary one holding the loxilb subnet). */
  cidr?: CidrAssociationInfo;
  /** Every subnet of the VPC (to know which ones sit inside the cloud CIDR). */
  vpcSubnets: SubnetInfo[];
  /** `full` only: state of each instance an unattached loxilb ENI's owner tag names. */
  ownerStates: Record<string, InstanceState>;
  /** ENI ids an earlier run of this episode recorded as this host's (journal). */
  rememberedEniIds: string[];
  /** What this discovery adds up to, with the earlier runs' record: journaled before any change. */
  remembered: RememberedFacts;
  /** Describe requests sent (retries included). */
  describeCalls: number;
  warnings: string[];
  /**
   * `full` with no VPC to be told (DescribeInstances no longer knows the instance, no loxilb ENI and
   * no journal names it): the cluster's tagged subnets and route tables in the region, none of them
   * attributed to this host and none touched. Absent when the VPC is known.
   */
  vpcUnknown?: { subnetIds: string[]; routeTableIds: string[] };
}

/**
 * Whether an ENI is this instance's to tear down: attached here at a device index other than 0, or
 * (after a crash between detach and delete) unattached and carrying our owner tag, or no owner tag
 * and recorded as ours by an earlier run of this episode (`remembered`). Shared by the inventory (which EIPs to look up)
 * and the planner (which re-checks every invariant).
 */
export function isOwnEni(
  eni: EniInfo,
  instanceId: string,
  ownerTagKey: string,
  remembered: readonly string[] = [],
): boolean {
  const a = eni.attachment;
  if (a && a.instanceId && a.status !== 'detached') return a.instanceId === instanceId && a.deviceIndex !== 0;
  const owner = eni.tags[ownerTagKey];
  return owner === instanceId || (owner === undefined && remembered.includes(eni.networkInterfaceId));
}

/** Unattached: no attachment, or one EC2 reports as detached. */
export function isUnattached(eni: EniInfo): boolean {
  const a = eni.attachment;
  return !a?.instanceId || a.status === 'detached';
}

/** IPv4 CIDR → [first, last] as unsigned numbers; undefined if malformed. */
export function cidrRange(cidr: string | undefined): [number, number] | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr ?? '');
  if (!m) return undefined;
  const octets = m.slice(1, 5).map(Number);
  const bits = Number(m[5]);
  if (octets.some((o) => o > 255) || bits > 32) return undefined;
  const ip = octets.reduce((acc, o) => acc * 256 + o, 0);
  const size = 2 ** (32 - bits);
  const first = Math.floor(ip / size) * size;
  return [first, first + size - 1];
}

export function cidrContains(outer: string | undefined, inner: string | undefined): boolean {
  const o = cidrRange(outer);
  const i = cidrRange(inner);
  return !!o && !!i && i[0] >= o[0] && i[1] <= o[1];
}

const LIVE_CIDR_STATES = new Set(['associated', 'associating', undefined]);

export interface DiscoverOptions {
  instanceId: string;
  /** `full` also discovers the shared resources; `instance`/`none` only this instance's. */
  depth: InventoryDepth;
  /** What earlier runs of this episode found (journal). */
  remembered?: RememberedFacts;
}

export async function discoverInventory(ctx: CallContext, opts: DiscoverOptions): Promise<Inventory> {
  const { config } = ctx;
  const { instanceId } = opts;
  const tagKey = config.ownership.tagKey;
  const ownerTagKey = config.ownership.ownerTagKey;
  const tagValues = loxilbTagValues(config);
  const counter = ctx.counter ?? { read: 0, mutate: 0 };
  const c: CallContext = { ...ctx, counter };
  const readsBefore = counter.read;
  const warnings: string[] = [];
  const full = opts.depth === 'full';
  const log = { instanceId, stage: 'inventory' };
  const read = { logFields: log };

  // Wave 1
  const [loxilbEnis, instanceVpc, taggedSubnets, taggedRouteTables] = await Promise.all([
    describeEnis(c, [loxilbTagFilter(config, 'eni')], read),
    full ? vpcOfInstance(c, instanceId, warnings) : Promise.resolve(undefined),
    full
      ? describeSubnets(c, [loxilbTagFilter(config, 'subnet')], read)
      : Promise.resolve([] as SubnetInfo[]),
    full
      ? describeRouteTables(c, [loxilbTagFilter(config, 'routeTable')], read)
      : Promise.resolve([] as RouteTableInfo[]),
  ]);

  const rememberedEniIds = opts.remembered?.ownEniIds ?? [];
  const own = loxilbEnis.filter((e) => isOwnEni(e, instanceId, ownerTagKey, rememberedEniIds));
  let vpcId = instanceVpc;
  if (full && !vpcId) {
    const vpcs = [...new Set(own.map((e) => e.vpcId).filter((v): v is string => !!v))];
    if (vpcs.length === 1) vpcId = vpcs[0];
    // After its ENIs are gone a terminated instance has nothing left that names its VPC: the record does.
    else if (vpcs.length === 0 && opts.remembered?.vpcId) vpcId = opts.remembered.vpcId;
  }
  if (full && !vpcId) {
    warnings.push(
      `cannot tell the VPC of ${instanceId}: shared resources (subnet, route table, CIDR) are left alone`,
    );
  }
  const inVpc = <T extends { vpcId?: string }>(xs: T[]) => (vpcId ? xs.filter((x) => x.vpcId === vpcId) : []);
  const subnets = inVpc(taggedSubnets);
  const routeTables = inVpc(taggedRouteTables);

  // Wave 2. Full scope also removes unattached loxilb ENIs no live instance owns (lib/plan/planner.ts):
  // their EIPs and their owners' states are read here.
  const unattached = full ? loxilbEnis.filter((e) => isUnattached(e) && !own.includes(e)) : [];
  const ownIds = [...own, ...unattached].map((e) => e.networkInterfaceId);
  const owners = unattached
    .map((e) => e.tags[ownerTagKey])
    .filter((o): o is string => !!o && INSTANCE_ID.test(o));
  const [addresses, subnetEnis, [vpc], ownerStates, elsewhere] = await Promise.all([
    addressesOnEnis(c, ownIds, read),
    enisInSubnets(
      c,
      subnets.map((s) => s.subnetId),
      read,
    ),
    vpcsWithSubnets(c, full && vpcId ? [vpcId] : [], read),
    owners.length
      ? describeInstanceStates(c, owners, log)
      : Promise.resolve({} as Record<string, InstanceState>),
    // Nothing of ours attached here: is there loxilb's under another --cloudinstance suffix?
    own.length
      ? Promise.resolve([] as EniInfo[])
      : otherSuffixEnis(c, instanceId, tagKey, tagValues.eni, log),
  ]);
  if (elsewhere.length) warnings.push(otherSuffixWarning(elsewhere, tagKey, tagValues.eni, config));

  let cidr: CidrAssociationInfo | undefined;
  if (vpc && vpcId) {
    const assocs = vpc.cidrAssociations.filter((a) => LIVE_CIDR_STATES.has(a.state));
    const configured = config.cloud.cidrBlock;
    const fromSubnet = assocs.find(
      (a) => a.cidrBlock !== vpc.primaryCidr && subnets.some((s) => cidrContains(a.cidrBlock, s.cidrBlock)),
    );
    const fromJournal = assocs.find((a) => a.associationId === opts.remembered?.cidr?.associationId);
    const pick = configured ? assocs.find((a) => a.cidrBlock === configured) : (fromSubnet ?? fromJournal);
    if (pick) {
      cidr = {
        vpcId,
        associationId: pick.associationId,
        cidrBlock: pick.cidrBlock,
        state: pick.state,
        primary: pick.cidrBlock === vpc.primaryCidr,
        source: configured ? 'config' : pick === fromSubnet ? 'loxilb-subnet' : 'journal',
      };
    }
  }

  const remembered = rememberFacts(opts.remembered, {
    vpcId,
    ownEniIds: own.map((e) => e.networkInterfaceId),
    subnetIds: subnets.map((s) => s.subnetId),
    routeTableIds: routeTables.map((r) => r.routeTableId),
    cidr: cidr && { vpcId: cidr.vpcId, associationId: cidr.associationId, cidrBlock: cidr.cidrBlock },
  });

  return {
    instanceId,
    depth: opts.depth,
    vpcId,
    ...(full && !vpcId
      ? {
          vpcUnknown: {
            subnetIds: taggedSubnets.map((x) => x.subnetId),
            routeTableIds: taggedRouteTables.map((x) => x.routeTableId),
          },
        }
      : {}),
    vpcPrimaryCidr: vpc?.primaryCidr,
    tagKey,
    ownerTagKey,
    tagValues,
    loxilbEnis,
    addresses,
    subnets,
    subnetEnis,
    routeTables,
    cidr,
    vpcSubnets: vpc?.subnets ?? [],
    ownerStates,
    rememberedEniIds,
    remembered,
    describeCalls: counter.read - readsBefore,
    warnings,
  };
}

/** loxilb ENIs attached to this instance whose tag is `loxilb-eni<another suffix>`. */
async function otherSuffixEnis(
  ctx: CallContext,
  instanceId: string,
  tagKey: string,
  ours: string,
  log: LogFields,
): Promise<EniInfo[]> {
  const list = await describeEnis(
    ctx,
    [
      { Name: `tag:${tagKey}`, Values: ['loxilb-eni*'] },
      { Name: 'attachment.instance-id', Values: [instanceId] },
    ],
    { logFields: log },
  );
  return list.filter((e) => e.tags[tagKey] !== ours);
}

/** Loud, because the alternative is a silent "nothing to do" while loxilb's resources stay. */
function otherSuffixWarning(enis: EniInfo[], tagKey: string, ours: string, config: Config): string {
  const suffixes = [...new Set(enis.map((e) => e.tags[tagKey].slice('loxilb-eni'.length)))];
  return (
    `this instance has loxilb ENI(s) ${enis.map((e) => `${e.networkInterfaceId} (${tagKey}=${e.tags[tagKey]})`).join(', ')}` +
    ` of loxilb --cloudinstance ${suffixes.map((x) => JSON.stringify(x)).join(', ')}, but teardownd looks for ${tagKey}=${ours}` +
    ` (ownership.cloudInstance ${JSON.stringify(cloudInstanceOf(config))}): none of them is touched —` +
    ' set ownership.cloudInstance (or let teardownd read it from the running loxilb)'
  );
}

/** The earlier record and what this run found, together (pure; nothing is ever dropped). */
export function rememberFacts(earlier: RememberedFacts | undefined, now: RememberedFacts): RememberedFacts {
  const union = (a: string[] = [], b: string[] = []) => [...new Set([...a, ...b])];
  const out: RememberedFacts = {
    ownEniIds: union(earlier?.ownEniIds, now.ownEniIds),
    subnetIds: union(earlier?.subnetIds, now.subnetIds),
    routeTableIds: union(earlier?.routeTableIds, now.routeTableIds),
  };
  const vpcId = now.vpcId ?? earlier?.vpcId;
  if (vpcId) out.vpcId = vpcId;
  const cidr = now.cidr ?? earlier?.cidr;
  if (cidr) out.cidr = cidr;
  return out;
}

async function vpcOfInstance(
  ctx: CallContext,
  instanceId: string,
  warnings: string[],
): Promise<string | undefined> {
  try {
    const instance = await describeInstance(ctx, instanceId, {
      logFields: { instanceId, stage: 'inventory' },
    });
    return instance?.vpcId;
  } catch (err) {
    // A terminated instance drops out of DescribeInstances after a while; its ENIs still tell the VPC.
    if (classifyAwsError(err) === 'done') {
      warnings.push(`DescribeInstances does not know ${instanceId}; taking the VPC from its loxilb ENIs`);
      return undefined;
    }
    throw err;
  }
}
