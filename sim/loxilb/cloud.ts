import {
  AssignPrivateIpAddressesCommand,
  AssociateAddressCommand,
  AssociateRouteTableCommand,
  AssociateVpcCidrBlockCommand,
  AttachNetworkInterfaceCommand,
  CreateNetworkInterfaceCommand,
  CreateRouteCommand,
  CreateRouteTableCommand,
  CreateSubnetCommand,
  DeleteNetworkInterfaceCommand,
  DeleteRouteTableCommand,
  DeleteSubnetCommand,
  DescribeAddressesCommand,
  DescribeInternetGatewaysCommand,
  DescribeNetworkInterfacesCommand,
  DescribeRouteTablesCommand,
  DescribeSubnetsCommand,
  DescribeVpcsCommand,
  DetachNetworkInterfaceCommand,
  DisassociateAddressCommand,
  DisassociateRouteTableCommand,
  DisassociateVpcCidrBlockCommand,
  EC2Client,
  ModifyNetworkInterfaceAttributeCommand,
  UnassignPrivateIpAddressesCommand,
} from '@aws-sdk/client-ec2';

/**
 * loxilb's AWS cloud hook (pkg/loxinet/utils_aws.go) re-enacted call for call with the real
 * `@aws-sdk/client-ec2`, for the fake loxilb node (loxilb-node.ts). What it keeps faithfully,
 * because teardownd's correctness depends on it:
 *
 * - prepareVipNetwork (`CloudPrepareVIPNetWork`, on becoming MASTER of llb-inst0). Phase A, by tag
 *   VALUE region-wide with no VPC or instance filter: every ENI tagged `loxiType=loxilb-eni<inst>`
 *   is force-detached if attached (an error returns at once) and deleted, retrying ANY delete error
 *   `retry.count` times every `retry.intervalMs` (loxilb: 20 × 2 s; an ENI someone else already
 *   deleted therefore fails the takeover after the last retry); the subnets to delete are the
 *   ENIs' subnets (duplicates included), or the subnets tagged `loxilb-subnet<inst>` when no ENI is
 *   found; then route tables tagged `loxilb-routetable<inst>` are disassociated and deleted;
 *   DescribeVpcs by the cloud CIDR: associated to another VPC → disassociated there, to this VPC →
 *   kept, else AssociateVpcCidrBlock. Every error up to and including AssociateVpcCidrBlock
 *   returns the error (phase A). Phase B: CreateSubnet (whole CIDR, this AZ, tag),
 *   CreateRouteTable (tag), AssociateRouteTable, DescribeInternetGateways, CreateRoute 0.0.0.0/0 →
 *   IGW (an error only logs), CreateNetworkInterface (description `loxilb-eni`, the primary ENI's
 *   security groups, tag), AttachNetworkInterface at device index 1, ModifyNetworkInterfaceAttribute
 *   SourceDestCheck=false (an error only logs); any other phase-B error returns nil — the takeover
 *   is over either way, and a repeated MASTER never retries it.
 * - updatePrivateIp (`CloudUpdatePrivateIP`, per VIP on MASTER, and per VIP removed at SIGTERM):
 *   an EIP-mapped VIP needs the new interface (else "no loxi-eni found"), finds the EIP by public
 *   IP, then AssignPrivateIpAddresses{AllowReassignment} + AssociateAddress{AllowReassociation} —
 *   or, on removal, DisassociateAddress of whatever association the EIP has (never an unassign); a
 *   plain VIP is AssignPrivateIpAddresses / UnassignPrivateIpAddresses on loxilb's ENI.
 * - destroyVipNetwork (`CloudDestroyVIPNetWork`, last node standing at SIGTERM): force-detach and
 *   delete every tagged ENI (same retries), delete their subnets, disassociate the cloud CIDR from
 *   THIS VPC; never the route table; the first error returns.
 *
 * What it leaves out: the host side (netlink links, routes, gratuitous ARP) — a new interface is
 * "seen" as soon as its attach succeeds — and IMDS: instance id, VPC, AZ and security groups come
 * from the emulator's records of the node's instance, as IMDS would give them.
 */

export interface CloudCall {
  action: string;
  /** The resource the call named, when it named one. */
  target?: string;
  ok: boolean;
  errorCode?: string;
  /** Epoch ms when the call returned. */
  at: number;
}

export interface CloudIdentity {
  instanceId: string;
  vpcId: string;
  availabilityZone: string;
  securityGroupIds: string[];
}

export interface CloudOptions {
  /** loxilb `--cloudcidrblock`. */
  cloudCidr: string;
  /** loxilb `--cloudinstance` (default ''). */
  cloudInstance?: string;
  /** DeleteNetworkInterface retries (loxilb: 20 every 2000 ms). */
  retry?: { count?: number; intervalMs?: number };
}

export class CloudAborted extends Error {
  constructor(
    readonly action: string,
    readonly errorCode: string,
    message: string,
    readonly target?: string,
  ) {
    super(message);
  }
}

/** Thrown into an operation when its node dies mid-way: a dead process makes no more calls. */
export class NodeDied extends Error {}

const TAG_KEY = 'loxiType';

function errorCode(err: unknown): string {
  const e = err as { name?: string; Code?: string; code?: string };
  return e.Code ?? e.name ?? e.code ?? 'Error';
}

export class LoxilbCloud {
  /** loxilb's globals: the ENI it created (never cleared) and the host interface it appeared as. */
  loxiEniId = '';
  intfEniName = '';
  readonly tags: { eni: string; subnet: string; routeTable: string };
  private readonly retryCount: number;
  private readonly retryIntervalMs: number;
  private readonly holds = new Map<string, { arrived: () => void; released: Promise<void> }>();

  constructor(
    private readonly ec2: EC2Client,
    private readonly identity: () => CloudIdentity,
    private readonly opts: CloudOptions,
    /** Called after each call (the node records it); throws NodeDied when the node is gone. */
    private readonly onCall: (call: CloudCall) => void,
    private readonly alive: () => boolean,
  ) {
    const inst = opts.cloudInstance ?? '';
    this.tags = {
      eni: `loxilb-eni${inst}`,
      subnet: `loxilb-subnet${inst}`,
      routeTable: `loxilb-routetable${inst}`,
    };
    this.retryCount = opts.retry?.count ?? 20;
    this.retryIntervalMs = opts.retry?.intervalMs ?? 2000;
  }

  /**
   * Test knob — an EC2 call that takes as long as the test wants: the next `action` call waits
   * before it is sent until `release()`; `reached` resolves when the takeover gets there.
   */
  hold(action: string): { reached: Promise<void>; release: () => void } {
    let arrived!: () => void;
    let release!: () => void;
    const reached = new Promise<void>((r) => (arrived = r));
    const released = new Promise<void>((r) => (release = r));
    this.holds.set(action, { arrived, released });
    return { reached, release };
  }

  /** One EC2 call, recorded; an error is returned (not thrown) so each caller decides as loxilb does. */
  private async call<T>(
    action: string,
    target: string | undefined,
    send: () => Promise<T>,
  ): Promise<{ ok: true; out: T } | { ok: false; err: CloudAborted }> {
    const held = this.holds.get(action);
    if (held) {
      this.holds.delete(action);
      held.arrived();
      await held.released;
    }
    if (!this.alive()) throw new NodeDied(`node died before ${action}`);
    try {
      const out = await send();
      this.onCall({ action, target, ok: true, at: Date.now() });
      return { ok: true, out };
    } catch (err) {
      const code = errorCode(err);
      this.onCall({ action, target, ok: false, errorCode: code, at: Date.now() });
      return { ok: false, err: new CloudAborted(action, code, (err as Error).message, target) };
    }
  }

  private async sleep(ms: number): Promise<void> {
    await new Promise((r) => setTimeout(r, ms));
    if (!this.alive()) throw new NodeDied('node died while waiting to retry');
  }

  private tagFilter(value: string) {
    return [{ Name: `tag:${TAG_KEY}`, Values: [value] }];
  }

  /**
   * Phase A's (and destroy's) ENI wipe; returns the subnets to delete, or throws CloudAborted with
   * the first error loxilb returns on.
   */
  private async wipeEnis(): Promise<string[]> {
    const subnets: string[] = [];
    const listed = await this.call('DescribeNetworkInterfaces', undefined, () =>
      this.ec2.send(new DescribeNetworkInterfacesCommand({ Filters: this.tagFilter(this.tags.eni) })),
    );
    const enis = listed.ok ? (listed.out.NetworkInterfaces ?? []) : [];
    if (enis.length === 0) {
      const found = await this.call('DescribeSubnets', undefined, () =>
        this.ec2.send(new DescribeSubnetsCommand({ Filters: this.tagFilter(this.tags.subnet) })),
      );
      if (found.ok) for (const s of found.out.Subnets ?? []) subnets.push(s.SubnetId!);
      return subnets;
    }
    for (const eni of enis) {
      subnets.push(eni.SubnetId!);
      const eniId = eni.NetworkInterfaceId!;
      if (eni.Attachment) {
        const attachmentId = eni.Attachment.AttachmentId!;
        const detached = await this.call('DetachNetworkInterface', attachmentId, () =>
          this.ec2.send(new DetachNetworkInterfaceCommand({ AttachmentId: attachmentId, Force: true })),
        );
        if (!detached.ok) throw detached.err;
      }
      for (let left = this.retryCount; ;) {
        const deleted = await this.call('DeleteNetworkInterface', eniId, () =>
          this.ec2.send(new DeleteNetworkInterfaceCommand({ NetworkInterfaceId: eniId })),
        );
        if (deleted.ok) break;
        await this.sleep(this.retryIntervalMs);
        if (--left <= 0) throw deleted.err;
      }
    }
    return subnets;
  }

  private async deleteSubnets(subnets: string[]): Promise<void> {
    for (const subnetId of subnets) {
      const r = await this.call('DeleteSubnet', subnetId, () =>
        this.ec2.send(new DeleteSubnetCommand({ SubnetId: subnetId })),
      );
      if (!r.ok) throw r.err;
    }
  }

  /** `CloudPrepareVIPNetWork`: resolves when done, or throws CloudAborted with its `phase` ('A' | 'B'). */
  async prepareVipNetwork(): Promise<void> {
    const me = this.identity();
    const subnets = await this.wipeEnis().catch(phase('A'));
    await this.deleteSubnets(subnets).catch(phase('A'));
    const tables = await this.call('DescribeRouteTables', undefined, () =>
      this.ec2.send(new DescribeRouteTablesCommand({ Filters: this.tagFilter(this.tags.routeTable) })),
    );
    if (tables.ok)
      for (const table of tables.out.RouteTables ?? []) {
        for (const assoc of table.Associations ?? []) {
          if (!assoc.SubnetId) continue;
          const id = assoc.RouteTableAssociationId!;
          const r = await this.call('DisassociateRouteTable', id, () =>
            this.ec2.send(new DisassociateRouteTableCommand({ AssociationId: id })),
          );
          if (!r.ok) throw tag(r.err, 'A');
        }
        const tableId = table.RouteTableId!;
        const r = await this.call('DeleteRouteTable', tableId, () =>
          this.ec2.send(new DeleteRouteTableCommand({ RouteTableId: tableId })),
        );
        if (!r.ok) throw tag(r.err, 'A');
      }
    const cidr = this.opts.cloudCidr;
    const vpcs = await this.call('DescribeVpcs', undefined, () =>
      this.ec2.send(
        new DescribeVpcsCommand({ Filters: [{ Name: 'cidr-block-association.cidr-block', Values: [cidr] }] }),
      ),
    );
    if (!vpcs.ok) throw tag(vpcs.err, 'A');
    let needAssoc = true;
    for (const vpc of vpcs.out.Vpcs ?? []) {
      const assoc = (vpc.CidrBlockAssociationSet ?? []).find(
        (a) => a.CidrBlockState?.State === 'associated' && a.CidrBlock === cidr,
      );
      if (!assoc) continue;
      if (vpc.VpcId === me.vpcId) {
        needAssoc = false;
        continue;
      }
      const id = assoc.AssociationId!;
      const r = await this.call('DisassociateVpcCidrBlock', id, () =>
        this.ec2.send(new DisassociateVpcCidrBlockCommand({ AssociationId: id })),
      );
      if (!r.ok) throw tag(r.err, 'A');
    }
    if (needAssoc) {
      const r = await this.call('AssociateVpcCidrBlock', me.vpcId, () =>
        this.ec2.send(new AssociateVpcCidrBlockCommand({ VpcId: me.vpcId, CidrBlock: cidr })),
      );
      if (!r.ok) throw tag(r.err, 'A');
    }
    await this.buildVipNetwork(me);
  }

  /** Phase B: from here on loxilb logs and returns nil on an error. */
  private async buildVipNetwork(me: CloudIdentity): Promise<void> {
    const stop = (r: { ok: false; err: CloudAborted }) => tag(r.err, 'B');
    const subnet = await this.call('CreateSubnet', me.vpcId, () =>
      this.ec2.send(
        new CreateSubnetCommand({
          VpcId: me.vpcId,
          AvailabilityZone: me.availabilityZone,
          CidrBlock: this.opts.cloudCidr,
          TagSpecifications: [{ ResourceType: 'subnet', Tags: [{ Key: TAG_KEY, Value: this.tags.subnet }] }],
        }),
      ),
    );
    if (!subnet.ok) throw stop(subnet);
    const subnetId = subnet.out.Subnet!.SubnetId!;
    const table = await this.call('CreateRouteTable', me.vpcId, () =>
      this.ec2.send(
        new CreateRouteTableCommand({
          VpcId: me.vpcId,
          TagSpecifications: [
            { ResourceType: 'route-table', Tags: [{ Key: TAG_KEY, Value: this.tags.routeTable }] },
          ],
        }),
      ),
    );
    if (!table.ok) throw stop(table);
    const tableId = table.out.RouteTable!.RouteTableId!;
    const assoc = await this.call('AssociateRouteTable', tableId, () =>
      this.ec2.send(new AssociateRouteTableCommand({ RouteTableId: tableId, SubnetId: subnetId })),
    );
    if (!assoc.ok) throw stop(assoc);
    const igws = await this.call('DescribeInternetGateways', undefined, () =>
      this.ec2.send(
        new DescribeInternetGatewaysCommand({ Filters: [{ Name: 'attachment.vpc-id', Values: [me.vpcId] }] }),
      ),
    );
    if (!igws.ok) throw stop(igws);
    const igwId = igws.out.InternetGateways?.[0]?.InternetGatewayId;
    if (!igwId)
      throw tag(
        new CloudAborted('DescribeInternetGateways', 'NoInternetGateway', `no IGW on ${me.vpcId}`),
        'B',
      );
    await this.call('CreateRoute', tableId, () =>
      this.ec2.send(
        new CreateRouteCommand({
          RouteTableId: tableId,
          DestinationCidrBlock: '0.0.0.0/0',
          GatewayId: igwId,
        }),
      ),
    );
    const eni = await this.call('CreateNetworkInterface', subnetId, () =>
      this.ec2.send(
        new CreateNetworkInterfaceCommand({
          SubnetId: subnetId,
          Description: 'loxilb-eni',
          Groups: me.securityGroupIds.length > 0 ? me.securityGroupIds : undefined,
          TagSpecifications: [
            { ResourceType: 'network-interface', Tags: [{ Key: TAG_KEY, Value: this.tags.eni }] },
          ],
        }),
      ),
    );
    if (!eni.ok) throw stop(eni);
    const eniId = eni.out.NetworkInterface!.NetworkInterfaceId!;
    this.loxiEniId = eniId;
    const attached = await this.call('AttachNetworkInterface', eniId, () =>
      this.ec2.send(
        new AttachNetworkInterfaceCommand({
          DeviceIndex: 1,
          InstanceId: me.instanceId,
          NetworkInterfaceId: eniId,
        }),
      ),
    );
    if (!attached.ok) throw stop(attached);
    await this.call('ModifyNetworkInterfaceAttribute', eniId, () =>
      this.ec2.send(
        new ModifyNetworkInterfaceAttributeCommand({
          NetworkInterfaceId: eniId,
          SourceDestCheck: { Value: false },
        }),
      ),
    );
    this.intfEniName = 'eth1';
  }

  /** `CloudUnPrepareVIPNetWork` (becoming BACKUP): host routes only, no AWS call. */
  unprepareVipNetwork(): void {
    this.intfEniName = '';
  }

  /** `CloudUpdatePrivateIP(vIP, eIP, add)`; throws CloudAborted with the failing call. */
  async updatePrivateIp(privateIp: string, publicIp: string | undefined, add: boolean): Promise<void> {
    if (publicIp === undefined || publicIp === privateIp) {
      if (!this.loxiEniId)
        throw new CloudAborted('CloudUpdatePrivateIP', 'NoInterface', 'not found interface');
      const eniId = this.loxiEniId;
      const r = add
        ? await this.call('AssignPrivateIpAddresses', eniId, () =>
            this.ec2.send(
              new AssignPrivateIpAddressesCommand({
                NetworkInterfaceId: eniId,
                PrivateIpAddresses: [privateIp],
                AllowReassignment: true,
              }),
            ),
          )
        : await this.call('UnassignPrivateIpAddresses', eniId, () =>
            this.ec2.send(
              new UnassignPrivateIpAddressesCommand({
                NetworkInterfaceId: eniId,
                PrivateIpAddresses: [privateIp],
              }),
            ),
          );
      if (!r.ok) throw r.err;
      return;
    }
    if (!this.intfEniName) throw new CloudAborted('CloudUpdatePrivateIP', 'NoInterface', 'no loxi-eni found');
    const eniId = this.loxiEniId;
    const found = await this.call('DescribeAddresses', publicIp, () =>
      this.ec2.send(new DescribeAddressesCommand({ Filters: [{ Name: 'public-ip', Values: [publicIp] }] })),
    );
    if (!found.ok) throw found.err;
    const address = found.out.Addresses?.[0];
    if (!address) throw new CloudAborted('DescribeAddresses', 'NotFound', `not found Elastic IP ${publicIp}`);
    if (!add) {
      const associationId = address.AssociationId ?? '';
      const r = await this.call('DisassociateAddress', associationId, () =>
        this.ec2.send(new DisassociateAddressCommand({ AssociationId: associationId })),
      );
      if (!r.ok) throw r.err;
      return;
    }
    const assigned = await this.call('AssignPrivateIpAddresses', eniId, () =>
      this.ec2.send(
        new AssignPrivateIpAddressesCommand({
          NetworkInterfaceId: eniId,
          PrivateIpAddresses: [privateIp],
          AllowReassignment: true,
        }),
      ),
    );
    if (!assigned.ok) throw assigned.err;
    const allocationId = address.AllocationId!;
    const associated = await this.call('AssociateAddress', allocationId, () =>
      this.ec2.send(
        new AssociateAddressCommand({
          AllocationId: allocationId,
          NetworkInterfaceId: eniId,
          PrivateIpAddress: privateIp,
          AllowReassociation: true,
        }),
      ),
    );
    if (!associated.ok) throw associated.err;
  }

  /** `CloudDestroyVIPNetWork`; throws CloudAborted with the first error. */
  async destroyVipNetwork(): Promise<void> {
    const me = this.identity();
    const subnets = await this.wipeEnis();
    await this.deleteSubnets(subnets);
    const cidr = this.opts.cloudCidr;
    const vpcs = await this.call('DescribeVpcs', undefined, () =>
      this.ec2.send(
        new DescribeVpcsCommand({ Filters: [{ Name: 'cidr-block-association.cidr-block', Values: [cidr] }] }),
      ),
    );
    if (!vpcs.ok) throw vpcs.err;
    for (const vpc of vpcs.out.Vpcs ?? []) {
      if (vpc.VpcId !== me.vpcId) continue;
      const assoc = (vpc.CidrBlockAssociationSet ?? []).find(
        (a) => a.CidrBlockState?.State === 'associated' && a.CidrBlock === cidr,
      );
      if (!assoc) continue;
      const id = assoc.AssociationId!;
      const r = await this.call('DisassociateVpcCidrBlock', id, () =>
        this.ec2.send(new DisassociateVpcCidrBlockCommand({ AssociationId: id })),
      );
      if (!r.ok) throw r.err;
    }
  }
}

export type TakeoverPhase = 'A' | 'B';

function tag(err: CloudAborted, p: TakeoverPhase): CloudAborted & { phase: TakeoverPhase } {
  return Object.assign(err, { phase: p });
}

function phase(p: TakeoverPhase) {
  return (err: unknown): never => {
    throw err instanceof CloudAborted ? tag(err, p) : err;
  };
}
