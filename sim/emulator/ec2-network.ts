import { checkIdFormat, invalidParameter, notFound } from './ec2-errors';
import {
  cidrContains,
  cidrContainsIp,
  cidrOverlaps,
  ipToNumber,
  nextFreeIp,
  parseCidr,
  requireCidr,
} from './ec2-ip';
import {
  CidrAssociationRecord,
  InternetGatewayRecord,
  RouteRecord,
  RouteTableAssociationRecord,
  RouteTableRecord,
  SubnetRecord,
  Tags,
  VpcRecord,
} from './ec2-records';
import { clone, Ec2Store, REGION } from './ec2-store';
import { EmulatorError } from './types';

/** Layer 2: VPCs and their CIDR associations, internet gateways, subnets (and their addresses), route tables. */
export class Ec2Network extends Ec2Store {
  // ---------------------------------------------------------------- VPCs, CIDRs, gateways

  createVpc(input: { cidrBlock: string; tags?: Tags; vpcId?: string }): VpcRecord {
    const cidr = requireCidr(input.cidrBlock);
    if (cidr.prefix < 16 || cidr.prefix > 28)
      throw invalidParameter(
        `The CIDR '${input.cidrBlock}' is invalid. The block size must be between /16 and /28.`,
      );
    const vpcId = input.vpcId ?? this.ctx.newId('vpc');
    if (this.vpcMap.has(vpcId)) throw invalidParameter(`VPC ${vpcId} already exists`);
    const vpc: VpcRecord = {
      vpcId,
      cidrBlock: input.cidrBlock,
      state: 'available',
      cidrAssociations: [
        {
          associationId: this.ctx.newId('vpc-cidr-assoc'),
          cidrBlock: input.cidrBlock,
          state: 'associated',
          primary: true,
        },
      ],
      dhcpOptionsId: 'dopt-0emulator0000000',
      isDefault: false,
      tags: { ...input.tags },
    };
    this.vpcMap.set(vpcId, vpc);
    this.remember(vpcId);
    const main = this.createRouteTable({ vpcId });
    this.routeTableMap.get(main.routeTableId)!.associations.push({
      associationId: this.ctx.newId('rtbassoc'),
      routeTableId: main.routeTableId,
      main: true,
      state: 'associated',
    });
    return clone(vpc);
  }

  /** AssociateVpcCidrBlock. The association is usable at once (the wire answer says `associating`). */
  associateVpcCidr(vpcId: string, cidrBlock: string): CidrAssociationRecord {
    const vpc = this.vpc(vpcId);
    const cidr = requireCidr(cidrBlock);
    if (cidr.prefix < 16 || cidr.prefix > 28)
      throw invalidParameter(
        `The CIDR '${cidrBlock}' is invalid. The block size must be between /16 and /28.`,
      );
    for (const a of vpc.cidrAssociations)
      if (a.state !== 'disassociated' && cidrOverlaps(parseCidr(a.cidrBlock)!, cidr))
        throw new EmulatorError(
          'InvalidVpc.Range',
          `The CIDR '${cidrBlock}' conflicts with CIDR block '${a.cidrBlock}' (${a.associationId}) of VPC ${vpcId}.`,
        );
    if (vpc.cidrAssociations.filter((a) => a.state !== 'disassociated').length >= 5)
      throw new EmulatorError(
        'CidrLimitExceeded',
        `The VPC ${vpcId} already has the maximum number of IPv4 CIDR blocks (5).`,
      );
    const assoc: CidrAssociationRecord = {
      associationId: this.ctx.newId('vpc-cidr-assoc'),
      cidrBlock,
      state: 'associated',
      primary: false,
    };
    vpc.cidrAssociations.push(assoc);
    return clone(assoc);
  }

  /**
   * DisassociateVpcCidrBlock: refuses the primary CIDR and a CIDR that still has a subnet; the
   * association is `disassociating` for `cidrDisassociateDelayMs`, then gone.
   */
  disassociateVpcCidr(associationId: string): CidrAssociationRecord & { vpcId: string } {
    checkIdFormat('vpcCidrAssociation', associationId);
    const found = this.cidrAssociation(associationId);
    if (!found) throw notFound('vpcCidrAssociation', [associationId]);
    const { vpc, assoc } = found;
    if (assoc.primary)
      throw new EmulatorError(
        'OperationNotPermitted',
        `The vpc CIDR block with association ID ${associationId} may not be disassociated. It is the primary IPv4 CIDR block of the VPC`,
      );
    if (assoc.state === 'associated') {
      const block = parseCidr(assoc.cidrBlock)!;
      const inside = [...this.subnetMap.values()].some(
        (s) => s.vpcId === vpc.vpcId && cidrOverlaps(block, parseCidr(s.cidrBlock)!),
      );
      if (inside)
        throw new EmulatorError(
          'InvalidCidrBlock.InUse',
          `The vpc ${vpc.vpcId} currently has a subnet within CIDR block ${assoc.cidrBlock}`,
        );
      assoc.state = 'disassociating';
      this.schedule(this.options.cidrDisassociateDelayMs ?? 100, () => {
        vpc.cidrAssociations = vpc.cidrAssociations.filter((a) => a !== assoc);
      });
    }
    return { ...clone(assoc), vpcId: vpc.vpcId };
  }

  createInternetGateway(input: { vpcId?: string; tags?: Tags } = {}): InternetGatewayRecord {
    const igw: InternetGatewayRecord = { internetGatewayId: this.ctx.newId('igw'), tags: { ...input.tags } };
    this.igwMap.set(igw.internetGatewayId, igw);
    this.remember(igw.internetGatewayId);
    if (input.vpcId) this.attachInternetGateway(igw.internetGatewayId, input.vpcId);
    return clone(igw);
  }

  attachInternetGateway(internetGatewayId: string, vpcId: string): void {
    const igw = this.find(this.igwMap, 'internetGateway', internetGatewayId);
    this.vpc(vpcId);
    if (igw.vpcId)
      throw new EmulatorError(
        'Resource.AlreadyAssociated',
        `resource ${internetGatewayId} is already attached to network ${igw.vpcId}`,
      );
    igw.vpcId = vpcId;
  }

  // ---------------------------------------------------------------- subnets

  createSubnet(input: {
    vpcId: string;
    cidrBlock: string;
    availabilityZone?: string;
    tags?: Tags;
  }): SubnetRecord {
    const vpc = this.vpc(input.vpcId);
    const cidr = requireCidr(input.cidrBlock);
    const inVpc = vpc.cidrAssociations.some(
      (a) => a.state === 'associated' && cidrContains(parseCidr(a.cidrBlock)!, cidr),
    );
    if (!inVpc || cidr.prefix > 28)
      throw new EmulatorError('InvalidSubnet.Range', `The CIDR '${input.cidrBlock}' is invalid.`);
    for (const s of this.subnetMap.values())
      if (s.vpcId === vpc.vpcId && cidrOverlaps(parseCidr(s.cidrBlock)!, cidr))
        throw new EmulatorError(
          'InvalidSubnet.Conflict',
          `The CIDR '${input.cidrBlock}' conflicts with another subnet`,
        );
    const subnet: SubnetRecord = {
      subnetId: this.ctx.newId('subnet'),
      vpcId: vpc.vpcId,
      cidrBlock: input.cidrBlock,
      availabilityZone: input.availabilityZone ?? this.options.defaultAvailabilityZone ?? `${REGION}a`,
      state: 'available',
      tags: { ...input.tags },
    };
    this.subnetMap.set(subnet.subnetId, subnet);
    this.remember(subnet.subnetId);
    return clone(subnet);
  }

  /** DeleteSubnet: `DependencyViolation` while any ENI is in it; drops its route table association. */
  deleteSubnet(subnetId: string): void {
    const subnet = this.subnet(subnetId);
    if ([...this.eniMap.values()].some((e) => e.subnetId === subnetId))
      throw new EmulatorError(
        'DependencyViolation',
        `The subnet '${subnet.subnetId}' has dependencies and cannot be deleted.`,
      );
    for (const t of this.routeTableMap.values())
      t.associations = t.associations.filter((a) => a.subnetId !== subnetId);
    this.subnetMap.delete(subnetId);
  }

  /** Addresses still free in a subnet (AWS reserves five of every subnet). */
  availableIpAddressCount(subnetId: string): number {
    const subnet = this.subnet(subnetId);
    const size = parseCidr(subnet.cidrBlock)!.size;
    return Math.max(0, size - 5 - this.usedIps(subnetId).size);
  }

  protected usedIps(subnetId: string): Set<string> {
    const used = new Set<string>();
    for (const e of this.eniMap.values())
      if (e.subnetId === subnetId) for (const ip of e.privateIps) used.add(ip.privateIpAddress);
    return used;
  }

  protected takeIp(subnet: SubnetRecord, wanted?: string, used = this.usedIps(subnet.subnetId)): string {
    const cidr = parseCidr(subnet.cidrBlock)!;
    if (wanted !== undefined) {
      const n = ipToNumber(wanted);
      if (n === undefined || !cidrContainsIp(cidr, wanted))
        throw invalidParameter(`Address ${wanted} does not fall within the subnet's address range`);
      if (n < cidr.base + 4 || n === cidr.base + cidr.size - 1)
        throw invalidParameter(`Address ${wanted} is reserved by AWS in subnet ${subnet.subnetId}`);
      if (used.has(wanted)) throw new EmulatorError('InvalidIPAddress.InUse', `Address ${wanted} is in use.`);
      used.add(wanted);
      return wanted;
    }
    const ip = nextFreeIp(cidr, used);
    if (!ip)
      throw new EmulatorError(
        'InsufficientFreeAddressesInSubnet',
        `There are not enough free addresses in subnet '${subnet.subnetId}' to satisfy the requested number of instances.`,
      );
    used.add(ip);
    return ip;
  }

  // ---------------------------------------------------------------- route tables

  createRouteTable(input: {
    vpcId: string;
    tags?: Tags;
    routes?: Omit<RouteRecord, 'origin' | 'state'>[];
  }): RouteTableRecord {
    this.vpc(input.vpcId);
    const table: RouteTableRecord = {
      routeTableId: this.ctx.newId('rtb'),
      vpcId: input.vpcId,
      routes: [],
      associations: [],
      tags: { ...input.tags },
    };
    this.routeTableMap.set(table.routeTableId, table);
    this.remember(table.routeTableId);
    for (const r of input.routes ?? []) this.createRoute(table.routeTableId, r);
    return clone(table);
  }

  createRoute(
    routeTableId: string,
    route: {
      destinationCidrBlock: string;
      gatewayId?: string;
      networkInterfaceId?: string;
      instanceId?: string;
    },
  ): void {
    const table = this.routeTable(routeTableId);
    requireCidr(route.destinationCidrBlock);
    if (route.gatewayId?.startsWith('igw-')) this.find(this.igwMap, 'internetGateway', route.gatewayId);
    if (route.networkInterfaceId) this.eni(route.networkInterfaceId);
    if (route.instanceId) this.instance(route.instanceId);
    if (!route.gatewayId && !route.networkInterfaceId && !route.instanceId)
      throw new EmulatorError(
        'InvalidParameterCombination',
        'The request must contain exactly one of gatewayId, natGatewayId, networkInterfaceId, vpcPeeringConnectionId or instanceId',
      );
    if (table.routes.some((r) => r.destinationCidrBlock === route.destinationCidrBlock))
      throw new EmulatorError(
        'RouteAlreadyExists',
        `The route identified by ${route.destinationCidrBlock} already exists.`,
      );
    table.routes.push({
      destinationCidrBlock: route.destinationCidrBlock,
      ...(route.gatewayId ? { gatewayId: route.gatewayId } : {}),
      ...(route.networkInterfaceId ? { networkInterfaceId: route.networkInterfaceId } : {}),
      ...(route.instanceId ? { instanceId: route.instanceId } : {}),
      origin: 'CreateRoute',
      state: 'active',
    });
  }

  /** A table's routes as EC2 shows them: a `local` route per associated VPC CIDR, then the explicit ones. */
  effectiveRoutes(table: RouteTableRecord): (Omit<RouteRecord, 'origin'> & { origin: string })[] {
    const vpc = this.vpcMap.get(table.vpcId);
    const local = (vpc?.cidrAssociations ?? [])
      .filter((a) => a.state === 'associated')
      .map((a) => ({
        destinationCidrBlock: a.cidrBlock,
        gatewayId: 'local',
        origin: 'CreateRouteTable',
        state: 'active' as const,
      }));
    return [...local, ...table.routes];
  }

  /** AssociateRouteTable (subnet association); returns the `rtbassoc-…` id. */
  associateRouteTable(routeTableId: string, subnetId: string): string {
    const table = this.routeTable(routeTableId);
    const subnet = this.subnet(subnetId);
    if (subnet.vpcId !== table.vpcId)
      throw invalidParameter(
        `Route table ${routeTableId} and subnet ${subnetId} belong to different networks`,
      );
    for (const t of this.routeTableMap.values())
      for (const a of t.associations)
        if (a.subnetId === subnetId)
          throw new EmulatorError(
            'Resource.AlreadyAssociated',
            `the specified association for route table ${routeTableId} conflicts with an existing association`,
          );
    const assoc: RouteTableAssociationRecord = {
      associationId: this.ctx.newId('rtbassoc'),
      routeTableId,
      subnetId,
      main: false,
      state: 'associated',
    };
    table.associations.push(assoc);
    return assoc.associationId;
  }

  disassociateRouteTable(associationId: string): void {
    checkIdFormat('routeTableAssociation', associationId);
    const found = this.routeTableAssociation(associationId);
    if (!found) throw notFound('routeTableAssociation', [associationId]);
    if (found.assoc.main)
      throw invalidParameter(`cannot disassociate the main route table association ${associationId}`);
    found.table.associations = found.table.associations.filter((a) => a !== found.assoc);
  }

  /** DeleteRouteTable: `DependencyViolation` while any association (the main one included) remains. */
  deleteRouteTable(routeTableId: string): void {
    const table = this.routeTable(routeTableId);
    if (table.associations.length > 0)
      throw new EmulatorError(
        'DependencyViolation',
        `The routeTable '${routeTableId}' has dependencies and cannot be deleted.`,
      );
    this.routeTableMap.delete(routeTableId);
  }
}
