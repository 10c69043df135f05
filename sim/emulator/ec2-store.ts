import { EmulatorContext } from './context';
import { checkIdFormat, Ec2Kind, invalidParameter, notFound } from './ec2-errors';
import {
  AddressRecord,
  AddressView,
  CidrAssociationRecord,
  Ec2Snapshot,
  InstanceRecord,
  InternetGatewayRecord,
  NetworkInterfaceRecord,
  RouteTableAssociationRecord,
  RouteTableRecord,
  SpotRequestRecord,
  SubnetRecord,
  Tags,
  VpcRecord,
} from './ec2-records';

export interface Ec2ServiceOptions {
  /** How long `DetachNetworkInterface` keeps an ENI in `detaching` before it is `available` (default 100). */
  detachDelayMs?: number;
  /**
   * Detaches stay `detaching` until `releaseHeldDetaches()` (default false): a test can then make the
   * teardown outlast something (a heartbeat, a signal) by construction instead of by timing.
   */
  holdDetaches?: boolean;
  /** How long `DisassociateVpcCidrBlock` keeps the association `disassociating` before it is gone (default 100). */
  cidrDisassociateDelayMs?: number;
  /** How long `TerminateInstances` (over the wire) keeps an instance `shutting-down` (default 100). */
  terminateDelayMs?: number;
  /** Default availability zone for subnets created without one. */
  defaultAvailabilityZone?: string;
}

export const OWNER_ID = '123456789012';
export const REGION = 'us-east-1';

export function clone<T>(value: T): T {
  return structuredClone(value);
}

/**
 * The EC2 state model in three layers: Ec2Store (records, timers, lookups, tags, inspectors) →
 * Ec2Network (ec2-network.ts: VPC, CIDR, gateway, subnet, route table rules) → Ec2State
 * (ec2-state.ts: instances, ENIs, EIPs). Every rule the teardown depends on lives in the model, so
 * the wire actions and the programmatic seed/"second actor" API behave exactly alike.
 */
export class Ec2Store {
  protected readonly vpcMap = new Map<string, VpcRecord>();
  protected readonly igwMap = new Map<string, InternetGatewayRecord>();
  protected readonly subnetMap = new Map<string, SubnetRecord>();
  protected readonly routeTableMap = new Map<string, RouteTableRecord>();
  protected readonly instanceMap = new Map<string, InstanceRecord>();
  protected readonly eniMap = new Map<string, NetworkInterfaceRecord>();
  protected readonly addressMap = new Map<string, AddressRecord>();
  /** Spot requests by request id. */
  protected readonly spotMap = new Map<string, SpotRequestRecord>();
  /** Creation order of every resource, for stable pagination across deletes. */
  protected readonly order = new Map<string, number>();
  private readonly timers = new Map<NodeJS.Timeout, () => void>();
  private seq = 0;

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

  protected remember(id: string): void {
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

  // addressOn / addressesOn / enisOf return LIVE records (for the renderers and filters): read only.

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
      ['sir-', this.spotMap, 'spotRequest'],
    ];
    for (const [prefix, map, kind] of maps) {
      if (!id.startsWith(prefix)) continue;
      const r = map.get(id);
      if (!r) throw notFound(kind, [id]);
      return r;
    }
    throw invalidParameter(`Invalid resource id: "${id}"`);
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
  spotRequests(): SpotRequestRecord[] {
    return clone([...this.spotMap.values()]);
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
      spotRequests: this.spotRequests(),
      deniedActions: [],
    };
  }
}
