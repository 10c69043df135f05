import { checkIdFormat, Ec2Kind, notFound } from './ec2-errors';
import { applyFilters, FilterSpec } from './ec2-filters';
import {
  AddressView,
  INSTANCE_STATE_CODES,
  InstanceRecord,
  InternetGatewayRecord,
  NetworkInterfaceRecord,
  RouteTableRecord,
  SpotRequestRecord,
  SubnetRecord,
  VpcRecord,
} from './ec2-records';
import { Ec2State, OWNER_ID, REGION } from './ec2-state';
import { Ec2Params, paginate } from './ec2-wire';
import {
  addressXml,
  el,
  instanceXml,
  internetGatewayXml,
  networkInterfaceXml,
  routeTableXml,
  set,
  spotRequestXml,
  subnetXml,
  vpcXml,
} from './ec2-xml';
import { EmulatorError } from './types';

/** The Describe* actions: id lists (unknown id → NotFound), filters, pagination. */

function selectByIds<T>(all: T[], idOf: (t: T) => string, ids: string[], kind: Ec2Kind): T[] {
  if (ids.length === 0) return all;
  for (const id of ids) checkIdFormat(kind, id);
  const have = new Set(all.map(idOf));
  const missing = [...new Set(ids.filter((id) => !have.has(id)))];
  if (missing.length > 0) throw notFound(kind, missing);
  const wanted = new Set(ids);
  return all.filter((t) => wanted.has(idOf(t)));
}

const tagsOf = (r: { tags: Record<string, string> }) => r.tags;

function eniFilters(state: Ec2State): FilterSpec<NetworkInterfaceRecord> {
  const eips = (e: NetworkInterfaceRecord) => state.addressesOn(e.networkInterfaceId);
  const ips = (e: NetworkInterfaceRecord) => e.privateIps.map((p) => p.privateIpAddress);
  return {
    'network-interface-id': (e) => e.networkInterfaceId,
    'subnet-id': (e) => e.subnetId,
    'vpc-id': (e) => e.vpcId,
    'availability-zone': (e) => e.availabilityZone,
    description: (e) => e.description,
    status: (e) => e.status,
    'requester-managed': (e) => e.requesterManaged,
    'interface-type': (e) => e.interfaceType,
    'mac-address': (e) => e.macAddress,
    'owner-id': () => OWNER_ID,
    'source-dest-check': (e) => e.sourceDestCheck,
    'private-ip-address': ips,
    'addresses.private-ip-address': ips,
    'addresses.primary': (e) => e.privateIps.map((p) => p.primary),
    'addresses.association.public-ip': (e) => eips(e).map((a) => a.publicIp),
    'addresses.association.owner-id': (e) => eips(e).map(() => OWNER_ID),
    'attachment.attachment-id': (e) => e.attachment?.attachmentId,
    'attachment.instance-id': (e) => e.attachment?.instanceId,
    'attachment.instance-owner-id': (e) => (e.attachment ? OWNER_ID : undefined),
    'attachment.device-index': (e) => e.attachment?.deviceIndex,
    'attachment.status': (e) => e.attachment?.status,
    'attachment.delete-on-termination': (e) => e.attachment?.deleteOnTermination,
    'association.allocation-id': (e) => eips(e).map((a) => a.allocationId),
    'association.association-id': (e) => eips(e).map((a) => a.association!.associationId),
    'association.public-ip': (e) => eips(e).map((a) => a.publicIp),
    'association.ip-owner-id': (e) => eips(e).map(() => OWNER_ID),
    'group-id': (e) => e.groups.map((g) => g.groupId),
    'group-name': (e) => e.groups.map((g) => g.groupName),
  };
}

const addressFilters: FilterSpec<AddressView> = {
  'allocation-id': (a) => a.allocationId,
  'association-id': (a) => a.association?.associationId,
  domain: (a) => a.domain,
  'instance-id': (a) => a.instanceId,
  'network-interface-id': (a) => a.association?.networkInterfaceId,
  'network-interface-owner-id': (a) => (a.association ? OWNER_ID : undefined),
  'private-ip-address': (a) => a.association?.privateIpAddress,
  'public-ip': (a) => a.publicIp,
  'network-border-group': () => REGION,
};

function subnetFilters(state: Ec2State): FilterSpec<SubnetRecord> {
  return {
    'subnet-id': (s) => s.subnetId,
    'vpc-id': (s) => s.vpcId,
    'cidr-block': (s) => s.cidrBlock,
    cidr: (s) => s.cidrBlock,
    cidrBlock: (s) => s.cidrBlock,
    'availability-zone': (s) => s.availabilityZone,
    availabilityZone: (s) => s.availabilityZone,
    state: (s) => s.state,
    'default-for-az': () => false,
    defaultForAz: () => false,
    'map-public-ip-on-launch': () => false,
    'owner-id': () => OWNER_ID,
    'subnet-arn': (s) => `arn:aws:ec2:${REGION}:${OWNER_ID}:subnet/${s.subnetId}`,
    'available-ip-address-count': (s) => state.availableIpAddressCount(s.subnetId),
  };
}

function routeTableFilters(state: Ec2State): FilterSpec<RouteTableRecord> {
  const routes = (t: RouteTableRecord) => state.effectiveRoutes(t);
  return {
    'route-table-id': (t) => t.routeTableId,
    'vpc-id': (t) => t.vpcId,
    'owner-id': () => OWNER_ID,
    'association.route-table-association-id': (t) => t.associations.map((a) => a.associationId),
    'association.route-table-id': (t) => t.associations.map((a) => a.routeTableId),
    'association.subnet-id': (t) => t.associations.map((a) => a.subnetId),
    'association.gateway-id': () => [],
    'association.main': (t) => t.associations.map((a) => a.main),
    'route.destination-cidr-block': (t) => routes(t).map((r) => r.destinationCidrBlock),
    'route.gateway-id': (t) => routes(t).map((r) => r.gatewayId),
    'route.instance-id': (t) => routes(t).map((r) => r.instanceId),
    'route.network-interface-id': (t) => routes(t).map((r) => r.networkInterfaceId),
    'route.origin': (t) => routes(t).map((r) => r.origin),
    'route.state': (t) => routes(t).map((r) => r.state),
  };
}

const vpcFilters: FilterSpec<VpcRecord> = {
  'vpc-id': (v) => v.vpcId,
  cidr: (v) => v.cidrBlock,
  'cidr-block-association.cidr-block': (v) => v.cidrAssociations.map((a) => a.cidrBlock),
  'cidr-block-association.association-id': (v) => v.cidrAssociations.map((a) => a.associationId),
  'cidr-block-association.state': (v) => v.cidrAssociations.map((a) => a.state),
  state: (v) => v.state,
  'is-default': (v) => v.isDefault,
  'owner-id': () => OWNER_ID,
  'dhcp-options-id': (v) => v.dhcpOptionsId,
};

function instanceFilters(state: Ec2State): FilterSpec<InstanceRecord> {
  const enis = (i: InstanceRecord) => state.enisOf(i.instanceId);
  return {
    'instance-id': (i) => i.instanceId,
    'instance-state-name': (i) => i.state,
    'instance-state-code': (i) => INSTANCE_STATE_CODES[i.state],
    'subnet-id': (i) => (i.state === 'terminated' ? undefined : i.subnetId),
    'vpc-id': (i) => (i.state === 'terminated' ? undefined : i.vpcId),
    'availability-zone': (i) => i.availabilityZone,
    'image-id': (i) => i.imageId,
    'instance-type': (i) => i.instanceType,
    'reservation-id': (i) => i.reservationId,
    'owner-id': () => OWNER_ID,
    'private-ip-address': (i) =>
      enis(i).find((e) => e.attachment?.deviceIndex === 0)?.privateIps[0]?.privateIpAddress,
    'network-interface.network-interface-id': (i) => enis(i).map((e) => e.networkInterfaceId),
    'network-interface.subnet-id': (i) => enis(i).map((e) => e.subnetId),
    'network-interface.vpc-id': (i) => enis(i).map((e) => e.vpcId),
    'network-interface.status': (i) => enis(i).map((e) => e.status),
    'network-interface.description': (i) => enis(i).map((e) => e.description),
    'network-interface.attachment.attachment-id': (i) => enis(i).map((e) => e.attachment!.attachmentId),
    'network-interface.attachment.device-index': (i) => enis(i).map((e) => e.attachment!.deviceIndex),
    'network-interface.attachment.status': (i) => enis(i).map((e) => e.attachment!.status),
    'network-interface.addresses.private-ip-address': (i) =>
      enis(i).flatMap((e) => e.privateIps.map((p) => p.privateIpAddress)),
  };
}

const igwFilters: FilterSpec<InternetGatewayRecord> = {
  'internet-gateway-id': (g) => g.internetGatewayId,
  'attachment.vpc-id': (g) => g.vpcId,
  'attachment.state': (g) => (g.vpcId ? 'available' : undefined),
  'owner-id': () => OWNER_ID,
};

export function describeNetworkInterfaces(state: Ec2State, p: Ec2Params): string {
  const ids = p.list('NetworkInterfaceId');
  const selected = selectByIds(
    state.networkInterfaces(),
    (e) => e.networkInterfaceId,
    ids,
    'networkInterface',
  );
  const filtered = applyFilters(selected, p.filters(), eniFilters(state), tagsOf);
  const { page, nextToken } = paginate(filtered, (e) => state.creationOrder(e.networkInterfaceId), p, {
    action: 'DescribeNetworkInterfaces',
    max: 1000,
    idsParam: 'networkInterfaceIdSet',
    idsGiven: ids.length > 0,
  });
  return set('networkInterfaceSet', page, (e) => networkInterfaceXml(state, e)) + el('nextToken', nextToken);
}

export function describeAddresses(state: Ec2State, p: Ec2Params): string {
  const ids = p.list('AllocationId');
  const publicIps = p.list('PublicIp');
  let selected = selectByIds(state.addresses(), (a) => a.allocationId, ids, 'allocation');
  if (publicIps.length > 0) {
    const missing = publicIps.filter((ip) => !selected.some((a) => a.publicIp === ip));
    if (missing.length > 0)
      throw new EmulatorError('InvalidAddress.NotFound', `Address '${missing[0]}' not found.`);
    selected = selected.filter((a) => publicIps.includes(a.publicIp));
  }
  // DescribeAddresses does not paginate.
  const filtered = applyFilters(selected, p.filters(), addressFilters, tagsOf);
  return set('addressesSet', filtered, (a) => addressXml(state, a));
}

export function describeSubnets(state: Ec2State, p: Ec2Params): string {
  const ids = p.list('SubnetId');
  const selected = selectByIds(state.subnets(), (s) => s.subnetId, ids, 'subnet');
  const filtered = applyFilters(selected, p.filters(), subnetFilters(state), tagsOf);
  const { page, nextToken } = paginate(filtered, (s) => state.creationOrder(s.subnetId), p, {
    action: 'DescribeSubnets',
    max: 1000,
  });
  return set('subnetSet', page, (s) => subnetXml(state, s)) + el('nextToken', nextToken);
}

export function describeRouteTables(state: Ec2State, p: Ec2Params): string {
  const ids = p.list('RouteTableId');
  const selected = selectByIds(state.routeTables(), (t) => t.routeTableId, ids, 'routeTable');
  const filtered = applyFilters(selected, p.filters(), routeTableFilters(state), tagsOf);
  const { page, nextToken } = paginate(filtered, (t) => state.creationOrder(t.routeTableId), p, {
    action: 'DescribeRouteTables',
    max: 100,
  });
  return set('routeTableSet', page, (t) => routeTableXml(state, t)) + el('nextToken', nextToken);
}

export function describeVpcs(state: Ec2State, p: Ec2Params): string {
  const ids = p.list('VpcId');
  const selected = selectByIds(state.vpcs(), (v) => v.vpcId, ids, 'vpc');
  const filtered = applyFilters(selected, p.filters(), vpcFilters, tagsOf);
  const { page, nextToken } = paginate(filtered, (v) => state.creationOrder(v.vpcId), p, {
    action: 'DescribeVpcs',
    max: 1000,
  });
  return set('vpcSet', page, vpcXml) + el('nextToken', nextToken);
}

export function describeInternetGateways(state: Ec2State, p: Ec2Params): string {
  const ids = p.list('InternetGatewayId');
  const selected = selectByIds(state.internetGateways(), (g) => g.internetGatewayId, ids, 'internetGateway');
  const filtered = applyFilters(selected, p.filters(), igwFilters, tagsOf);
  const { page, nextToken } = paginate(filtered, (g) => state.creationOrder(g.internetGatewayId), p, {
    action: 'DescribeInternetGateways',
    max: 1000,
  });
  return set('internetGatewaySet', page, internetGatewayXml) + el('nextToken', nextToken);
}

export function describeInstances(state: Ec2State, p: Ec2Params): string {
  const ids = p.list('InstanceId');
  const selected = selectByIds(state.instances(), (i) => i.instanceId, ids, 'instance');
  const filtered = applyFilters(selected, p.filters(), instanceFilters(state), tagsOf);
  const { page, nextToken } = paginate(filtered, (i) => state.creationOrder(i.instanceId), p, {
    action: 'DescribeInstances',
    max: 1000,
    idsParam: 'instancesSet',
    idsGiven: ids.length > 0,
  });
  return reservationSetXml(state, page) + el('nextToken', nextToken);
}

export function reservationXml(state: Ec2State, reservationId: string, instances: InstanceRecord[]): string {
  return (
    el('reservationId', reservationId) +
    el('ownerId', OWNER_ID) +
    set('groupSet', [], () => '') +
    set('instancesSet', instances, (i) => instanceXml(state, i))
  );
}

function reservationSetXml(state: Ec2State, instances: InstanceRecord[]): string {
  const groups = new Map<string, InstanceRecord[]>();
  for (const i of instances) groups.set(i.reservationId, [...(groups.get(i.reservationId) ?? []), i]);
  return set('reservationSet', [...groups], ([rid, list]) => reservationXml(state, rid, list));
}

const spotFilters: FilterSpec<SpotRequestRecord> = {
  'spot-instance-request-id': (r) => r.spotInstanceRequestId,
  'instance-id': (r) => r.instanceId,
  state: (r) => r.state,
  'status-code': (r) => r.statusCode,
  'status-message': (r) => r.statusMessage,
  type: () => 'one-time',
  'launched-availability-zone': (r) => r.availabilityZone,
  'launch.instance-type': (r) => r.instanceType,
  'product-description': () => 'Linux/UNIX',
  'instance-interruption-behavior': () => 'terminate',
};

export function describeSpotInstanceRequests(state: Ec2State, p: Ec2Params): string {
  const ids = p.list('SpotInstanceRequestId');
  const selected = selectByIds(state.spotRequests(), (r) => r.spotInstanceRequestId, ids, 'spotRequest');
  const filtered = applyFilters(selected, p.filters(), spotFilters, tagsOf);
  const { page, nextToken } = paginate(filtered, (r) => state.creationOrder(r.spotInstanceRequestId), p, {
    action: 'DescribeSpotInstanceRequests',
    max: 1000,
  });
  return set('spotInstanceRequestSet', page, spotRequestXml) + el('nextToken', nextToken);
}
