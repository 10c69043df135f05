import { EmulatorContext } from './context';
import { checkIdFormat, Ec2Kind, invalidParameter, notFound } from './ec2-errors';
import {
  cidrContains,
  cidrContainsIp,
  cidrOverlaps,
  ipToNumber,
  nextFreeIp,
  numberToIp,
  parseCidr,
  requireCidr,
} from './ec2-ip';
import {
  AddressRecord,
  AddressView,
  AttachmentRecord,
  CidrAssociationRecord,
  Ec2Snapshot,
  InstanceRecord,
  InstanceStateName,
  InternetGatewayRecord,
  NetworkInterfaceRecord,
  RouteRecord,
  RouteTableAssociationRecord,
  RouteTableRecord,
  SubnetRecord,
  Tags,
  VpcRecord,
} from './ec2-records';
import { EmulatorError } from './types';

export interface Ec2ServiceOptions {
  /** How long `DetachNetworkInterface` keeps an ENI in `detaching` before it is `available` (default 100). */
  detachDelayMs?: number;
  /** How long `DisassociateVpcCidrBlock` keeps the association `disassociating` before it is gone (default 100). */
  cidrDisassociateDelayMs?: number;
  /** How long `TerminateInstances` (over the wire) keeps an instance `shutting-down` (default 100). */
  terminateDelayMs?: number;
  /** Default availability zone for subnets created without one. */
  defaultAvailabilityZone?: string;
}

export const OWNER_ID = '123456789012';
export const REGION = 'us-east-1';

function clone<T>(value: T): T {
  return structuredClone(value);
}

/**
 * The EC2 state model: every rule the teardown depends on (dependency violations, the detach state
 * machine, primary ENI / primary CIDR protection, EIP association bookkeeping) lives here, so the
 * wire actions and the programmatic seed/"second actor" API behave exactly alike.
 */
export class Ec2State {
  protected readonly vpcMap = new Map<string, VpcRecord>();
  protected readonly igwMap = new Map<string, InternetGatewayRecord>();
  protected readonly subnetMap = new Map<string, SubnetRecord>();
  protected readonly routeTableMap = new Map<string, RouteTableRecord>();
  protected readonly instanceMap = new Map<string, InstanceRecord>();
  protected readonly eniMap = new Map<string, NetworkInterfaceRecord>();
  protected readonly addressMap = new Map<string, AddressRecord>();
  /** Creation order of every resource, for stable pagination across deletes. */
  protected readonly order = new Map<string, number>();
  /** Every EIP association id ever issued: disassociating a stale one is a no-op, an unknown one is NotFound. */
  private readonly issuedAddressAssociations = new Set<string>();
  private readonly timers = new Map<NodeJS.Timeout, () => void>();
  private seq = 0;
  private publicIpCounter = 0;

  readonly options: Ec2ServiceOptions;

  constructor(
    readonly ctx: EmulatorContext,
    options: Ec2ServiceOptions = {},
  ) {
    this.options = { ...options };
  }

  // ---------------------------------------------------------------- timers

  /** Runs `fn` after `ms` (synchronously when `ms <= 0`); pending timers are cleared by stop(). */
  protected schedule(ms: number, fn: () => void): void {
    if (ms <= 0) return fn();
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.set(t, fn);
  }

  /** Completes every pending transition (detach, CIDR disassociation, termination) right now. */
  settle(): void {
    while (this.timers.size > 0) {
      const [t, fn] = this.timers.entries().next().value as [NodeJS.Timeout, () => void];
      clearTimeout(t);
      this.timers.delete(t);
      fn();
    }
  }

  stop(): void {
    for (const t of this.timers.keys()) clearTimeout(t);
    this.timers.clear();
  }

  private remember(id: string): void {
    this.order.set(id, ++this.seq);
  }

  /** Creation sequence number of a resource (for pagination). */
  creationOrder(id: string): number {
    return this.order.get(id) ?? 0;
  }

  // ---------------------------------------------------------------- lookups

  protected find<T>(map: Map<string, T>, kind: Ec2Kind, id: string): T {
    checkIdFormat(kind, id);
    const r = map.get(id);
    if (!r) throw notFound(kind, [id]);
    return r;
  }

  protected vpc(id: string): VpcRecord {
    return this.find(this.vpcMap, 'vpc', id);
  }
  protected subnet(id: string): SubnetRecord {
    return this.find(this.subnetMap, 'subnet', id);
  }
  protected routeTable(id: string): RouteTableRecord {
    return this.find(this.routeTableMap, 'routeTable', id);
  }
  protected instance(id: string): InstanceRecord {
    return this.find(this.instanceMap, 'instance', id);
  }
  protected eni(id: string): NetworkInterfaceRecord {
    return this.find(this.eniMap, 'networkInterface', id);
  }
  protected address(id: string): AddressRecord {
    return this.find(this.addressMap, 'allocation', id);
  }

  protected eniByAttachment(attachmentId: string): NetworkInterfaceRecord | undefined {
    for (const e of this.eniMap.values()) if (e.attachment?.attachmentId === attachmentId) return e;
    return undefined;
  }

  protected routeTableAssociation(
    associationId: string,
  ): { table: RouteTableRecord; assoc: RouteTableAssociationRecord } | undefined {
    for (const table of this.routeTableMap.values())
      for (const assoc of table.associations)
        if (assoc.associationId === associationId) return { table, assoc };
    return undefined;
  }

  protected cidrAssociation(
    associationId: string,
  ): { vpc: VpcRecord; assoc: CidrAssociationRecord } | undefined {
    for (const vpc of this.vpcMap.values())
      for (const assoc of vpc.cidrAssociations)
        if (assoc.associationId === associationId) return { vpc, assoc };
    return undefined;
  }

  /** The EIP associated with one private IP of an ENI, if any. */
  addressOn(eniId: string, privateIp?: string): AddressRecord | undefined {
    for (const a of this.addressMap.values())
      if (
        a.association?.networkInterfaceId === eniId &&
        (privateIp === undefined || a.association.privateIpAddress === privateIp)
      )
        return a;
    return undefined;
  }

  addressesOn(eniId: string): AddressRecord[] {
    return [...this.addressMap.values()].filter((a) => a.association?.networkInterfaceId === eniId);
  }

  enisOf(instanceId: string): NetworkInterfaceRecord[] {
    return [...this.eniMap.values()]
      .filter((e) => e.attachment?.instanceId === instanceId)
      .sort((a, b) => a.attachment!.deviceIndex - b.attachment!.deviceIndex);
  }

  /** The resource a tag operation names, whatever its kind. */
  protected taggable(id: string): { tags: Tags } {
    const maps: [string, Map<string, { tags: Tags }>, Ec2Kind][] = [
      ['vpc-', this.vpcMap, 'vpc'],
      ['subnet-', this.subnetMap, 'subnet'],
      ['rtb-', this.routeTableMap, 'routeTable'],
      ['igw-', this.igwMap, 'internetGateway'],
      ['i-', this.instanceMap, 'instance'],
      ['eni-', this.eniMap, 'networkInterface'],
      ['eipalloc-', this.addressMap, 'allocation'],
    ];
    for (const [prefix, map, kind] of maps) {
      if (!id.startsWith(prefix)) continue;
      const r = map.get(id);
      if (!r) throw notFound(kind, [id]);
      return r;
    }
    throw invalidParameter(`Invalid resource id: "${id}"`);
  }

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

  private usedIps(subnetId: string): Set<string> {
    const used = new Set<string>();
    for (const e of this.eniMap.values())
      if (e.subnetId === subnetId) for (const ip of e.privateIps) used.add(ip.privateIpAddress);
    return used;
  }

  private takeIp(subnet: SubnetRecord, wanted?: string, used = this.usedIps(subnet.subnetId)): string {
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

  // ---------------------------------------------------------------- instances

  /**
   * A running instance with its primary ENI (device index 0, DeleteOnTermination true) in `subnetId`.
   */
  runInstance(input: {
    subnetId: string;
    instanceId?: string;
    state?: InstanceStateName;
    tags?: Tags;
    privateIpAddress?: string;
    imageId?: string;
    instanceType?: string;
    reservationId?: string;
  }): InstanceRecord {
    const subnet = this.subnet(input.subnetId);
    const instanceId = input.instanceId ?? this.ctx.newId('i');
    checkIdFormat('instance', instanceId);
    if (this.instanceMap.has(instanceId)) throw invalidParameter(`Instance ${instanceId} already exists`);
    const eni = this.createNetworkInterface({
      subnetId: subnet.subnetId,
      privateIpAddress: input.privateIpAddress,
    });
    const now = this.ctx.now();
    const instance: InstanceRecord = {
      instanceId,
      reservationId: input.reservationId ?? this.ctx.newId('r'),
      state: 'running',
      subnetId: subnet.subnetId,
      vpcId: subnet.vpcId,
      availabilityZone: subnet.availabilityZone,
      imageId: input.imageId ?? 'ami-0emulator00000000',
      instanceType: input.instanceType ?? 't3.medium',
      launchTime: now,
      primaryNetworkInterfaceId: eni.networkInterfaceId,
      tags: { ...input.tags },
    };
    this.instanceMap.set(instanceId, instance);
    this.remember(instanceId);
    this.attachNetworkInterface(eni.networkInterfaceId, instanceId, 0, { deleteOnTermination: true });
    if (input.state && input.state !== 'running') this.setInstanceState(instanceId, input.state);
    return clone(instance);
  }

  /**
   * Sets the lifecycle state. `terminated` has the real side effects (see terminateInstance);
   * other states are just recorded (a `shutting-down` instance keeps its ENIs, as in EC2).
   */
  setInstanceState(instanceId: string, state: InstanceStateName): void {
    const instance = this.instance(instanceId);
    if (state === 'terminated') return this.terminateInstance(instanceId);
    if (instance.state === 'terminated') throw this.incorrectInstanceState(instanceId);
    instance.state = state;
  }

  /**
   * Terminates at once: ENIs with DeleteOnTermination are deleted (their EIPs disassociated), the
   * others are detached and become `available`.
   */
  terminateInstance(instanceId: string): void {
    const instance = this.instance(instanceId);
    if (instance.state === 'terminated') return;
    instance.state = 'terminated';
    for (const eni of this.enisOf(instanceId)) {
      const att = eni.attachment!;
      if (att.deleteOnTermination) this.removeEni(eni);
      else {
        delete eni.attachment;
        eni.status = 'available';
      }
    }
  }

  /**
   * TerminateInstances as the wire does it: `shutting-down` now, `terminated` (with the side
   * effects of terminateInstance) after `terminateDelayMs`. Unknown ids fail the whole call.
   */
  beginTermination(
    instanceIds: string[],
  ): { instanceId: string; previous: InstanceStateName; current: InstanceStateName }[] {
    for (const id of instanceIds) checkIdFormat('instance', id);
    const missing = instanceIds.filter((id) => !this.instanceMap.has(id));
    if (missing.length > 0) throw notFound('instance', missing);
    return instanceIds.map((id) => {
      const instance = this.instanceMap.get(id)!;
      const previous = instance.state;
      if (previous !== 'terminated' && previous !== 'shutting-down') {
        instance.state = 'shutting-down';
        this.schedule(this.options.terminateDelayMs ?? 100, () => this.terminateInstance(id));
      }
      return { instanceId: id, previous, current: instance.state };
    });
  }

  private incorrectInstanceState(instanceId: string): EmulatorError {
    return new EmulatorError(
      'IncorrectInstanceState',
      `The instance '${instanceId}' is not in a state from which it can be modified.`,
    );
  }

  // ---------------------------------------------------------------- network interfaces

  createNetworkInterface(input: {
    subnetId: string;
    description?: string;
    tags?: Tags;
    privateIpAddress?: string;
    /** Explicit secondary addresses. */
    secondaryPrivateIpAddresses?: string[];
    /** Or this many automatically chosen secondary addresses. */
    secondaryPrivateIpAddressCount?: number;
    requesterManaged?: boolean;
    interfaceType?: string;
    /** Epoch ms; default now. */
    createTime?: number;
  }): NetworkInterfaceRecord {
    const subnet = this.subnet(input.subnetId);
    const used = this.usedIps(subnet.subnetId);
    const primary = this.takeIp(subnet, input.privateIpAddress, used);
    const secondaries = (input.secondaryPrivateIpAddresses ?? []).map((ip) => this.takeIp(subnet, ip, used));
    for (let i = 0; i < (input.secondaryPrivateIpAddressCount ?? 0); i++)
      secondaries.push(this.takeIp(subnet, undefined, used));
    const eni: NetworkInterfaceRecord = {
      networkInterfaceId: this.ctx.newId('eni'),
      subnetId: subnet.subnetId,
      vpcId: subnet.vpcId,
      availabilityZone: subnet.availabilityZone,
      description: input.description ?? '',
      status: 'available',
      privateIps: [
        { privateIpAddress: primary, primary: true },
        ...secondaries.map((ip) => ({ privateIpAddress: ip, primary: false })),
      ],
      requesterManaged: input.requesterManaged ?? false,
      interfaceType: input.interfaceType ?? 'interface',
      macAddress: this.macAddress(),
      sourceDestCheck: true,
      createTime: input.createTime ?? this.ctx.now(),
      tags: { ...input.tags },
    };
    this.eniMap.set(eni.networkInterfaceId, eni);
    this.remember(eni.networkInterfaceId);
    return clone(eni);
  }

  /** Backdates (or forwards) an ENI's internal creation time, for grace-period tests. */
  setNetworkInterfaceCreateTime(networkInterfaceId: string, epochMs: number): void {
    this.eni(networkInterfaceId).createTime = epochMs;
  }

  private macAddress(): string {
    const byte = () =>
      Math.floor(this.ctx.random() * 256)
        .toString(16)
        .padStart(2, '0');
    return ['0e', byte(), byte(), byte(), byte(), byte()].join(':');
  }

  /** AttachNetworkInterface; returns the `eni-attach-…` id. The attachment is `attached` at once. */
  attachNetworkInterface(
    networkInterfaceId: string,
    instanceId: string,
    deviceIndex: number,
    opts: { deleteOnTermination?: boolean } = {},
  ): string {
    const eni = this.eni(networkInterfaceId);
    const instance = this.instance(instanceId);
    if (instance.state !== 'running' && instance.state !== 'stopped')
      throw this.incorrectInstanceState(instanceId);
    if (eni.attachment || eni.status !== 'available')
      throw new EmulatorError('InvalidNetworkInterface.InUse', `Interface: [${networkInterfaceId}] in use.`);
    if (eni.vpcId !== instance.vpcId)
      throw invalidParameter(
        `Network interface ${networkInterfaceId} and instance ${instanceId} are in different VPCs`,
      );
    if (!Number.isInteger(deviceIndex) || deviceIndex < 0)
      throw invalidParameter(`Value (${deviceIndex}) for parameter deviceIndex is invalid.`);
    if (this.enisOf(instanceId).some((e) => e.attachment!.deviceIndex === deviceIndex))
      throw invalidParameter(
        `Instance '${instanceId}' already has an interface attached at device index '${deviceIndex}'.`,
      );
    const attachment: AttachmentRecord = {
      attachmentId: this.ctx.newId('eni-attach'),
      instanceId,
      deviceIndex,
      status: 'attached',
      deleteOnTermination: opts.deleteOnTermination ?? false,
      attachTime: this.ctx.now(),
    };
    eni.attachment = attachment;
    eni.status = 'in-use';
    return attachment.attachmentId;
  }

  /**
   * DetachNetworkInterface by attachment id: device index 0 is refused; the ENI is `detaching` for
   * `detachDelayMs`, then `available` with no attachment. Detaching a detaching ENI is a no-op.
   */
  detachNetworkInterface(attachmentId: string, _opts: { force?: boolean } = {}): void {
    checkIdFormat('attachment', attachmentId);
    const eni = this.eniByAttachment(attachmentId);
    if (!eni) throw notFound('attachment', [attachmentId]);
    const att = eni.attachment!;
    if (att.deviceIndex === 0)
      throw new EmulatorError(
        'OperationNotPermitted',
        'The network interface at device index 0 cannot be detached.',
      );
    if (eni.requesterManaged)
      throw new EmulatorError(
        'OperationNotPermitted',
        `You are not allowed to manage '${attachmentId}' attachments.`,
      );
    if (att.status === 'detaching') return;
    att.status = 'detaching';
    eni.status = 'detaching';
    this.schedule(this.options.detachDelayMs ?? 100, () => {
      if (eni.attachment !== att || !this.eniMap.has(eni.networkInterfaceId)) return;
      delete eni.attachment;
      eni.status = 'available';
    });
  }

  /** DeleteNetworkInterface: refused while attached or detaching; disassociates its EIPs. */
  deleteNetworkInterface(networkInterfaceId: string): void {
    const eni = this.eni(networkInterfaceId);
    if (eni.attachment || eni.status !== 'available')
      throw invalidParameter(`Network interface '${networkInterfaceId}' is currently in use.`);
    if (eni.requesterManaged)
      throw new EmulatorError(
        'OperationNotPermitted',
        'You do not have permission to access the specified resource.',
      );
    this.removeEni(eni);
  }

  private removeEni(eni: NetworkInterfaceRecord): void {
    for (const a of this.addressesOn(eni.networkInterfaceId)) delete a.association;
    this.eniMap.delete(eni.networkInterfaceId);
  }

  /** AssignPrivateIpAddresses: explicit addresses and/or `count` automatic ones; returns the new addresses. */
  assignPrivateIps(networkInterfaceId: string, input: { addresses?: string[]; count?: number }): string[] {
    const eni = this.eni(networkInterfaceId);
    const subnet = this.subnet(eni.subnetId);
    if (!input.addresses?.length && !input.count)
      throw new EmulatorError(
        'MissingParameter',
        'Either the private IP addresses or the secondary private IP address count must be specified.',
      );
    const used = this.usedIps(subnet.subnetId);
    const added = (input.addresses ?? []).map((ip) => this.takeIp(subnet, ip, used));
    for (let i = 0; i < (input.count ?? 0); i++) added.push(this.takeIp(subnet, undefined, used));
    eni.privateIps.push(...added.map((ip) => ({ privateIpAddress: ip, primary: false })));
    return added;
  }

  /**
   * UnassignPrivateIpAddresses: secondary addresses only; an address not assigned to the ENI gets
   * EC2's "Some of the specified addresses are not assigned" error. Their EIPs are disassociated.
   */
  unassignPrivateIps(networkInterfaceId: string, addresses: string[]): void {
    const eni = this.eni(networkInterfaceId);
    if (addresses.length === 0)
      throw new EmulatorError('MissingParameter', 'The request must contain the parameter PrivateIpAddress');
    for (const ip of addresses) {
      const rec = eni.privateIps.find((p) => p.privateIpAddress === ip);
      if (!rec)
        throw invalidParameter(
          `Some of the specified addresses are not assigned to interface ${networkInterfaceId}`,
        );
      if (rec.primary) throw invalidParameter('The primary IP address of an interface cannot be unassigned.');
    }
    eni.privateIps = eni.privateIps.filter((p) => !addresses.includes(p.privateIpAddress));
    for (const ip of addresses) {
      const a = this.addressOn(networkInterfaceId, ip);
      if (a) delete a.association;
    }
  }

  // ---------------------------------------------------------------- Elastic IPs

  allocateAddress(input: { tags?: Tags; publicIp?: string } = {}): AddressRecord {
    const n = ++this.publicIpCounter;
    const address: AddressRecord = {
      allocationId: this.ctx.newId('eipalloc'),
      publicIp: input.publicIp ?? numberToIp(ipToNumber('52.95.0.0')! + n),
      domain: 'vpc',
      tags: { ...input.tags },
    };
    this.addressMap.set(address.allocationId, address);
    this.remember(address.allocationId);
    return clone(address);
  }

  /**
   * AssociateAddress to an ENI's private IP (default: its primary) or an instance's primary ENI.
   * An address already associated needs `allowReassociation`; an EIP already on the target IP is
   * replaced. Returns the `eipassoc-…` id.
   */
  associateAddress(input: {
    allocationId: string;
    networkInterfaceId?: string;
    instanceId?: string;
    privateIpAddress?: string;
    allowReassociation?: boolean;
  }): string {
    const address = this.address(input.allocationId);
    let eni: NetworkInterfaceRecord;
    if (input.networkInterfaceId) eni = this.eni(input.networkInterfaceId);
    else if (input.instanceId) {
      const instance = this.instance(input.instanceId);
      if (instance.state !== 'running' && instance.state !== 'stopped')
        throw this.incorrectInstanceState(instance.instanceId);
      const primary = this.eniMap.get(instance.primaryNetworkInterfaceId);
      if (!primary) throw this.incorrectInstanceState(instance.instanceId);
      eni = primary;
    } else
      throw new EmulatorError(
        'MissingParameter',
        'Either an instance ID or a network interface ID must be specified.',
      );
    const privateIp = input.privateIpAddress ?? eni.privateIps[0].privateIpAddress;
    if (!eni.privateIps.some((p) => p.privateIpAddress === privateIp))
      throw invalidParameter(
        `The private IP address ${privateIp} is not associated with the network interface ${eni.networkInterfaceId}.`,
      );
    if (address.association && !input.allowReassociation)
      throw new EmulatorError(
        'Resource.AlreadyAssociated',
        `resource ${address.allocationId} is already associated with associate-id ${address.association.associationId}`,
      );
    const previous = this.addressOn(eni.networkInterfaceId, privateIp);
    if (previous && previous !== address) delete previous.association;
    const associationId = this.ctx.newId('eipassoc');
    this.issuedAddressAssociations.add(associationId);
    address.association = {
      associationId,
      networkInterfaceId: eni.networkInterfaceId,
      privateIpAddress: privateIp,
    };
    return associationId;
  }

  /** DisassociateAddress: idempotent for an association that existed; NotFound for one never issued. */
  disassociateAddress(associationId: string): void {
    checkIdFormat('addressAssociation', associationId);
    for (const a of this.addressMap.values())
      if (a.association?.associationId === associationId) {
        delete a.association;
        return;
      }
    if (!this.issuedAddressAssociations.has(associationId))
      throw notFound('addressAssociation', [associationId]);
  }

  /** ReleaseAddress: `InvalidIPAddress.InUse` while associated; NotFound once released. */
  releaseAddress(allocationId: string): void {
    const address = this.address(allocationId);
    if (address.association)
      throw new EmulatorError('InvalidIPAddress.InUse', `Address ${address.publicIp} is in use.`);
    this.addressMap.delete(allocationId);
  }

  // ---------------------------------------------------------------- tags

  createTags(resourceIds: string[], tags: Tags): void {
    const targets = resourceIds.map((id) => this.taggable(id));
    for (const t of targets) Object.assign(t.tags, tags);
  }

  /** DeleteTags: a key with value `undefined` deletes whatever value the tag has. */
  deleteTags(resourceIds: string[], tags: Record<string, string | undefined>): void {
    const targets = resourceIds.map((id) => this.taggable(id));
    for (const t of targets)
      for (const [k, v] of Object.entries(tags)) if (v === undefined || t.tags[k] === v) delete t.tags[k];
  }

  // ---------------------------------------------------------------- inspectors (deep copies)

  vpcs(): VpcRecord[] {
    return clone([...this.vpcMap.values()]);
  }
  internetGateways(): InternetGatewayRecord[] {
    return clone([...this.igwMap.values()]);
  }
  subnets(): SubnetRecord[] {
    return clone([...this.subnetMap.values()]);
  }
  routeTables(): RouteTableRecord[] {
    return clone([...this.routeTableMap.values()]);
  }
  instances(): InstanceRecord[] {
    return clone([...this.instanceMap.values()]);
  }
  networkInterfaces(): NetworkInterfaceRecord[] {
    return clone([...this.eniMap.values()]);
  }
  addresses(): AddressView[] {
    return [...this.addressMap.values()].map((a) => this.addressView(a));
  }

  protected addressView(a: AddressRecord): AddressView {
    const view: AddressView = clone(a);
    const instanceId =
      a.association && this.eniMap.get(a.association.networkInterfaceId)?.attachment?.instanceId;
    if (instanceId) view.instanceId = instanceId;
    return view;
  }

  /** Lookups by id that return undefined instead of throwing. */
  vpcById(id: string): VpcRecord | undefined {
    const r = this.vpcMap.get(id);
    return r && clone(r);
  }
  subnetById(id: string): SubnetRecord | undefined {
    const r = this.subnetMap.get(id);
    return r && clone(r);
  }
  routeTableById(id: string): RouteTableRecord | undefined {
    const r = this.routeTableMap.get(id);
    return r && clone(r);
  }
  instanceById(id: string): InstanceRecord | undefined {
    const r = this.instanceMap.get(id);
    return r && clone(r);
  }
  networkInterfaceById(id: string): NetworkInterfaceRecord | undefined {
    const r = this.eniMap.get(id);
    return r && clone(r);
  }
  addressById(allocationId: string): AddressView | undefined {
    const r = this.addressMap.get(allocationId);
    return r && this.addressView(r);
  }

  snapshot(): Ec2Snapshot {
    return {
      vpcs: this.vpcs(),
      internetGateways: this.internetGateways(),
      subnets: this.subnets(),
      routeTables: this.routeTables(),
      instances: this.instances(),
      networkInterfaces: this.networkInterfaces(),
      addresses: this.addresses(),
      deniedActions: [],
    };
  }
}
