import type { AwsEmulator } from '../emulator/server';
import { ipToNumber, numberToIp, parseCidr } from '../emulator/ec2-ip';

/**
 * Seeds the emulator with what loxilb creates on AWS for one cluster (DESIGN.md, "What loxilb
 * creates on AWS"), plus decoys the daemon must never touch, and answers "what is left" afterwards.
 *
 *   VPC 10.0.0.0/16 + IGW, main route table (0.0.0.0/0 → IGW), a primary subnet per node
 *   secondary CIDR association = cloud CIDR (default 123.123.123.0/24)
 *   loxilb subnet = the whole cloud CIDR, in the master's AZ, `loxiType=loxilb-subnet<inst>`
 *   route table `loxiType=loxilb-routetable<inst>` (0.0.0.0/0 → IGW), associated to that subnet
 *   on the master: `enis` ENIs (description `loxilb-eni`, `loxiType=loxilb-eni<inst>`) at device
 *   index 1.., DeleteOnTermination false, each with `vips` secondary IPs, the first `eips` of which
 *   carry a user-allocated EIP (untagged unless `ownedEips`, which adds the release tag) — loxilb's
 *   real shape is ONE such ENI per cluster, on the MASTER (the default)
 *   peer: a second running instance with only its primary ENI; master and peer have private IPs
 *   (`masterPrivateIp` / `peerPrivateIp`, the BFD peers' addresses) and the security group
 *   `securityGroupId` on their primary ENI (loxilb copies it onto the ENI it creates)
 *   decoys: an untagged ENI (description `loxilb-eni`) in the master's primary subnet; an unrelated
 *   EIP (on the peer's primary IP when there is a peer); another cluster's subnet + route table
 *   (`loxilb-subnetother` / `loxilb-routetableother`); an untagged route table. With
 *   `peerLoxilbEni: true` also a tagged loxilb ENI attached to the PEER at device 1 in the peer's
 *   primary subnet — a shape loxilb never leaves (a takeover deletes it), kept only to prove
 *   DESIGN invariant 2 (never detach an ENI attached to another instance).
 *   `spot: true` launches both instances as spot instances (emulator spot requests);
 *   `autoScalingGroup` puts both in that Auto Scaling group (InService).
 *
 * currentFootprint() lists what of this cluster's loxilb footprint exists now, by tag (so also what a
 * takeover created), and where the EIPs are.
 */

export interface LoxilbClusterOptions {
  /** loxilb `--cloudinstance`, appended to the tag values with no separator (default ''). */
  cloudInstance?: string;
  /** Tag key loxilb writes (default `loxiType`). */
  tagKey?: string;
  /** loxilb `--cloudcidrblock` (default 123.123.123.0/24, widened when enis × (1+vips) needs it). */
  cloudCidr?: string;
  vpcCidr?: string;
  /** Master's AZ (default us-east-1a); the peer is in `peerAvailabilityZone` (default us-east-1b). */
  availabilityZone?: string;
  peerAvailabilityZone?: string;
  masterInstanceId?: string;
  peerInstanceId?: string;
  /** A second running instance in the cluster (default true). */
  peer?: boolean;
  /** loxilb ENIs on the master (default 1). */
  enis?: number;
  /** Secondary IPs (VIPs) per ENI (default 4). */
  vips?: number;
  /** EIPs per ENI, associated to its first VIPs (default 4, at most `vips`). */
  eips?: number;
  /** Tag the EIPs with the release tag (default false: user-owned, untagged). */
  ownedEips?: boolean;
  releaseTag?: { key: string; value: string };
  /** Seed the decoys (default true). */
  decoys?: boolean;
  /** Add the decoy tagged loxilb ENI attached to the peer at device 1 (default false; see above). */
  peerLoxilbEni?: boolean;
  /** Launch master and peer as spot instances (default false). */
  spot?: boolean;
  /** Put master and peer in this Auto Scaling group, InService (default: no group). */
  autoScalingGroup?: string;
}

export interface LoxilbEniIds {
  eniId: string;
  attachmentId: string;
  deviceIndex: number;
  /** Secondary private IPs. */
  vips: string[];
  allocationIds: string[];
  publicIps: string[];
  eipAssociationIds: string[];
}

export interface LoxilbDecoyIds {
  untaggedEniId: string;
  peerEniId?: string;
  peerEniAttachmentId?: string;
  unrelatedAllocationId: string;
  unrelatedEipAssociationId?: string;
  otherSubnetId: string;
  otherRouteTableId: string;
  otherRouteTableAssociationId: string;
  untaggedRouteTableId: string;
}

export interface LoxilbClusterIds {
  vpcId: string;
  vpcCidr: string;
  cloudCidr: string;
  cloudInstance: string;
  tagKey: string;
  tags: { subnet: string; routeTable: string; eni: string };
  ownedEips: boolean;
  releaseTag: { key: string; value: string };
  availabilityZone: string;
  primaryCidrAssociationId: string;
  cidrAssociationId: string;
  igwId: string;
  mainRouteTableId: string;
  mainRouteTableAssociationId: string;
  masterSubnetId: string;
  peerSubnetId?: string;
  subnetId: string;
  routeTableId: string;
  routeTableAssociationId: string;
  masterInstanceId: string;
  masterPrimaryEniId: string;
  masterPrivateIp: string;
  peerInstanceId?: string;
  peerPrimaryEniId?: string;
  peerPrivateIp?: string;
  /** On both primary ENIs. */
  securityGroupId: string;
  autoScalingGroup?: string;
  enis: LoxilbEniIds[];
  decoys?: LoxilbDecoyIds;
}

/** The default cloud CIDR, widened (same base) until it holds `needed` addresses plus AWS's 5. */
function defaultCloudCidr(needed: number): string {
  let prefix = 24;
  while (2 ** (32 - prefix) - 5 < needed && prefix > 16) prefix--;
  const base = ipToNumber('123.123.123.0')!;
  const size = 2 ** (32 - prefix);
  return `${numberToIp(base - (base % size))}/${prefix}`;
}

export function seedLoxilbCluster(emulator: AwsEmulator, opts: LoxilbClusterOptions = {}): LoxilbClusterIds {
  const ec2 = emulator.ec2;
  const inst = opts.cloudInstance ?? '';
  const tagKey = opts.tagKey ?? 'loxiType';
  const enis = opts.enis ?? 1;
  const vips = opts.vips ?? 4;
  const eips = Math.min(opts.eips ?? 4, vips);
  const ownedEips = opts.ownedEips ?? false;
  const releaseTag = opts.releaseTag ?? { key: 'teardownd:release', value: 'true' };
  const az = opts.availabilityZone ?? 'us-east-1a';
  const peerAz = opts.peerAvailabilityZone ?? 'us-east-1b';
  const vpcCidr = opts.vpcCidr ?? '10.0.0.0/16';
  const needed = enis * (1 + vips);
  const cloudCidr = opts.cloudCidr ?? defaultCloudCidr(needed);
  const cloud = parseCidr(cloudCidr);
  if (!cloud) throw new Error(`seedLoxilbCluster: cloudCidr ${cloudCidr} is not a valid CIDR`);
  if (cloud.size - 5 < needed)
    throw new Error(
      `seedLoxilbCluster: cloudCidr ${cloudCidr} is too small for ${enis} ENIs × (1 + ${vips}) addresses`,
    );
  const vpcBase = parseCidr(vpcCidr);
  if (!vpcBase || vpcBase.prefix > 20)
    throw new Error(`seedLoxilbCluster: vpcCidr ${vpcCidr} must be a /20 or larger`);
  const vpcSubnet = (third: number) => `${numberToIp(vpcBase.base + third * 256)}/24`;
  const tags = {
    subnet: `loxilb-subnet${inst}`,
    routeTable: `loxilb-routetable${inst}`,
    eni: `loxilb-eni${inst}`,
  };

  const vpc = ec2.createVpc({ cidrBlock: vpcCidr, tags: { Name: 'loxilb-vpc' } });
  const igw = ec2.createInternetGateway({ vpcId: vpc.vpcId, tags: { Name: 'loxilb-igw' } });
  const main = ec2.routeTables().find((t) => t.vpcId === vpc.vpcId && t.associations.some((a) => a.main))!;
  ec2.createRoute(main.routeTableId, { destinationCidrBlock: '0.0.0.0/0', gatewayId: igw.internetGatewayId });

  const masterSubnet = ec2.createSubnet({ vpcId: vpc.vpcId, cidrBlock: vpcSubnet(1), availabilityZone: az });
  const securityGroupId = 'sg-0a1b2c3d4e5f60718';
  const master = ec2.runInstance({
    subnetId: masterSubnet.subnetId,
    instanceId: opts.masterInstanceId,
    tags: { Name: 'loxilb-master' },
    securityGroupIds: [securityGroupId],
    spot: opts.spot,
  });
  let peerSubnetId: string | undefined;
  let peer: { instanceId: string; primaryNetworkInterfaceId: string } | undefined;
  if (opts.peer ?? true) {
    peerSubnetId = ec2.createSubnet({
      vpcId: vpc.vpcId,
      cidrBlock: vpcSubnet(2),
      availabilityZone: peerAz,
    }).subnetId;
    peer = ec2.runInstance({
      subnetId: peerSubnetId,
      instanceId: opts.peerInstanceId,
      tags: { Name: 'loxilb-peer' },
      securityGroupIds: [securityGroupId],
      spot: opts.spot,
    });
  }
  const primaryIp = (eniId: string) => ec2.networkInterfaceById(eniId)!.privateIps[0].privateIpAddress;
  if (opts.autoScalingGroup)
    for (const i of [master, peer])
      if (i) emulator.autoscaling.addInstance(opts.autoScalingGroup, i.instanceId);

  // What loxilb does on becoming MASTER (loxilb pkg/cloud/aws).
  const cidrAssoc = ec2.associateVpcCidr(vpc.vpcId, cloudCidr);
  const subnet = ec2.createSubnet({
    vpcId: vpc.vpcId,
    cidrBlock: cloudCidr,
    availabilityZone: az,
    tags: { [tagKey]: tags.subnet },
  });
  const table = ec2.createRouteTable({
    vpcId: vpc.vpcId,
    tags: { [tagKey]: tags.routeTable },
    routes: [{ destinationCidrBlock: '0.0.0.0/0', gatewayId: igw.internetGatewayId }],
  });
  const tableAssoc = ec2.associateRouteTable(table.routeTableId, subnet.subnetId);
  const eniIds: LoxilbEniIds[] = [];
  for (let n = 0; n < enis; n++) {
    const eni = ec2.createNetworkInterface({
      subnetId: subnet.subnetId,
      description: 'loxilb-eni',
      tags: { [tagKey]: tags.eni },
    });
    const deviceIndex = n + 1;
    const attachmentId = ec2.attachNetworkInterface(eni.networkInterfaceId, master.instanceId, deviceIndex, {
      deleteOnTermination: false,
    });
    const added = ec2.assignPrivateIps(eni.networkInterfaceId, { count: vips });
    const ids: LoxilbEniIds = {
      eniId: eni.networkInterfaceId,
      attachmentId,
      deviceIndex,
      vips: added,
      allocationIds: [],
      publicIps: [],
      eipAssociationIds: [],
    };
    for (const vip of added.slice(0, eips)) {
      const address = ec2.allocateAddress({ tags: ownedEips ? { [releaseTag.key]: releaseTag.value } : {} });
      ids.allocationIds.push(address.allocationId);
      ids.publicIps.push(address.publicIp);
      ids.eipAssociationIds.push(
        ec2.associateAddress({
          allocationId: address.allocationId,
          networkInterfaceId: eni.networkInterfaceId,
          privateIpAddress: vip,
        }),
      );
    }
    eniIds.push(ids);
  }

  const ids: LoxilbClusterIds = {
    vpcId: vpc.vpcId,
    vpcCidr,
    cloudCidr,
    cloudInstance: inst,
    tagKey,
    tags,
    ownedEips,
    releaseTag,
    availabilityZone: az,
    primaryCidrAssociationId: vpc.cidrAssociations[0].associationId,
    cidrAssociationId: cidrAssoc.associationId,
    igwId: igw.internetGatewayId,
    mainRouteTableId: main.routeTableId,
    mainRouteTableAssociationId: main.associations.find((a) => a.main)!.associationId,
    masterSubnetId: masterSubnet.subnetId,
    peerSubnetId,
    subnetId: subnet.subnetId,
    routeTableId: table.routeTableId,
    routeTableAssociationId: tableAssoc,
    masterInstanceId: master.instanceId,
    masterPrimaryEniId: master.primaryNetworkInterfaceId,
    masterPrivateIp: primaryIp(master.primaryNetworkInterfaceId),
    peerInstanceId: peer?.instanceId,
    peerPrimaryEniId: peer?.primaryNetworkInterfaceId,
    peerPrivateIp: peer && primaryIp(peer.primaryNetworkInterfaceId),
    securityGroupId,
    autoScalingGroup: opts.autoScalingGroup,
    enis: eniIds,
  };
  if (opts.decoys ?? true)
    ids.decoys = seedDecoys(
      emulator,
      ids,
      opts.peerLoxilbEni ? peerSubnetId : undefined,
      vpcSubnet(vpcBase.size / 256 - 1),
    );
  return ids;
}

function seedDecoys(
  emulator: AwsEmulator,
  ids: LoxilbClusterIds,
  /** Where to put the decoy loxilb ENI attached to the peer; undefined = no such decoy. */
  peerSubnetId: string | undefined,
  otherCidr: string,
): LoxilbDecoyIds {
  const ec2 = emulator.ec2;
  const { tagKey } = ids;
  const untagged = ec2.createNetworkInterface({ subnetId: ids.masterSubnetId, description: 'loxilb-eni' });
  let peerEniId: string | undefined;
  let peerEniAttachmentId: string | undefined;
  if (ids.peerInstanceId && peerSubnetId) {
    peerEniId = ec2.createNetworkInterface({
      subnetId: peerSubnetId,
      description: 'loxilb-eni',
      tags: { [tagKey]: ids.tags.eni },
      secondaryPrivateIpAddressCount: 1,
    }).networkInterfaceId;
    peerEniAttachmentId = ec2.attachNetworkInterface(peerEniId, ids.peerInstanceId, 1);
  }
  const unrelated = ec2.allocateAddress({ tags: { Name: 'unrelated' } });
  const unrelatedEipAssociationId = ids.peerPrimaryEniId
    ? ec2.associateAddress({ allocationId: unrelated.allocationId, networkInterfaceId: ids.peerPrimaryEniId })
    : undefined;
  const otherSuffix = ids.cloudInstance === 'other' ? 'other2' : 'other';
  const otherSubnet = ec2.createSubnet({
    vpcId: ids.vpcId,
    cidrBlock: otherCidr,
    availabilityZone: ids.availabilityZone,
    tags: { [tagKey]: `loxilb-subnet${otherSuffix}` },
  });
  const otherTable = ec2.createRouteTable({
    vpcId: ids.vpcId,
    tags: { [tagKey]: `loxilb-routetable${otherSuffix}` },
    routes: [{ destinationCidrBlock: '0.0.0.0/0', gatewayId: ids.igwId }],
  });
  const otherAssoc = ec2.associateRouteTable(otherTable.routeTableId, otherSubnet.subnetId);
  const untaggedTable = ec2.createRouteTable({
    vpcId: ids.vpcId,
    routes: [{ destinationCidrBlock: '0.0.0.0/0', gatewayId: ids.igwId }],
  });
  return {
    untaggedEniId: untagged.networkInterfaceId,
    peerEniId,
    peerEniAttachmentId,
    unrelatedAllocationId: unrelated.allocationId,
    unrelatedEipAssociationId,
    otherSubnetId: otherSubnet.subnetId,
    otherRouteTableId: otherTable.routeTableId,
    otherRouteTableAssociationId: otherAssoc,
    untaggedRouteTableId: untaggedTable.routeTableId,
  };
}

export type LeftoverKind =
  | 'eip-association'
  | 'address'
  | 'eni'
  | 'route-table-association'
  | 'route-table'
  | 'subnet'
  | 'cidr-association';

export interface Leftover {
  kind: LeftoverKind;
  id: string;
  detail?: string;
}

/**
 * The cluster's loxilb resources that still exist, in teardown order. A CIDR association that is
 * `disassociating` is on its way out and not reported; a `detaching` ENI is. EIPs themselves are
 * the user's and only reported when they were seeded as owned (`ownedEips`).
 */
export function leftovers(emulator: AwsEmulator, ids: LoxilbClusterIds): Leftover[] {
  const ec2 = emulator.ec2;
  const out: Leftover[] = [];
  for (const eni of ids.enis) {
    for (const allocationId of eni.allocationIds) {
      const a = ec2.addressById(allocationId);
      if (a?.association?.networkInterfaceId === eni.eniId)
        out.push({
          kind: 'eip-association',
          id: a.association.associationId,
          detail: `${a.publicIp} → ${a.association.privateIpAddress}`,
        });
      if (a && ids.ownedEips) out.push({ kind: 'address', id: allocationId, detail: a.publicIp });
    }
  }
  for (const eni of ids.enis) {
    const rec = ec2.networkInterfaceById(eni.eniId);
    if (rec)
      out.push({
        kind: 'eni',
        id: eni.eniId,
        detail: `${rec.status}${rec.attachment ? ` attached to ${rec.attachment.instanceId}#${rec.attachment.deviceIndex}` : ''}`,
      });
  }
  const table = ec2.routeTableById(ids.routeTableId);
  for (const a of table?.associations ?? [])
    out.push({ kind: 'route-table-association', id: a.associationId, detail: a.subnetId });
  if (table) out.push({ kind: 'route-table', id: ids.routeTableId });
  if (ec2.subnetById(ids.subnetId)) out.push({ kind: 'subnet', id: ids.subnetId });
  const assoc = ec2
    .vpcById(ids.vpcId)
    ?.cidrAssociations.find((a) => a.associationId === ids.cidrAssociationId);
  if (assoc && assoc.state === 'associated')
    out.push({ kind: 'cidr-association', id: ids.cidrAssociationId, detail: assoc.cidrBlock });
  return out;
}

/**
 * What must survive any teardown of this cluster: the decoys, the peer and its ENIs, the master's
 * primary ENI, the VPC's primary CIDR, IGW and main route table. Returns the problems found
 * (empty = intact).
 */
export function decoysIntact(emulator: AwsEmulator, ids: LoxilbClusterIds): string[] {
  const ec2 = emulator.ec2;
  const problems: string[] = [];
  const expectAttached = (
    eniId: string | undefined,
    instanceId: string | undefined,
    deviceIndex: number,
    what: string,
  ) => {
    if (!eniId || !instanceId) return;
    const eni = ec2.networkInterfaceById(eniId);
    if (!eni) problems.push(`${what} ${eniId} was deleted`);
    else if (
      eni.attachment?.instanceId !== instanceId ||
      eni.attachment.deviceIndex !== deviceIndex ||
      eni.attachment.status !== 'attached'
    )
      problems.push(
        `${what} ${eniId} is no longer attached to ${instanceId} at device ${deviceIndex} (${eni.status})`,
      );
  };
  expectAttached(ids.masterPrimaryEniId, ids.masterInstanceId, 0, "master's primary ENI");
  expectAttached(ids.peerPrimaryEniId, ids.peerInstanceId, 0, "peer's primary ENI");
  const vpc = ec2.vpcById(ids.vpcId);
  const primary = vpc?.cidrAssociations.find((a) => a.associationId === ids.primaryCidrAssociationId);
  if (primary?.state !== 'associated')
    problems.push(`primary CIDR association ${ids.primaryCidrAssociationId} is gone`);
  if (!ec2.internetGateways().some((g) => g.internetGatewayId === ids.igwId && g.vpcId === ids.vpcId))
    problems.push(`internet gateway ${ids.igwId} is gone or detached`);
  const main = ec2.routeTableById(ids.mainRouteTableId);
  if (!main?.associations.some((a) => a.associationId === ids.mainRouteTableAssociationId))
    problems.push(`main route table ${ids.mainRouteTableId} or its main association is gone`);
  if (ids.peerInstanceId && ec2.instanceById(ids.peerInstanceId)?.state !== 'running')
    problems.push(`peer instance ${ids.peerInstanceId} is not running`);

  const d = ids.decoys;
  if (!d) return problems;
  const untagged = ec2.networkInterfaceById(d.untaggedEniId);
  if (!untagged) problems.push(`untagged ENI ${d.untaggedEniId} was deleted`);
  else if (Object.keys(untagged.tags).length > 0) problems.push(`untagged ENI ${d.untaggedEniId} got tags`);
  expectAttached(d.peerEniId, ids.peerInstanceId, 1, "peer's loxilb ENI");
  if (d.peerEniId) {
    const eni = ec2.networkInterfaceById(d.peerEniId);
    if (eni && eni.privateIps.length !== 2)
      problems.push(`peer's loxilb ENI ${d.peerEniId} lost its secondary IP`);
  }
  const unrelated = ec2.addressById(d.unrelatedAllocationId);
  if (!unrelated) problems.push(`unrelated EIP ${d.unrelatedAllocationId} was released`);
  else if (
    d.unrelatedEipAssociationId &&
    unrelated.association?.associationId !== d.unrelatedEipAssociationId
  )
    problems.push(`unrelated EIP ${d.unrelatedAllocationId} was disassociated`);
  if (!ec2.subnetById(d.otherSubnetId))
    problems.push(`other cluster's subnet ${d.otherSubnetId} was deleted`);
  const other = ec2.routeTableById(d.otherRouteTableId);
  if (!other) problems.push(`other cluster's route table ${d.otherRouteTableId} was deleted`);
  else if (!other.associations.some((a) => a.associationId === d.otherRouteTableAssociationId))
    problems.push(`other cluster's route table association ${d.otherRouteTableAssociationId} was removed`);
  if (!ec2.routeTableById(d.untaggedRouteTableId))
    problems.push(`untagged route table ${d.untaggedRouteTableId} was deleted`);
  return problems;
}

export interface FootprintNow {
  /** Tagged `loxilb-eni<inst>` ENIs: id, status and where attached. */
  enis: { eniId: string; status: string; instanceId?: string; deviceIndex?: number; privateIps: string[] }[];
  subnetIds: string[];
  routeTableIds: string[];
  /** The cloud CIDR's association in the cluster's VPC, unless gone (`disassociating` counts as gone). */
  cidrAssociationId?: string;
  /** The seeded EIPs: where each is associated now (undefined = not associated). */
  eips: { allocationId: string; publicIp: string; eniId?: string; privateIp?: string; instanceId?: string }[];
}

/** This cluster's loxilb footprint as it is now, found by tag value like loxilb finds it. */
export function currentFootprint(emulator: AwsEmulator, ids: LoxilbClusterIds): FootprintNow {
  const ec2 = emulator.ec2;
  const tagged = (tags: Record<string, string>, value: string) => tags[ids.tagKey] === value;
  const cidr = ec2
    .vpcById(ids.vpcId)
    ?.cidrAssociations.find((a) => a.cidrBlock === ids.cloudCidr && a.state === 'associated');
  return {
    enis: ec2
      .networkInterfaces()
      .filter((e) => tagged(e.tags, ids.tags.eni))
      .map((e) => ({
        eniId: e.networkInterfaceId,
        status: e.status,
        instanceId: e.attachment?.instanceId,
        deviceIndex: e.attachment?.deviceIndex,
        privateIps: e.privateIps.map((p) => p.privateIpAddress),
      })),
    subnetIds: ec2
      .subnets()
      .filter((x) => tagged(x.tags, ids.tags.subnet))
      .map((x) => x.subnetId),
    routeTableIds: ec2
      .routeTables()
      .filter((t) => tagged(t.tags, ids.tags.routeTable))
      .map((t) => t.routeTableId),
    cidrAssociationId: cidr?.associationId,
    eips: ids.enis.flatMap((e) =>
      e.allocationIds.map((allocationId) => {
        const a = ec2.addressById(allocationId);
        return {
          allocationId,
          publicIp: a?.publicIp ?? '',
          eniId: a?.association?.networkInterfaceId,
          privateIp: a?.association?.privateIpAddress,
          instanceId: a?.instanceId,
        };
      }),
    ),
  };
}
