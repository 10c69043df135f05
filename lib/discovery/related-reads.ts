import { CallContext } from '../aws/call';
import {
  AddressInfo,
  describeAddresses,
  describeEnis,
  describeSubnets,
  describeVpcs,
  EniInfo,
  inChunks,
  ReadOptions,
  SubnetInfo,
  VpcInfo,
} from './ec2-reads';

/**
 * The second wave of both discoveries — the teardown's inventory (./inventory.ts) and the sweeper's
 * (./sweep.ts): what hangs off the loxilb resources the first wave found, read by their ids. Ids
 * always go in filters, never as id lists (an id list fails the whole call when one id is gone, a
 * filter just returns less), in chunks EC2 accepts; no ids, no call.
 */

export interface VpcFacts extends VpcInfo {
  /** Every subnet of the VPC (to know what sits inside a CIDR). */
  subnets: SubnetInfo[];
}

/** The EIPs associated with these ENIs. */
export function addressesOnEnis(
  ctx: CallContext,
  eniIds: string[],
  read: ReadOptions,
): Promise<AddressInfo[]> {
  return inChunks(eniIds, (ids) =>
    describeAddresses(ctx, [{ Name: 'network-interface-id', Values: ids }], read),
  );
}

/** Every ENI in these subnets, whoever owns it. */
export function enisInSubnets(ctx: CallContext, subnetIds: string[], read: ReadOptions): Promise<EniInfo[]> {
  return inChunks(subnetIds, (ids) => describeEnis(ctx, [{ Name: 'subnet-id', Values: ids }], read));
}

/** These VPCs (their CIDR associations), each with every subnet it holds. */
export async function vpcsWithSubnets(
  ctx: CallContext,
  vpcIds: string[],
  read: ReadOptions,
): Promise<VpcFacts[]> {
  const byVpc = (ids: string[]) => [{ Name: 'vpc-id', Values: ids }];
  const [vpcs, subnets] = await Promise.all([
    inChunks(vpcIds, (ids) => describeVpcs(ctx, { Filters: byVpc(ids) }, read)),
    inChunks(vpcIds, (ids) => describeSubnets(ctx, byVpc(ids), read)),
  ]);
  return vpcs
    .filter((v) => vpcIds.includes(v.vpcId))
    .map((v) => ({ ...v, subnets: subnets.filter((s) => s.vpcId === v.vpcId) }));
}
