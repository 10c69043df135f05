import {
  AddressRecord,
  CidrAssociationRecord,
  INSTANCE_STATE_CODES,
  InstanceRecord,
  InstanceStateName,
  InternetGatewayRecord,
  NetworkInterfaceRecord,
  RouteTableAssociationRecord,
  RouteTableRecord,
  SecurityGroupRef,
  SpotRequestRecord,
  SubnetRecord,
  Tags,
  VpcRecord,
} from './ec2-records';
import type { Ec2State } from './ec2-state';
import { OWNER_ID, REGION } from './ec2-state';
import { xmlEscape } from './render';
import { EmulatorResponse } from './types';

/**
 * EC2 Query responses. Element names follow the SDK's ec2Query schema (`xmlName` of each member,
 * list items as `<item>`), checked by round trips through the real EC2Client.
 */

type Scalar = string | number | boolean | undefined;

export function el(name: string, value: Scalar): string {
  if (value === undefined) return '';
  return `<${name}>${xmlEscape(String(value))}</${name}>`;
}

export function set<T>(name: string, items: T[], render: (item: T) => string): string {
  return `<${name}>${items.map((i) => `<item>${render(i)}</item>`).join('')}</${name}>`;
}

export function time(ms: number): string {
  return new Date(ms).toISOString();
}

export function tagSet(tags: Tags): string {
  return set('tagSet', Object.entries(tags), ([k, v]) => el('key', k) + el('value', v));
}

export function ec2Response(action: string, requestId: string, inner: string): EmulatorResponse {
  return {
    status: 200,
    headers: { 'content-type': 'text/xml;charset=UTF-8' },
    body: `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">${el('requestId', requestId)}${inner}</${action}Response>`,
  };
}

/** `us-east-1a` → `use1-az1` (a stable, plausible zone id). */
function azId(az: string): string {
  return `use1-az${az.charCodeAt(az.length - 1) - 96}`;
}

export function cidrAssociationXml(a: CidrAssociationRecord): string {
  return (
    el('associationId', a.associationId) +
    el('cidrBlock', a.cidrBlock) +
    `<cidrBlockState>${el('state', a.state)}</cidrBlockState>`
  );
}

export function vpcXml(v: VpcRecord): string {
  return (
    el('vpcId', v.vpcId) +
    el('ownerId', OWNER_ID) +
    el('state', v.state) +
    el('cidrBlock', v.cidrBlock) +
    set('cidrBlockAssociationSet', v.cidrAssociations, cidrAssociationXml) +
    el('dhcpOptionsId', v.dhcpOptionsId) +
    tagSet(v.tags) +
    el('instanceTenancy', 'default') +
    el('isDefault', v.isDefault)
  );
}

export function internetGatewayXml(g: InternetGatewayRecord): string {
  return (
    el('internetGatewayId', g.internetGatewayId) +
    el('ownerId', OWNER_ID) +
    set('attachmentSet', g.vpcId ? [g.vpcId] : [], (vpcId) => el('vpcId', vpcId) + el('state', 'available')) +
    tagSet(g.tags)
  );
}

export function subnetXml(state: Ec2State, s: SubnetRecord): string {
  return (
    el('subnetId', s.subnetId) +
    el('subnetArn', `arn:aws:ec2:${REGION}:${OWNER_ID}:subnet/${s.subnetId}`) +
    el('state', s.state) +
    el('ownerId', OWNER_ID) +
    el('vpcId', s.vpcId) +
    el('cidrBlock', s.cidrBlock) +
    set('ipv6CidrBlockAssociationSet', [], () => '') +
    el('availableIpAddressCount', state.availableIpAddressCount(s.subnetId)) +
    el('availabilityZone', s.availabilityZone) +
    el('availabilityZoneId', azId(s.availabilityZone)) +
    el('defaultForAz', false) +
    el('mapPublicIpOnLaunch', false) +
    el('assignIpv6AddressOnCreation', false) +
    tagSet(s.tags)
  );
}

export function routeTableAssociationXml(a: RouteTableAssociationRecord): string {
  return (
    el('routeTableAssociationId', a.associationId) +
    el('routeTableId', a.routeTableId) +
    el('subnetId', a.subnetId) +
    el('main', a.main) +
    `<associationState>${el('state', a.state)}</associationState>`
  );
}

export function routeTableXml(state: Ec2State, t: RouteTableRecord): string {
  const routes = state.effectiveRoutes(t);
  return (
    el('routeTableId', t.routeTableId) +
    el('vpcId', t.vpcId) +
    el('ownerId', OWNER_ID) +
    set(
      'routeSet',
      routes,
      (r) =>
        el('destinationCidrBlock', r.destinationCidrBlock) +
        el('gatewayId', r.gatewayId) +
        el('networkInterfaceId', r.networkInterfaceId) +
        el('instanceId', r.instanceId) +
        el('state', r.state) +
        el('origin', r.origin),
    ) +
    set('associationSet', t.associations, routeTableAssociationXml) +
    set('propagatingVgwSet', [], () => '') +
    tagSet(t.tags)
  );
}

function eipAssociationXml(a: AddressRecord | undefined, includeIds: boolean): string {
  if (!a?.association) return '';
  return `<association>${
    el('publicIp', a.publicIp) +
    el('publicDnsName', `ec2-${a.publicIp.replace(/\./g, '-')}.compute-1.amazonaws.com`) +
    el('ipOwnerId', OWNER_ID) +
    (includeIds ? el('allocationId', a.allocationId) + el('associationId', a.association.associationId) : '')
  }</association>`;
}

function privateDnsName(ip: string): string {
  return `ip-${ip.replace(/\./g, '-')}.ec2.internal`;
}

export function networkInterfaceXml(state: Ec2State, e: NetworkInterfaceRecord): string {
  const primaryIp = e.privateIps[0]?.privateIpAddress;
  const att = e.attachment;
  return (
    el('networkInterfaceId', e.networkInterfaceId) +
    el('subnetId', e.subnetId) +
    el('vpcId', e.vpcId) +
    el('availabilityZone', e.availabilityZone) +
    el('availabilityZoneId', azId(e.availabilityZone)) +
    el('description', e.description) +
    el('ownerId', OWNER_ID) +
    (e.requesterManaged ? el('requesterId', 'amazon-elb') : '') +
    el('requesterManaged', e.requesterManaged) +
    el('status', e.status) +
    el('macAddress', e.macAddress) +
    el('privateIpAddress', primaryIp) +
    el('privateDnsName', primaryIp && privateDnsName(primaryIp)) +
    el('sourceDestCheck', e.sourceDestCheck) +
    el('interfaceType', e.interfaceType) +
    groupSetXml(e.groups) +
    (att
      ? `<attachment>${
          el('attachmentId', att.attachmentId) +
          el('instanceId', att.instanceId) +
          el('instanceOwnerId', OWNER_ID) +
          el('deviceIndex', att.deviceIndex) +
          el('networkCardIndex', 0) +
          el('status', att.status) +
          el('attachTime', time(att.attachTime)) +
          el('deleteOnTermination', att.deleteOnTermination)
        }</attachment>`
      : '') +
    eipAssociationXml(primaryIp ? state.addressOn(e.networkInterfaceId, primaryIp) : undefined, true) +
    tagSet(e.tags) +
    set(
      'privateIpAddressesSet',
      e.privateIps,
      (p) =>
        el('privateIpAddress', p.privateIpAddress) +
        el('privateDnsName', privateDnsName(p.privateIpAddress)) +
        el('primary', p.primary) +
        eipAssociationXml(state.addressOn(e.networkInterfaceId, p.privateIpAddress), true),
    ) +
    set('ipv6AddressesSet', [], () => '')
  );
}

export function addressXml(state: Ec2State, a: AddressRecord): string {
  const view = state.addressById(a.allocationId);
  return (
    el('publicIp', a.publicIp) +
    el('allocationId', a.allocationId) +
    el('domain', a.domain) +
    el('associationId', a.association?.associationId) +
    el('networkInterfaceId', a.association?.networkInterfaceId) +
    el('networkInterfaceOwnerId', a.association ? OWNER_ID : undefined) +
    el('privateIpAddress', a.association?.privateIpAddress) +
    el('instanceId', view?.instanceId) +
    el('publicIpv4Pool', 'amazon') +
    el('networkBorderGroup', REGION) +
    tagSet(a.tags)
  );
}

export function instanceStateXml(name: string, s: InstanceStateName): string {
  return `<${name}>${el('code', INSTANCE_STATE_CODES[s]) + el('name', s)}</${name}>`;
}

export function instanceXml(state: Ec2State, i: InstanceRecord): string {
  const enis = state.enisOf(i.instanceId);
  const primary = enis.find((e) => e.attachment?.deviceIndex === 0);
  const primaryIp = primary?.privateIps[0]?.privateIpAddress;
  const publicAddress = primaryIp ? state.addressOn(primary!.networkInterfaceId, primaryIp) : undefined;
  return (
    el('instanceId', i.instanceId) +
    el('imageId', i.imageId) +
    instanceStateXml('instanceState', i.state) +
    el('privateDnsName', primaryIp && privateDnsName(primaryIp)) +
    el('dnsName', '') +
    el('reason', i.state === 'terminated' ? 'User initiated' : '') +
    el('amiLaunchIndex', 0) +
    el('instanceType', i.instanceType) +
    el('launchTime', time(i.launchTime)) +
    `<placement>${el('availabilityZone', i.availabilityZone) + el('availabilityZoneId', azId(i.availabilityZone)) + el('tenancy', 'default')}</placement>` +
    `<monitoring>${el('state', 'disabled')}</monitoring>` +
    (i.state === 'terminated' ? '' : el('subnetId', i.subnetId) + el('vpcId', i.vpcId)) +
    el('privateIpAddress', i.state === 'terminated' ? undefined : primaryIp) +
    el('ipAddress', publicAddress?.publicIp) +
    el('sourceDestCheck', primary?.sourceDestCheck ?? true) +
    groupSetXml(primary?.groups ?? []) +
    el('architecture', 'x86_64') +
    el('rootDeviceType', 'ebs') +
    el('rootDeviceName', '/dev/xvda') +
    el('virtualizationType', 'hvm') +
    tagSet(i.tags) +
    el('hypervisor', 'xen') +
    set('networkInterfaceSet', enis, (e) => instanceNetworkInterfaceXml(state, e)) +
    el('ebsOptimized', false) +
    el('enaSupport', true)
  );
}

function instanceNetworkInterfaceXml(state: Ec2State, e: NetworkInterfaceRecord): string {
  const att = e.attachment!;
  const primaryIp = e.privateIps[0]?.privateIpAddress;
  return (
    el('networkInterfaceId', e.networkInterfaceId) +
    el('subnetId', e.subnetId) +
    el('vpcId', e.vpcId) +
    el('description', e.description) +
    el('ownerId', OWNER_ID) +
    el('status', e.status) +
    el('macAddress', e.macAddress) +
    el('privateIpAddress', primaryIp) +
    el('privateDnsName', primaryIp && privateDnsName(primaryIp)) +
    el('sourceDestCheck', e.sourceDestCheck) +
    el('interfaceType', e.interfaceType) +
    groupSetXml(e.groups) +
    `<attachment>${
      el('attachmentId', att.attachmentId) +
      el('deviceIndex', att.deviceIndex) +
      el('networkCardIndex', 0) +
      el('status', att.status) +
      el('attachTime', time(att.attachTime)) +
      el('deleteOnTermination', att.deleteOnTermination)
    }</attachment>` +
    eipAssociationXml(primaryIp ? state.addressOn(e.networkInterfaceId, primaryIp) : undefined, false) +
    set(
      'privateIpAddressesSet',
      e.privateIps,
      (p) =>
        el('privateIpAddress', p.privateIpAddress) +
        el('privateDnsName', privateDnsName(p.privateIpAddress)) +
        el('primary', p.primary) +
        eipAssociationXml(state.addressOn(e.networkInterfaceId, p.privateIpAddress), false),
    )
  );
}

export function groupSetXml(groups: SecurityGroupRef[]): string {
  return set('groupSet', groups, (g) => el('groupId', g.groupId) + el('groupName', g.groupName));
}

export function spotRequestXml(r: SpotRequestRecord): string {
  return (
    el('spotInstanceRequestId', r.spotInstanceRequestId) +
    el('spotPrice', '0.100000') +
    el('type', 'one-time') +
    el('state', r.state) +
    `<status>${el('code', r.statusCode) + el('updateTime', time(r.updateTime)) + el('message', r.statusMessage)}</status>` +
    `<launchSpecification>${el('instanceType', r.instanceType) + `<placement>${el('availabilityZone', r.availabilityZone)}</placement>`}</launchSpecification>` +
    el('instanceId', r.instanceId) +
    el('createTime', time(r.createTime)) +
    el('productDescription', 'Linux/UNIX') +
    tagSet(r.tags) +
    el('launchedAvailabilityZone', r.availabilityZone) +
    el('instanceInterruptionBehavior', 'terminate')
  );
}
