import {
  describeAddresses,
  describeInstances,
  describeInternetGateways,
  describeNetworkInterfaces,
  describeRouteTables,
  describeSpotInstanceRequests,
  describeSubnets,
  describeVpcs,
  reservationXml,
} from './ec2-describe';
import { Ec2Kind, missingParameter } from './ec2-errors';
import { InstanceRecord, InstanceStateName } from './ec2-records';
import { Ec2State } from './ec2-state';
import { Ec2Params } from './ec2-wire';
import {
  cidrAssociationXml,
  el,
  instanceStateXml,
  internetGatewayXml,
  networkInterfaceXml,
  routeTableXml,
  set,
  subnetXml,
  vpcXml,
} from './ec2-xml';
import { EmulatorError } from './types';

/** One EC2 Query action: reads the form, changes the state, returns the response body's inner XML. */
export type Ec2Action = (state: Ec2State, p: Ec2Params) => string;

const ok = el('return', true);

function addressByPublicIp(state: Ec2State, publicIp: string) {
  const a = state.addresses().find((x) => x.publicIp === publicIp);
  if (!a) throw new EmulatorError('InvalidAddress.NotFound', `Address '${publicIp}' not found.`);
  return a;
}

export const EC2_ACTIONS: Record<string, Ec2Action> = {
  DescribeNetworkInterfaces: describeNetworkInterfaces,
  DescribeAddresses: describeAddresses,
  DescribeSubnets: describeSubnets,
  DescribeRouteTables: describeRouteTables,
  DescribeVpcs: describeVpcs,
  DescribeInstances: describeInstances,
  DescribeInternetGateways: describeInternetGateways,
  DescribeSpotInstanceRequests: describeSpotInstanceRequests,

  // ---------------------------------------------------------------- teardown actions
  DisassociateAddress(state, p) {
    const associationId = p.str('AssociationId');
    const publicIp = p.str('PublicIp');
    if (associationId) state.disassociateAddress(associationId);
    else if (publicIp) {
      const a = addressByPublicIp(state, publicIp);
      if (a.association) state.disassociateAddress(a.association.associationId);
    } else throw missingParameter('AssociationId');
    return ok;
  },
  ReleaseAddress(state, p) {
    const allocationId = p.str('AllocationId');
    const publicIp = p.str('PublicIp');
    if (allocationId) state.releaseAddress(allocationId);
    else if (publicIp) state.releaseAddress(addressByPublicIp(state, publicIp).allocationId);
    else throw missingParameter('AllocationId');
    return ok;
  },
  UnassignPrivateIpAddresses(state, p) {
    state.unassignPrivateIps(p.required('NetworkInterfaceId'), p.list('PrivateIpAddress'));
    return ok;
  },
  DetachNetworkInterface(state, p) {
    state.detachNetworkInterface(p.required('AttachmentId'), { force: p.bool('Force') });
    return ok;
  },
  DeleteNetworkInterface(state, p) {
    state.deleteNetworkInterface(p.required('NetworkInterfaceId'));
    return ok;
  },
  DisassociateRouteTable(state, p) {
    state.disassociateRouteTable(p.required('AssociationId'));
    return ok;
  },
  DeleteRouteTable(state, p) {
    state.deleteRouteTable(p.required('RouteTableId'));
    return ok;
  },
  DeleteSubnet(state, p) {
    state.deleteSubnet(p.required('SubnetId'));
    return ok;
  },
  DisassociateVpcCidrBlock(state, p) {
    const { vpcId, ...assoc } = state.disassociateVpcCidr(p.required('AssociationId'));
    return el('vpcId', vpcId) + `<cidrBlockAssociation>${cidrAssociationXml(assoc)}</cidrBlockAssociation>`;
  },
  CreateTags(state, p) {
    const ids = p.list('ResourceId');
    if (ids.length === 0) throw missingParameter('ResourceId');
    state.createTags(ids, p.tags());
    return ok;
  },
  DeleteTags(state, p) {
    const ids = p.list('ResourceId');
    if (ids.length === 0) throw missingParameter('ResourceId');
    state.deleteTags(ids, Object.fromEntries(p.tagList().map((t) => [t.key, t.value])));
    return ok;
  },

  // ---------------------------------------------------------------- what loxilb (or a test) creates
  CreateVpc(state, p) {
    const vpc = state.createVpc({ cidrBlock: p.required('CidrBlock'), tags: p.tagSpecs('vpc') });
    return `<vpc>${vpcXml(vpc)}</vpc>`;
  },
  AssociateVpcCidrBlock(state, p) {
    const vpcId = p.required('VpcId');
    const assoc = state.associateVpcCidr(vpcId, p.required('CidrBlock'));
    return (
      el('vpcId', vpcId) +
      `<cidrBlockAssociation>${cidrAssociationXml({ ...assoc, state: 'associating' })}</cidrBlockAssociation>`
    );
  },
  CreateInternetGateway(state, p) {
    const igw = state.createInternetGateway({ tags: p.tagSpecs('internet-gateway') });
    return `<internetGateway>${internetGatewayXml(igw)}</internetGateway>`;
  },
  AttachInternetGateway(state, p) {
    state.attachInternetGateway(p.required('InternetGatewayId'), p.required('VpcId'));
    return ok;
  },
  CreateSubnet(state, p) {
    const subnet = state.createSubnet({
      vpcId: p.required('VpcId'),
      cidrBlock: p.required('CidrBlock'),
      availabilityZone: p.str('AvailabilityZone'),
      tags: p.tagSpecs('subnet'),
    });
    return `<subnet>${subnetXml(state, subnet)}</subnet>`;
  },
  CreateRouteTable(state, p) {
    const table = state.createRouteTable({ vpcId: p.required('VpcId'), tags: p.tagSpecs('route-table') });
    return (
      `<routeTable>${routeTableXml(state, table)}</routeTable>` + el('clientToken', p.str('ClientToken'))
    );
  },
  CreateRoute(state, p) {
    state.createRoute(p.required('RouteTableId'), {
      destinationCidrBlock: p.required('DestinationCidrBlock'),
      gatewayId: p.str('GatewayId'),
      networkInterfaceId: p.str('NetworkInterfaceId'),
      instanceId: p.str('InstanceId'),
    });
    return ok;
  },
  AssociateRouteTable(state, p) {
    const id = state.associateRouteTable(p.required('RouteTableId'), p.required('SubnetId'));
    return el('associationId', id) + `<associationState>${el('state', 'associated')}</associationState>`;
  },
  CreateNetworkInterface(state, p) {
    const explicit: { ip: string; primary: boolean }[] = [];
    for (let n = 1; p.str(`PrivateIpAddresses.${n}.PrivateIpAddress`) !== undefined; n++)
      explicit.push({
        ip: p.str(`PrivateIpAddresses.${n}.PrivateIpAddress`)!,
        primary: p.bool(`PrivateIpAddresses.${n}.Primary`) ?? false,
      });
    const primary = p.str('PrivateIpAddress') ?? explicit.find((e) => e.primary)?.ip;
    const eni = state.createNetworkInterface({
      subnetId: p.required('SubnetId'),
      description: p.str('Description'),
      privateIpAddress: primary,
      secondaryPrivateIpAddresses: explicit.filter((e) => e.ip !== primary).map((e) => e.ip),
      secondaryPrivateIpAddressCount: p.int('SecondaryPrivateIpAddressCount'),
      tags: p.tagSpecs('network-interface'),
      securityGroupIds: p.list('SecurityGroupId'),
    });
    return (
      `<networkInterface>${networkInterfaceXml(state, eni)}</networkInterface>` +
      el('clientToken', p.str('ClientToken'))
    );
  },
  AttachNetworkInterface(state, p) {
    const deviceIndex = p.int('DeviceIndex');
    if (deviceIndex === undefined) throw missingParameter('DeviceIndex');
    const id = state.attachNetworkInterface(
      p.required('NetworkInterfaceId'),
      p.required('InstanceId'),
      deviceIndex,
    );
    return el('attachmentId', id) + el('networkCardIndex', 0);
  },
  ModifyNetworkInterfaceAttribute(state, p) {
    const attachmentId = p.str('Attachment.AttachmentId');
    const groups = p.list('SecurityGroupId');
    state.modifyNetworkInterfaceAttribute(p.required('NetworkInterfaceId'), {
      sourceDestCheck: p.bool('SourceDestCheck.Value'),
      description: p.str('Description.Value'),
      securityGroupIds: groups.length > 0 ? groups : undefined,
      attachment:
        attachmentId !== undefined
          ? { attachmentId, deleteOnTermination: p.bool('Attachment.DeleteOnTermination') ?? false }
          : undefined,
    });
    return ok;
  },
  AssignPrivateIpAddresses(state, p) {
    const eniId = p.required('NetworkInterfaceId');
    const added = state.assignPrivateIps(eniId, {
      addresses: p.list('PrivateIpAddress'),
      count: p.int('SecondaryPrivateIpAddressCount'),
      allowReassignment: p.bool('AllowReassignment'),
    });
    return (
      el('networkInterfaceId', eniId) +
      set('assignedPrivateIpAddressesSet', added, (ip) => el('privateIpAddress', ip)) +
      ok
    );
  },
  AllocateAddress(state, p) {
    const domain = p.str('Domain') ?? 'vpc';
    if (domain !== 'vpc')
      throw new EmulatorError('InvalidParameterValue', `Value (${domain}) for parameter domain is invalid.`);
    const a = state.allocateAddress({ tags: p.tagSpecs('elastic-ip') });
    return (
      el('publicIp', a.publicIp) +
      el('domain', a.domain) +
      el('allocationId', a.allocationId) +
      el('publicIpv4Pool', 'amazon') +
      el('networkBorderGroup', 'us-east-1')
    );
  },
  AssociateAddress(state, p) {
    const allocationId = p.str('AllocationId');
    const allocation =
      allocationId ?? (p.str('PublicIp') && addressByPublicIp(state, p.str('PublicIp')!).allocationId);
    if (!allocation) throw missingParameter('AllocationId');
    const id = state.associateAddress({
      allocationId: allocation,
      networkInterfaceId: p.str('NetworkInterfaceId'),
      instanceId: p.str('InstanceId'),
      privateIpAddress: p.str('PrivateIpAddress'),
      allowReassociation: p.bool('AllowReassociation'),
    });
    return el('associationId', id) + ok;
  },
  RunInstances(state, p) {
    const subnetId = p.str('SubnetId');
    if (!subnetId)
      throw new EmulatorError(
        'VPCIdNotSpecified',
        'No default VPC for this user. GroupName is only supported for EC2-Classic and default VPC.',
      );
    const min = p.int('MinCount') ?? 1;
    const max = p.int('MaxCount') ?? min;
    if (min < 1 || max < min)
      throw new EmulatorError('InvalidParameterValue', `Value (${max}) for parameter maxCount is invalid.`);
    const reservationId = state.ctx.newId('r');
    const privateIp = p.str('PrivateIpAddress');
    const launched: InstanceRecord[] = [];
    for (let n = 0; n < max; n++)
      launched.push(
        state.runInstance({
          subnetId,
          reservationId,
          privateIpAddress: n === 0 ? privateIp : undefined,
          imageId: p.str('ImageId'),
          instanceType: p.str('InstanceType'),
          tags: p.tagSpecs('instance'),
          securityGroupIds: p.list('SecurityGroupId'),
          spot: p.str('InstanceMarketOptions.MarketType') === 'spot',
        }),
      );
    return reservationXml(
      state,
      reservationId,
      launched.map((i) => state.instanceById(i.instanceId)!),
    );
  },
  TerminateInstances(state, p) {
    const ids = p.list('InstanceId');
    if (ids.length === 0) throw missingParameter('InstanceId');
    const changes = state.beginTermination(ids);
    return set(
      'instancesSet',
      changes,
      (c: { instanceId: string; previous: InstanceStateName; current: InstanceStateName }) =>
        el('instanceId', c.instanceId) +
        instanceStateXml('currentState', c.current) +
        instanceStateXml('previousState', c.previous),
    );
  },
};

/** Actions whose request shape has a DryRun member (checked against the SDK's schemas). */
export const EC2_NO_DRY_RUN = new Set([
  'UnassignPrivateIpAddresses',
  'DisassociateVpcCidrBlock',
  'AssociateVpcCidrBlock',
  'AssignPrivateIpAddresses',
]);

/**
 * The resources each action names, by parameter (`Name` or a `Name.N` list), so a DryRun can fail
 * with NotFound for a resource that does not exist, as EC2 does, before answering DryRunOperation.
 */
export const EC2_DRY_RUN_TARGETS: Record<
  string,
  [param: string, kind: Ec2Kind | 'resource', list?: 'list'][]
> = {
  DisassociateAddress: [['AssociationId', 'addressAssociation']],
  ReleaseAddress: [['AllocationId', 'allocation']],
  DetachNetworkInterface: [['AttachmentId', 'attachment']],
  DeleteNetworkInterface: [['NetworkInterfaceId', 'networkInterface']],
  DisassociateRouteTable: [['AssociationId', 'routeTableAssociation']],
  DeleteRouteTable: [['RouteTableId', 'routeTable']],
  DeleteSubnet: [['SubnetId', 'subnet']],
  CreateTags: [['ResourceId', 'resource', 'list']],
  DeleteTags: [['ResourceId', 'resource', 'list']],
  CreateSubnet: [['VpcId', 'vpc']],
  CreateRouteTable: [['VpcId', 'vpc']],
  CreateRoute: [['RouteTableId', 'routeTable']],
  AssociateRouteTable: [
    ['RouteTableId', 'routeTable'],
    ['SubnetId', 'subnet'],
  ],
  AttachInternetGateway: [
    ['InternetGatewayId', 'internetGateway'],
    ['VpcId', 'vpc'],
  ],
  CreateNetworkInterface: [['SubnetId', 'subnet']],
  ModifyNetworkInterfaceAttribute: [['NetworkInterfaceId', 'networkInterface']],
  AttachNetworkInterface: [
    ['NetworkInterfaceId', 'networkInterface'],
    ['InstanceId', 'instance'],
  ],
  AssociateAddress: [
    ['AllocationId', 'allocation'],
    ['NetworkInterfaceId', 'networkInterface'],
    ['InstanceId', 'instance'],
  ],
  RunInstances: [['SubnetId', 'subnet']],
  TerminateInstances: [['InstanceId', 'instance', 'list']],
};

export function checkDryRunTargets(state: Ec2State, action: string, p: Ec2Params): void {
  for (const [param, kind, list] of EC2_DRY_RUN_TARGETS[action] ?? []) {
    const ids = list ? p.list(param) : [p.str(param)].filter((v): v is string => v !== undefined);
    for (const id of ids) state.requireExisting(kind, id);
  }
}
