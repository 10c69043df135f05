import {
  DescribeAddressesCommand,
  DescribeAddressesResult,
  DescribeNetworkInterfacesCommand,
  DescribeNetworkInterfacesResult,
  DescribeRouteTablesCommand,
  DescribeRouteTablesResult,
  DescribeSubnetsCommand,
  DescribeSubnetsResult,
  DescribeVpcsCommand,
  DescribeVpcsResult,
  Filter,
  NetworkInterface,
  RouteTable,
  Subnet,
  Vpc,
} from '@aws-sdk/client-ec2';
import {
  AddressInfo,
  EniInfo,
  loxilbTagValues,
  RouteTableInfo,
  SubnetInfo,
  tagsOf,
  toEniInfo,
  toRouteTableInfo,
  toSubnetInfo,
} from './inventory';
import { LogFields } from '../log';
import { describeInstanceStates, InstanceState } from './instance-state';
import { instancesToLookUp, VpcFacts } from '../sweeper/orphans';
import { CallContext, describeAll } from '../aws/call';

/**
 * What the sweeper reads in one region, for one loxilb cluster (this config's tag values), in two
 * parallel waves of tag- or id-filtered, paginated Describe calls:
 *   1. ENIs, subnets and route tables carrying the cluster's loxilb tags;
 *   2. the instances those ENIs name (owner tag, attachment), the EIPs on those ENIs, every ENI in
 *      the loxilb subnets, and the VPCs of the subnets and route tables with all their subnets.
 * Ids are always passed as filters, never as id lists: an id list fails the whole call when one id
 * is gone (a terminated instance drops out of DescribeInstances after a while), a filter just
 * returns less — and "not returned" is exactly the fact the orphan rules need.
 */

export interface ClusterDiscovery {
  enis: EniInfo[];
  addresses: AddressInfo[];
  subnets: SubnetInfo[];
  subnetEnis: EniInfo[];
  routeTables: RouteTableInfo[];
  vpcs: VpcFacts[];
  instances: Record<string, InstanceState>;
}

/** EC2 takes at most 200 values per filter; stay well below. */
const CHUNK = 100;

function chunks<T>(xs: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += CHUNK) out.push(xs.slice(i, i + CHUNK));
  return out;
}

function toVpcFacts(v: Vpc, subnets: SubnetInfo[]): VpcFacts {
  return {
    vpcId: v.VpcId ?? '',
    primaryCidr: v.CidrBlock,
    cidrAssociations: (v.CidrBlockAssociationSet ?? [])
      .filter((a) => a.AssociationId && a.CidrBlock)
      .map((a) => ({
        associationId: a.AssociationId!,
        cidrBlock: a.CidrBlock!,
        state: a.CidrBlockState?.State,
      })),
    subnets: subnets.filter((s) => s.vpcId === v.VpcId),
  };
}

async function describeEnis(ctx: CallContext, filters: Filter[], log: LogFields): Promise<EniInfo[]> {
  const list = await describeAll<DescribeNetworkInterfacesResult, NetworkInterface>(
    ctx,
    (NextToken) => new DescribeNetworkInterfacesCommand({ Filters: filters, NextToken }),
    (o) => o.NetworkInterfaces,
    log,
  );
  return list.map(toEniInfo);
}

async function inChunks<T>(values: string[], one: (chunk: string[]) => Promise<T[]>): Promise<T[]> {
  if (!values.length) return [];
  return (await Promise.all(chunks(values).map(one))).flat();
}

const LOG: LogFields = { stage: 'sweep-discovery' };

/** The cluster's loxilb ENIs as EC2 shows them now (also the re-check before a shared action). */
export function describeClusterEnis(ctx: CallContext): Promise<EniInfo[]> {
  const tv = loxilbTagValues(ctx.config);
  return describeEnis(ctx, [{ Name: `tag:${ctx.config.ownership.tagKey}`, Values: [tv.eni] }], LOG);
}

/** The cluster's loxilb ENIs attached to one instance (ownership marking). */
export function describeEnisOf(ctx: CallContext, instanceId: string): Promise<EniInfo[]> {
  const tv = loxilbTagValues(ctx.config);
  return describeEnis(
    ctx,
    [
      { Name: `tag:${ctx.config.ownership.tagKey}`, Values: [tv.eni] },
      { Name: 'attachment.instance-id', Values: [instanceId] },
    ],
    { stage: 'ownership', instanceId },
  );
}

/** One ENI as EC2 shows it now; undefined when it is gone. */
export async function describeEni(
  ctx: CallContext,
  networkInterfaceId: string,
): Promise<EniInfo | undefined> {
  const found = await describeEnis(ctx, [{ Name: 'network-interface-id', Values: [networkInterfaceId] }], {
    ...LOG,
    resource: networkInterfaceId,
  });
  return found[0];
}

/** The state of one CIDR association now; undefined when it is gone. */
export async function describeCidrState(
  ctx: CallContext,
  vpcId: string,
  associationId: string,
): Promise<string | undefined> {
  const vpcs = await describeAll<DescribeVpcsResult, Vpc>(
    ctx,
    (NextToken) => new DescribeVpcsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }], NextToken }),
    (o) => o.Vpcs,
    { ...LOG, resource: associationId },
  );
  const assoc = vpcs[0]?.CidrBlockAssociationSet?.find((a) => a.AssociationId === associationId);
  return assoc ? (assoc.CidrBlockState?.State ?? 'associated') : undefined;
}

export async function discoverCluster(ctx: CallContext): Promise<ClusterDiscovery> {
  const { config } = ctx;
  const tagKey = config.ownership.tagKey;
  const tv = loxilbTagValues(config);
  const tagFilter = (value: string): Filter => ({ Name: `tag:${tagKey}`, Values: [value] });

  // Wave 1
  const [enis, subnets, routeTables] = await Promise.all([
    describeEnis(ctx, [tagFilter(tv.eni)], LOG),
    describeAll<DescribeSubnetsResult, Subnet>(
      ctx,
      (NextToken) => new DescribeSubnetsCommand({ Filters: [tagFilter(tv.subnet)], NextToken }),
      (o) => o.Subnets,
      LOG,
    ).then((xs) => xs.map(toSubnetInfo)),
    describeAll<DescribeRouteTablesResult, RouteTable>(
      ctx,
      (NextToken) => new DescribeRouteTablesCommand({ Filters: [tagFilter(tv.routeTable)], NextToken }),
      (o) => o.RouteTables,
      LOG,
    ).then((xs) => xs.map(toRouteTableInfo)),
  ]);

  // Wave 2
  const instanceIds = instancesToLookUp(enis, config.ownership.ownerTagKey);
  const eniIds = enis.map((e) => e.networkInterfaceId);
  const subnetIds = subnets.map((s) => s.subnetId);
  const vpcIds = [
    ...new Set([...subnets, ...routeTables].map((x) => x.vpcId).filter((v): v is string => !!v)),
  ].sort();
  const [instances, addresses, subnetEnis, vpcs, vpcSubnets] = await Promise.all([
    describeInstanceStates(ctx, instanceIds, LOG),
    inChunks(eniIds, (ids) =>
      describeAll<DescribeAddressesResult & { NextToken?: string }, AddressInfo>(
        ctx,
        () => new DescribeAddressesCommand({ Filters: [{ Name: 'network-interface-id', Values: ids }] }),
        (o) =>
          (o.Addresses ?? []).map((a) => ({
            allocationId: a.AllocationId,
            associationId: a.AssociationId,
            publicIp: a.PublicIp,
            networkInterfaceId: a.NetworkInterfaceId,
            privateIpAddress: a.PrivateIpAddress,
            tags: tagsOf(a.Tags),
          })),
        LOG,
      ),
    ),
    inChunks(subnetIds, (ids) => describeEnis(ctx, [{ Name: 'subnet-id', Values: ids }], LOG)),
    inChunks(vpcIds, (ids) =>
      describeAll<DescribeVpcsResult, Vpc>(
        ctx,
        (NextToken) => new DescribeVpcsCommand({ Filters: [{ Name: 'vpc-id', Values: ids }], NextToken }),
        (o) => o.Vpcs,
        LOG,
      ),
    ),
    inChunks(vpcIds, (ids) =>
      describeAll<DescribeSubnetsResult, Subnet>(
        ctx,
        (NextToken) => new DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: ids }], NextToken }),
        (o) => o.Subnets,
        LOG,
      ).then((xs) => xs.map(toSubnetInfo)),
    ),
  ]);

  return {
    enis,
    addresses,
    subnets,
    subnetEnis,
    routeTables,
    vpcs: vpcs.map((v) => toVpcFacts(v, vpcSubnets)),
    instances,
  };
}
