/**
 * The EC2 emulator's in-memory records. They are plain data (JSON-serialisable), and the
 * inspectors (`ec2.networkInterfaces()` …) hand out deep copies of them.
 */

export type Tags = Record<string, string>;

export type CidrAssociationState = 'associating' | 'associated' | 'disassociating' | 'disassociated';

export interface CidrAssociationRecord {
  associationId: string;
  cidrBlock: string;
  state: CidrAssociationState;
  /** The CIDR the VPC was created with: it can never be disassociated. */
  primary: boolean;
}

export interface VpcRecord {
  vpcId: string;
  /** Primary IPv4 CIDR (`Vpc.CidrBlock`). */
  cidrBlock: string;
  state: 'pending' | 'available';
  cidrAssociations: CidrAssociationRecord[];
  dhcpOptionsId: string;
  isDefault: boolean;
  tags: Tags;
}

export interface InternetGatewayRecord {
  internetGatewayId: string;
  /** Attached VPC, if any. */
  vpcId?: string;
  tags: Tags;
}

export interface SubnetRecord {
  subnetId: string;
  vpcId: string;
  cidrBlock: string;
  availabilityZone: string;
  state: 'pending' | 'available';
  tags: Tags;
}

export interface RouteRecord {
  destinationCidrBlock: string;
  gatewayId?: string;
  networkInterfaceId?: string;
  instanceId?: string;
  origin: 'CreateRouteTable' | 'CreateRoute';
  state: 'active' | 'blackhole';
}

export interface RouteTableAssociationRecord {
  associationId: string;
  routeTableId: string;
  /** Absent on the main association. */
  subnetId?: string;
  main: boolean;
  state: 'associating' | 'associated' | 'disassociating' | 'disassociated';
}

export interface RouteTableRecord {
  routeTableId: string;
  vpcId: string;
  /** Explicit routes; the `local` route of every VPC CIDR is added when rendered. */
  routes: RouteRecord[];
  associations: RouteTableAssociationRecord[];
  tags: Tags;
}

export type InstanceStateName =
  'pending' | 'running' | 'shutting-down' | 'terminated' | 'stopping' | 'stopped';

export const INSTANCE_STATE_CODES: Record<InstanceStateName, number> = {
  pending: 0,
  running: 16,
  'shutting-down': 32,
  terminated: 48,
  stopping: 64,
  stopped: 80,
};

export interface InstanceRecord {
  instanceId: string;
  reservationId: string;
  state: InstanceStateName;
  subnetId: string;
  vpcId: string;
  availabilityZone: string;
  imageId: string;
  instanceType: string;
  /** Epoch ms. */
  launchTime: number;
  /** The ENI at device index 0 (deleted with the instance). */
  primaryNetworkInterfaceId: string;
  tags: Tags;
}

export interface AttachmentRecord {
  attachmentId: string;
  instanceId: string;
  deviceIndex: number;
  status: 'attaching' | 'attached' | 'detaching' | 'detached';
  deleteOnTermination: boolean;
  /** Epoch ms. */
  attachTime: number;
  /** Set once a detach was asked with `Force: true` (emulator-internal; not on the wire). */
  forcedDetach?: boolean;
}

export interface PrivateIpRecord {
  privateIpAddress: string;
  primary: boolean;
}

export type NetworkInterfaceStatus = 'available' | 'associated' | 'attaching' | 'in-use' | 'detaching';

export interface NetworkInterfaceRecord {
  networkInterfaceId: string;
  subnetId: string;
  vpcId: string;
  availabilityZone: string;
  description: string;
  status: NetworkInterfaceStatus;
  attachment?: AttachmentRecord;
  /** Primary first. */
  privateIps: PrivateIpRecord[];
  requesterManaged: boolean;
  interfaceType: string;
  macAddress: string;
  sourceDestCheck: boolean;
  /** Security groups (`groupSet`); ENIs created without any get none. */
  groups: SecurityGroupRef[];
  /**
   * Epoch ms when the ENI was created. Emulator-internal (for the sweeper's grace period): real
   * EC2 does not return an ENI creation time in DescribeNetworkInterfaces, so it is never rendered.
   */
  createTime: number;
  tags: Tags;
}

export interface SecurityGroupRef {
  groupId: string;
  groupName: string;
}

export type SpotRequestState = 'open' | 'active' | 'closed' | 'cancelled' | 'failed' | 'disabled';

/** A one-time spot request, fulfilled by `instanceId` (see Ec2State.markSpotForTermination). */
export interface SpotRequestRecord {
  spotInstanceRequestId: string;
  instanceId: string;
  state: SpotRequestState;
  /** `fulfilled`, `marked-for-termination`, `instance-terminated-by-user`, `instance-terminated-no-capacity`… */
  statusCode: string;
  statusMessage: string;
  /** Epoch ms of the last status change. */
  updateTime: number;
  createTime: number;
  availabilityZone: string;
  instanceType: string;
  tags: Tags;
}

export interface AddressAssociationRecord {
  associationId: string;
  networkInterfaceId: string;
  privateIpAddress: string;
}

export interface AddressRecord {
  allocationId: string;
  publicIp: string;
  domain: 'vpc';
  association?: AddressAssociationRecord;
  tags: Tags;
}

/** An Elastic IP as `ec2.addresses()` shows it: the instance is derived from the ENI's attachment. */
export interface AddressView extends AddressRecord {
  instanceId?: string;
}

export interface Ec2Snapshot {
  vpcs: VpcRecord[];
  internetGateways: InternetGatewayRecord[];
  subnets: SubnetRecord[];
  routeTables: RouteTableRecord[];
  instances: InstanceRecord[];
  networkInterfaces: NetworkInterfaceRecord[];
  addresses: AddressView[];
  spotRequests: SpotRequestRecord[];
  deniedActions: string[];
}
