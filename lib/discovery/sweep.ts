import { CallContext } from '../aws/call';
import { LogFields } from '../log';
import { instancesToLookUp } from '../sweeper/orphan-eni';
import {
  AddressInfo,
  describeEnis,
  describeRouteTables,
  describeSubnets,
  describeVpcs,
  EniInfo,
  loxilbTagFilter,
  RouteTableInfo,
  SubnetInfo,
} from './ec2-reads';
import { describeInstanceStates, InstanceState } from './instance-state';
import { addressesOnEnis, enisInSubnets, VpcFacts, vpcsWithSubnets } from './related-reads';

/**
 * What the sweeper reads in one region, for one loxilb cluster (this config's tag values), in two
 * parallel waves of tag- or id-filtered, paginated Describe calls:
 *   1. ENIs, subnets and route tables carrying the cluster's loxilb tags;
 *   2. the instances those ENIs name (owner tag, attachment), the EIPs on those ENIs, every ENI in
 *      the loxilb subnets, and the VPCs of the subnets and route tables with all their subnets
 *      (./related-reads.ts, the same reads as the teardown's inventory).
 * Ids are always passed as filters, never as id lists: "not returned" is exactly the fact the orphan
 * rules need (a terminated instance drops out of DescribeInstances after a while).
 */

export type { VpcFacts } from './related-reads';

export interface ClusterDiscovery {
  /** Every ENI of the region carrying the cluster's loxilb ENI tag. */
  enis: EniInfo[];
  /** EIPs associated with those ENIs. */
  addresses: AddressInfo[];
  /** Subnets carrying the cluster's loxilb subnet tag. */
  subnets: SubnetInfo[];
  /** Every ENI in those subnets, whoever owns it. */
  subnetEnis: EniInfo[];
  /** Route tables carrying the cluster's loxilb route-table tag, with all their associations. */
  routeTables: RouteTableInfo[];
  /** The VPCs those subnets and route tables are in. */
  vpcs: VpcFacts[];
  /** State of every instance the ENIs name (absent = never asked = unknown). */
  instances: Record<string, InstanceState>;
}

const LOG: LogFields = { stage: 'sweep-discovery' };
const READ = { logFields: LOG };

/** The cluster's loxilb ENIs as EC2 shows them now (also the re-check before a shared action). */
export function describeClusterEnis(ctx: CallContext): Promise<EniInfo[]> {
  return describeEnis(ctx, [loxilbTagFilter(ctx.config, 'eni')], READ);
}

/** The cluster's loxilb ENIs attached to one instance (ownership marking). */
export function describeEnisOf(ctx: CallContext, instanceId: string): Promise<EniInfo[]> {
  return describeEnis(
    ctx,
    [loxilbTagFilter(ctx.config, 'eni'), { Name: 'attachment.instance-id', Values: [instanceId] }],
    { logFields: { stage: 'ownership', instanceId } },
  );
}

/** One ENI as EC2 shows it now; undefined when it is gone. */
export async function describeEni(
  ctx: CallContext,
  networkInterfaceId: string,
): Promise<EniInfo | undefined> {
  const found = await describeEnis(ctx, [{ Name: 'network-interface-id', Values: [networkInterfaceId] }], {
    logFields: { ...LOG, resource: networkInterfaceId },
  });
  return found[0];
}

/** The state of one CIDR association now; undefined when it is gone. */
export async function describeCidrState(
  ctx: CallContext,
  vpcId: string,
  associationId: string,
): Promise<string | undefined> {
  const vpcs = await describeVpcs(
    ctx,
    { Filters: [{ Name: 'vpc-id', Values: [vpcId] }] },
    {
      logFields: { ...LOG, resource: associationId },
    },
  );
  const assoc = vpcs[0]?.cidrAssociations.find((a) => a.associationId === associationId);
  return assoc ? (assoc.state ?? 'associated') : undefined;
}

export async function discoverCluster(ctx: CallContext): Promise<ClusterDiscovery> {
  const { config } = ctx;

  // Wave 1
  const [enis, subnets, routeTables] = await Promise.all([
    describeEnis(ctx, [loxilbTagFilter(config, 'eni')], READ),
    describeSubnets(ctx, [loxilbTagFilter(config, 'subnet')], READ),
    describeRouteTables(ctx, [loxilbTagFilter(config, 'routeTable')], READ),
  ]);

  // Wave 2
  const instanceIds = instancesToLookUp(enis, config.ownership.ownerTagKey);
  const eniIds = enis.map((e) => e.networkInterfaceId);
  const subnetIds = subnets.map((s) => s.subnetId);
  const vpcIds = [
    ...new Set([...subnets, ...routeTables].map((x) => x.vpcId).filter((v): v is string => !!v)),
  ].sort();
  const [instances, addresses, subnetEnis, vpcs] = await Promise.all([
    describeInstanceStates(ctx, instanceIds, LOG),
    addressesOnEnis(ctx, eniIds, READ),
    enisInSubnets(ctx, subnetIds, READ),
    vpcsWithSubnets(ctx, vpcIds, READ),
  ]);

  return { enis, addresses, subnets, subnetEnis, routeTables, vpcs, instances };
}
