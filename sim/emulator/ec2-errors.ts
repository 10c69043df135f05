import { EmulatorError } from './types';

/** The resource kinds the EC2 emulator can look up by id, with EC2's error codes for each. */
export type Ec2Kind =
  | 'vpc'
  | 'subnet'
  | 'routeTable'
  | 'internetGateway'
  | 'instance'
  | 'networkInterface'
  | 'allocation'
  | 'attachment'
  | 'addressAssociation'
  | 'routeTableAssociation'
  | 'vpcCidrAssociation'
  | 'spotRequest';

interface KindInfo {
  prefix: string;
  notFound: string;
  malformed: string;
  /** How EC2 names the id in its messages ("The subnet ID 'subnet-…' does not exist"). */
  noun: string;
}

const KINDS: Record<Ec2Kind, KindInfo> = {
  vpc: {
    prefix: 'vpc-',
    notFound: 'InvalidVpcID.NotFound',
    malformed: 'InvalidVpcID.Malformed',
    noun: 'vpc',
  },
  subnet: {
    prefix: 'subnet-',
    notFound: 'InvalidSubnetID.NotFound',
    malformed: 'InvalidSubnetID.Malformed',
    noun: 'subnet',
  },
  routeTable: {
    prefix: 'rtb-',
    notFound: 'InvalidRouteTableID.NotFound',
    malformed: 'InvalidRouteTableId.Malformed',
    noun: 'routeTable',
  },
  internetGateway: {
    prefix: 'igw-',
    notFound: 'InvalidInternetGatewayID.NotFound',
    malformed: 'InvalidInternetGatewayId.Malformed',
    noun: 'internetGateway',
  },
  instance: {
    prefix: 'i-',
    notFound: 'InvalidInstanceID.NotFound',
    malformed: 'InvalidInstanceID.Malformed',
    noun: 'instance',
  },
  networkInterface: {
    prefix: 'eni-',
    notFound: 'InvalidNetworkInterfaceID.NotFound',
    malformed: 'InvalidNetworkInterfaceId.Malformed',
    noun: 'networkInterface',
  },
  allocation: {
    prefix: 'eipalloc-',
    notFound: 'InvalidAllocationID.NotFound',
    malformed: 'InvalidAllocationID.Malformed',
    noun: 'allocation',
  },
  attachment: {
    prefix: 'eni-attach-',
    notFound: 'InvalidAttachmentID.NotFound',
    malformed: 'InvalidNetworkInterfaceAttachmentId.Malformed',
    noun: 'attachment',
  },
  addressAssociation: {
    prefix: 'eipassoc-',
    notFound: 'InvalidAssociationID.NotFound',
    malformed: 'InvalidAssociationID.Malformed',
    noun: 'association',
  },
  routeTableAssociation: {
    prefix: 'rtbassoc-',
    notFound: 'InvalidAssociationID.NotFound',
    malformed: 'InvalidAssociationID.Malformed',
    noun: 'association',
  },
  vpcCidrAssociation: {
    prefix: 'vpc-cidr-assoc-',
    // Unverified against real EC2 (see the wire-format reference §5.9); callers match /NotFound$/.
    notFound: 'InvalidVpcCidrBlockAssociationID.NotFound',
    malformed: 'InvalidVpcCidrBlockAssociationID.Malformed',
    noun: 'vpc CIDR block association',
  },
  spotRequest: {
    prefix: 'sir-',
    notFound: 'InvalidSpotInstanceRequestID.NotFound',
    malformed: 'InvalidSpotInstanceRequestID.Malformed',
    noun: 'spot instance request',
  },
};

export function idPrefix(kind: Ec2Kind): string {
  return KINDS[kind].prefix;
}

export function notFound(kind: Ec2Kind, ids: string[]): EmulatorError {
  const k = KINDS[kind];
  const message =
    ids.length === 1
      ? `The ${k.noun} ID '${ids[0]}' does not exist`
      : `The ${k.noun} IDs '${ids.join(', ')}' do not exist`;
  return new EmulatorError(k.notFound, message);
}

export function checkIdFormat(kind: Ec2Kind, id: string): void {
  const k = KINDS[kind];
  if (!id.startsWith(k.prefix) || id.length === k.prefix.length)
    throw new EmulatorError(k.malformed, `Invalid id: "${id}" (expecting "${k.prefix}...")`);
}

export function invalidParameter(message: string): EmulatorError {
  return new EmulatorError('InvalidParameterValue', message);
}

export function missingParameter(name: string): EmulatorError {
  return new EmulatorError('MissingParameter', `The request must contain the parameter ${name}`);
}
