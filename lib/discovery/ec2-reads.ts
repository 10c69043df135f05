import {
  Address,
  DescribeAddressesCommand,
  DescribeAddressesResult,
  DescribeInstancesCommand,
  DescribeInstancesResult,
  DescribeNetworkInterfacesCommand,
  DescribeNetworkInterfacesResult,
  DescribeRouteTablesCommand,
  DescribeRouteTablesResult,
  DescribeSpotInstanceRequestsCommand,
  DescribeSpotInstanceRequestsResult,
  DescribeSubnetsCommand,
  DescribeSubnetsResult,
  DescribeVpcsCommand,
  DescribeVpcsResult,
  Filter,
  Instance,
  NetworkInterface,
  Reservation,
  RouteTable,
  SpotInstanceRequest,
  Subnet,
  Tag,
  Vpc,
} from '@aws-sdk/client-ec2';
import { CallContext, callEc2, describeAll } from '../aws/call';
import { cloudInstanceOf, Config } from '../config/schema';
import { LogFields } from '../log';

/**
 * The EC2 reads, each built here and only here, each returning plain data instead of SDK shapes:
 * the teardown's inventory (./inventory.ts), the sweeper's cluster discovery (./sweep.ts) and
 * `teardownd check` read loxilb's resources through these, with the same tag filter; the gate's peer
 * facts (lib/gate/ha-facts.ts), the instance states (./instance-state.ts) and the shutdown probe
 * (lib/sources/shutdown-probe.ts) read instances through them. Paginated Describes follow NextToken
 * to the end (lib/aws/call.ts `describeAll`).
 */

export interface EniInfo {
  networkInterfaceId: string;
  subnetId?: string;
  vpcId?: string;
  /** available | in-use | attaching | detaching | associated */
  status?: string;
  description?: string;
  requesterManaged?: boolean;
  tags: Record<string, string>;
  attachment?: {
    attachmentId?: string;
    instanceId?: string;
    deviceIndex?: number;
    /** attaching | attached | detaching | detached */
    status?: string;
  };
  privateIps: Array<{ address: string; primary: boolean }>;
}

export interface AddressInfo {
  allocationId?: string;
  associationId?: string;
  publicIp?: string;
  networkInterfaceId?: string;
  privateIpAddress?: string;
  tags: Record<string, string>;
}

export interface SubnetInfo {
  subnetId: string;
  vpcId?: string;
  cidrBlock?: string;
  availabilityZone?: string;
  tags: Record<string, string>;
}

export interface RouteTableAssociationInfo {
  associationId: string;
  subnetId?: string;
  gatewayId?: string;
  main: boolean;
  state?: string;
}

export interface RouteTableInfo {
  routeTableId: string;
  vpcId?: string;
  tags: Record<string, string>;
  associations: RouteTableAssociationInfo[];
}

export interface CidrAssociationFact {
  associationId: string;
  cidrBlock: string;
  /** associating | associated | disassociating | disassociated | failing | failed */
  state?: string;
}

export interface VpcInfo {
  vpcId: string;
  primaryCidr?: string;
  cidrAssociations: CidrAssociationFact[];
}

export interface InstanceInfo {
  instanceId: string;
  vpcId?: string;
  state?: string;
  /** The primary private IP. */
  privateIp?: string;
  /** Every private IP on every interface (a loxilb peer may be known by a secondary one). */
  privateIps: string[];
  tags: Record<string, string>;
}

export interface SpotRequestInfo {
  instanceId?: string;
  /** The request's status code (`marked-for-termination`, `fulfilled`, …). */
  statusCode?: string;
}

export interface TagValues {
  eni: string;
  subnet: string;
  routeTable: string;
}

/** Tag values loxilb writes: `loxilb-eni<--cloudinstance>`, `loxilb-subnet…`, `loxilb-routetable…`. */
export function loxilbTagValues(config: Config): TagValues {
  const inst = cloudInstanceOf(config);
  return { eni: `loxilb-eni${inst}`, subnet: `loxilb-subnet${inst}`, routeTable: `loxilb-routetable${inst}` };
}

/** The filter for one kind of loxilb resource of this cluster (ownership.tagKey = its tag value). */
export function loxilbTagFilter(config: Config, kind: keyof TagValues): Filter {
  return { Name: `tag:${config.ownership.tagKey}`, Values: [loxilbTagValues(config)[kind]] };
}

export function tagsOf(tags: Tag[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of tags ?? []) if (t.Key !== undefined) out[t.Key] = t.Value ?? '';
  return out;
}

export function toEniInfo(n: NetworkInterface): EniInfo {
  return {
    networkInterfaceId: n.NetworkInterfaceId ?? '',
    subnetId: n.SubnetId,
    vpcId: n.VpcId,
    status: n.Status,
    description: n.Description,
    requesterManaged: n.RequesterManaged,
    tags: tagsOf(n.TagSet),
    attachment: n.Attachment
      ? {
          attachmentId: n.Attachment.AttachmentId,
          instanceId: n.Attachment.InstanceId,
          deviceIndex: n.Attachment.DeviceIndex,
          status: n.Attachment.Status,
        }
      : undefined,
    privateIps: (n.PrivateIpAddresses ?? []).map((p) => ({
      address: p.PrivateIpAddress ?? '',
      primary: p.Primary === true,
    })),
  };
}

function toAddressInfo(a: Address): AddressInfo {
  return {
    allocationId: a.AllocationId,
    associationId: a.AssociationId,
    publicIp: a.PublicIp,
    networkInterfaceId: a.NetworkInterfaceId,
    privateIpAddress: a.PrivateIpAddress,
    tags: tagsOf(a.Tags),
  };
}

function toSubnetInfo(s: Subnet): SubnetInfo {
  return {
    subnetId: s.SubnetId ?? '',
    vpcId: s.VpcId,
    cidrBlock: s.CidrBlock,
    availabilityZone: s.AvailabilityZone,
    tags: tagsOf(s.Tags),
  };
}

function toRouteTableInfo(r: RouteTable): RouteTableInfo {
  return {
    routeTableId: r.RouteTableId ?? '',
    vpcId: r.VpcId,
    tags: tagsOf(r.Tags),
    associations: (r.Associations ?? [])
      .filter((a) => a.RouteTableAssociationId)
      .map((a) => ({
        associationId: a.RouteTableAssociationId!,
        subnetId: a.SubnetId,
        gatewayId: a.GatewayId,
        main: a.Main === true,
        state: a.AssociationState?.State,
      })),
  };
}

function toInstanceInfo(i: Instance): InstanceInfo {
  return {
    instanceId: i.InstanceId ?? '',
    vpcId: i.VpcId,
    state: i.State?.Name,
    privateIp: i.PrivateIpAddress,
    privateIps: (i.NetworkInterfaces ?? []).flatMap((n) =>
      (n.PrivateIpAddresses ?? []).flatMap((a) => (a.PrivateIpAddress ? [a.PrivateIpAddress] : [])),
    ),
    tags: tagsOf(i.Tags),
  };
}

function toVpcInfo(v: Vpc): VpcInfo {
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
  };
}

/** EC2 takes at most 200 values per filter; stay well below. */
const CHUNK = 100;

/** One read per chunk of filter values, in parallel, the answers concatenated. */
export async function inChunks<T>(values: string[], one: (chunk: string[]) => Promise<T[]>): Promise<T[]> {
  const chunks: string[][] = [];
  for (let i = 0; i < values.length; i += CHUNK) chunks.push(values.slice(i, i + CHUNK));
  return (await Promise.all(chunks.map(one))).flat();
}

/** How a read is sent: its log fields, and (check, someone waiting at a terminal) fewer attempts. */
export interface ReadOptions {
  logFields?: LogFields;
  maxAttempts?: number;
}

export async function describeEnis(
  ctx: CallContext,
  filters: Filter[],
  read: ReadOptions = {},
): Promise<EniInfo[]> {
  const list = await describeAll<DescribeNetworkInterfacesResult, NetworkInterface>(
    ctx,
    (NextToken) => new DescribeNetworkInterfacesCommand({ Filters: filters, NextToken }),
    (o) => o.NetworkInterfaces,
    read.logFields,
    read,
  );
  return list.map(toEniInfo);
}

export async function describeSubnets(
  ctx: CallContext,
  filters: Filter[],
  read: ReadOptions = {},
): Promise<SubnetInfo[]> {
  const list = await describeAll<DescribeSubnetsResult, Subnet>(
    ctx,
    (NextToken) => new DescribeSubnetsCommand({ Filters: filters, NextToken }),
    (o) => o.Subnets,
    read.logFields,
    read,
  );
  return list.map(toSubnetInfo);
}

export async function describeRouteTables(
  ctx: CallContext,
  filters: Filter[],
  read: ReadOptions = {},
): Promise<RouteTableInfo[]> {
  const list = await describeAll<DescribeRouteTablesResult, RouteTable>(
    ctx,
    (NextToken) => new DescribeRouteTablesCommand({ Filters: filters, NextToken }),
    (o) => o.RouteTables,
    read.logFields,
    read,
  );
  return list.map(toRouteTableInfo);
}

/** DescribeAddresses has no pagination: one call. */
export async function describeAddresses(
  ctx: CallContext,
  filters: Filter[],
  read: ReadOptions = {},
): Promise<AddressInfo[]> {
  const { output } = await callEc2<DescribeAddressesResult>(
    ctx,
    new DescribeAddressesCommand({ Filters: filters }),
    {
      mutating: false,
      logFields: read.logFields,
      maxAttempts: read.maxAttempts,
    },
  );
  return (output.Addresses ?? []).map(toAddressInfo);
}

/** VPCs by filter or by id (`{}`: every VPC the account has in the region). */
export async function describeVpcs(
  ctx: CallContext,
  select: { Filters?: Filter[]; VpcIds?: string[] },
  read: ReadOptions = {},
): Promise<VpcInfo[]> {
  const list = await describeAll<DescribeVpcsResult, Vpc>(
    ctx,
    (NextToken) => new DescribeVpcsCommand({ ...select, NextToken }),
    (o) => o.Vpcs,
    read.logFields,
    read,
  );
  return list.map(toVpcInfo);
}

/** Instances by filter (all pages). */
export async function describeInstances(
  ctx: CallContext,
  filters: Filter[],
  read: ReadOptions = {},
): Promise<InstanceInfo[]> {
  const reservations = await describeAll<DescribeInstancesResult, Reservation>(
    ctx,
    (NextToken) => new DescribeInstancesCommand({ Filters: filters, NextToken }),
    (o) => o.Reservations,
    read.logFields,
    read,
  );
  return reservations.flatMap((r) => r.Instances ?? []).map(toInstanceInfo);
}

/**
 * One instance by id; undefined when the answer holds none. By id, so an instance EC2 no longer
 * knows fails with InvalidInstanceID.NotFound (the callers decide what that means to them).
 */
export async function describeInstance(
  ctx: CallContext,
  instanceId: string,
  read: ReadOptions = {},
): Promise<InstanceInfo | undefined> {
  const { output } = await callEc2<DescribeInstancesResult>(
    ctx,
    new DescribeInstancesCommand({ InstanceIds: [instanceId] }),
    { mutating: false, logFields: read.logFields, maxAttempts: read.maxAttempts },
  );
  const i = output.Reservations?.flatMap((r) => r.Instances ?? []).find((x) => x.InstanceId === instanceId);
  return i && toInstanceInfo(i);
}

/** The spot requests by filter (all pages). */
export async function describeSpotRequests(
  ctx: CallContext,
  filters: Filter[],
  read: ReadOptions = {},
): Promise<SpotRequestInfo[]> {
  const list = await describeAll<DescribeSpotInstanceRequestsResult, SpotInstanceRequest>(
    ctx,
    (NextToken) => new DescribeSpotInstanceRequestsCommand({ Filters: filters, NextToken }),
    (o) => o.SpotInstanceRequests,
    read.logFields,
    read,
  );
  return list.map((r) => ({ instanceId: r.InstanceId, statusCode: r.Status?.Code }));
}
