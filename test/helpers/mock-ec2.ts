import {
  Address,
  DeleteNetworkInterfaceCommand,
  DeleteNetworkInterfaceCommandInput,
  DeleteRouteTableCommand,
  DeleteRouteTableCommandInput,
  DeleteSubnetCommand,
  DeleteSubnetCommandInput,
  DescribeAddressesCommand,
  DescribeAddressesCommandInput,
  DescribeInstancesCommand,
  DescribeInstancesCommandInput,
  DescribeNetworkInterfacesCommand,
  DescribeNetworkInterfacesCommandInput,
  DescribeRouteTablesCommand,
  DescribeRouteTablesCommandInput,
  DescribeSubnetsCommand,
  DescribeSubnetsCommandInput,
  DescribeVpcsCommand,
  DescribeVpcsCommandInput,
  DetachNetworkInterfaceCommand,
  DetachNetworkInterfaceCommandInput,
  DisassociateAddressCommand,
  DisassociateAddressCommandInput,
  DisassociateRouteTableCommand,
  DisassociateRouteTableCommandInput,
  DisassociateVpcCidrBlockCommand,
  DisassociateVpcCidrBlockCommandInput,
  EC2Client,
  Filter,
  NetworkInterface,
  ReleaseAddressCommand,
  ReleaseAddressCommandInput,
  RouteTable,
  Subnet,
  Tag,
  Vpc,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';

/**
 * An in-memory EC2 behind aws-sdk-client-mock, for unit tests of the engine: the real SDK client
 * (middleware and all) with a small state machine answering the calls the engine makes. Detaching
 * ENIs stay `detaching` for `detachPolls` DescribeNetworkInterfaces calls that include them.
 */

export function awsError(code: string, status = 400, message = code): Error {
  return Object.assign(new Error(message), {
    name: code,
    Code: code,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
  });
}

export interface Call {
  action: string;
  input: Record<string, unknown>;
}

const MUTATING = /^(Disassociate|Release|Detach|Delete|Create|Associate|Attach)/;

export class MockEc2 {
  readonly client = new EC2Client({
    region: 'us-east-1',
    maxAttempts: 1,
    credentials: { accessKeyId: 'AKIATEST', secretAccessKey: 'test' },
  });
  readonly mock = mockClient(this.client);
  readonly calls: Call[] = [];
  enis = new Map<string, NetworkInterface>();
  addresses: Address[] = [];
  subnets = new Map<string, Subnet>();
  routeTables = new Map<string, RouteTable>();
  vpcs = new Map<string, Vpc>();
  instances = new Map<string, string>(); // instance id → vpc id
  detachPolls = 1;
  private detaching = new Map<string, number>();
  /** Errors to answer instead of the call: action → queue of errors. */
  private failures = new Map<string, Error[]>();
  /** Called before each call is answered (e.g. a "second actor" deleting things). */
  beforeCall?: (action: string, input: Record<string, unknown>) => void;
  /** Calls of each action being answered right now, and the most seen at once (answers yield to the event loop first). */
  private inFlight = new Map<string, number>();
  maxInFlight = new Map<string, number>();

  constructor() {
    const on = <I extends object>(cmd: unknown, name: string, fn: (input: I) => unknown) =>
      this.mock.on(cmd as never).callsFake(async (input: I) => {
        this.calls.push({ action: name, input: input as Record<string, unknown> });
        const now = (this.inFlight.get(name) ?? 0) + 1;
        this.inFlight.set(name, now);
        this.maxInFlight.set(name, Math.max(this.maxInFlight.get(name) ?? 0, now));
        try {
          await new Promise<void>((r) => setImmediate(r));
          this.beforeCall?.(name, input as Record<string, unknown>);
          const queued = this.failures.get(name);
          if (queued?.length) throw queued.shift();
          return fn(input);
        } finally {
          this.inFlight.set(name, this.inFlight.get(name)! - 1);
        }
      });
    on(
      DescribeNetworkInterfacesCommand,
      'DescribeNetworkInterfaces',
      (i: DescribeNetworkInterfacesCommandInput) => ({
        NetworkInterfaces: this.describeEnis(i.Filters ?? []),
      }),
    );
    on(DescribeAddressesCommand, 'DescribeAddresses', (i: DescribeAddressesCommandInput) => ({
      Addresses: this.addresses.filter((a) => matches(i.Filters ?? [], addressFields(a), a.Tags)),
    }));
    on(DescribeSubnetsCommand, 'DescribeSubnets', (i: DescribeSubnetsCommandInput) => ({
      Subnets: [...this.subnets.values()].filter((s) =>
        matches(i.Filters ?? [], { 'vpc-id': s.VpcId, 'subnet-id': s.SubnetId }, s.Tags),
      ),
    }));
    on(DescribeRouteTablesCommand, 'DescribeRouteTables', (i: DescribeRouteTablesCommandInput) => ({
      RouteTables: [...this.routeTables.values()].filter((r) =>
        matches(i.Filters ?? [], { 'vpc-id': r.VpcId }, r.Tags),
      ),
    }));
    on(DescribeVpcsCommand, 'DescribeVpcs', (i: DescribeVpcsCommandInput) => ({
      Vpcs: [...this.vpcs.values()].filter((v) => !i.VpcIds || i.VpcIds.includes(v.VpcId!)),
    }));
    on(DescribeInstancesCommand, 'DescribeInstances', (i: DescribeInstancesCommandInput) => {
      const id = i.InstanceIds?.[0] ?? '';
      const vpc = this.instances.get(id);
      if (!vpc) throw awsError('InvalidInstanceID.NotFound');
      return { Reservations: [{ Instances: [{ InstanceId: id, VpcId: vpc }] }] };
    });
    on(DisassociateAddressCommand, 'DisassociateAddress', (i: DisassociateAddressCommandInput) => {
      const a = this.addresses.find((x) => x.AssociationId === i.AssociationId);
      if (!a) throw awsError('InvalidAssociationID.NotFound');
      delete a.AssociationId;
      delete a.NetworkInterfaceId;
      delete a.PrivateIpAddress;
      return {};
    });
    on(ReleaseAddressCommand, 'ReleaseAddress', (i: ReleaseAddressCommandInput) => {
      const a = this.addresses.find((x) => x.AllocationId === i.AllocationId);
      if (!a) throw awsError('InvalidAllocationID.NotFound');
      if (a.AssociationId) throw awsError('InvalidIPAddress.InUse');
      this.addresses = this.addresses.filter((x) => x !== a);
      return {};
    });
    on(DetachNetworkInterfaceCommand, 'DetachNetworkInterface', (i: DetachNetworkInterfaceCommandInput) => {
      const eni = [...this.enis.values()].find((e) => e.Attachment?.AttachmentId === i.AttachmentId);
      if (!eni || eni.Attachment?.Status === 'detached') throw awsError('InvalidAttachmentID.NotFound');
      if (eni.Attachment!.DeviceIndex === 0) throw awsError('OperationNotPermitted');
      eni.Attachment!.Status = 'detaching';
      eni.Status = 'detaching';
      this.detaching.set(eni.NetworkInterfaceId!, this.detachPolls);
      return {};
    });
    on(DeleteNetworkInterfaceCommand, 'DeleteNetworkInterface', (i: DeleteNetworkInterfaceCommandInput) => {
      const eni = this.enis.get(i.NetworkInterfaceId!);
      if (!eni) throw awsError('InvalidNetworkInterfaceID.NotFound');
      if (eni.Status !== 'available') throw awsError('InvalidNetworkInterface.InUse');
      this.enis.delete(i.NetworkInterfaceId!);
      return {};
    });
    on(DisassociateRouteTableCommand, 'DisassociateRouteTable', (i: DisassociateRouteTableCommandInput) => {
      for (const rt of this.routeTables.values()) {
        const before = rt.Associations?.length ?? 0;
        rt.Associations = (rt.Associations ?? []).filter(
          (a) => a.RouteTableAssociationId !== i.AssociationId,
        );
        if (rt.Associations.length !== before) return {};
      }
      throw awsError('InvalidAssociationID.NotFound');
    });
    on(DeleteRouteTableCommand, 'DeleteRouteTable', (i: DeleteRouteTableCommandInput) => {
      const rt = this.routeTables.get(i.RouteTableId!);
      if (!rt) throw awsError('InvalidRouteTableID.NotFound');
      if (rt.Associations?.length) throw awsError('DependencyViolation');
      this.routeTables.delete(i.RouteTableId!);
      return {};
    });
    on(DeleteSubnetCommand, 'DeleteSubnet', (i: DeleteSubnetCommandInput) => {
      if (!this.subnets.has(i.SubnetId!)) throw awsError('InvalidSubnetID.NotFound');
      if ([...this.enis.values()].some((e) => e.SubnetId === i.SubnetId))
        throw awsError('DependencyViolation');
      this.subnets.delete(i.SubnetId!);
      for (const rt of this.routeTables.values()) {
        rt.Associations = (rt.Associations ?? []).filter((a) => a.SubnetId !== i.SubnetId);
      }
      return {};
    });
    on(
      DisassociateVpcCidrBlockCommand,
      'DisassociateVpcCidrBlock',
      (i: DisassociateVpcCidrBlockCommandInput) => {
        for (const vpc of this.vpcs.values()) {
          const assoc = vpc.CidrBlockAssociationSet?.find((a) => a.AssociationId === i.AssociationId);
          if (!assoc) continue;
          if (assoc.CidrBlock === vpc.CidrBlock) throw awsError('OperationNotPermitted');
          vpc.CidrBlockAssociationSet = vpc.CidrBlockAssociationSet!.filter((a) => a !== assoc);
          return {
            CidrBlockAssociation: { ...assoc, CidrBlockState: { State: 'disassociating' } },
            VpcId: vpc.VpcId,
          };
        }
        throw awsError('InvalidVpcCidrBlockAssociationID.NotFound');
      },
    );
  }

  /** Queues `errors` for the next calls of `action`. */
  fail(action: string, ...errors: Error[]): void {
    this.failures.set(action, [...(this.failures.get(action) ?? []), ...errors]);
  }

  mutatingCalls(): Call[] {
    return this.calls.filter((c) => MUTATING.test(c.action));
  }

  count(action: string): number {
    return this.calls.filter((c) => c.action === action).length;
  }

  private describeEnis(filters: Filter[]): NetworkInterface[] {
    const out: NetworkInterface[] = [];
    for (const eni of this.enis.values()) {
      const fields = {
        'network-interface-id': eni.NetworkInterfaceId,
        'subnet-id': eni.SubnetId,
        'vpc-id': eni.VpcId,
        'attachment.instance-id': eni.Attachment?.InstanceId,
      };
      if (!matches(filters, fields, eni.TagSet)) continue;
      const left = this.detaching.get(eni.NetworkInterfaceId!);
      if (left !== undefined) {
        if (left <= 0) {
          this.detaching.delete(eni.NetworkInterfaceId!);
          delete eni.Attachment;
          eni.Status = 'available';
        } else this.detaching.set(eni.NetworkInterfaceId!, left - 1);
      }
      out.push(structuredClone(eni));
    }
    return out;
  }

  // ---- seeding ----

  /** The loxilb footprint of one master plus decoys, like loxilb creates it. */
  seedFootprint(opts: { instanceId: string; peerInstanceId?: string; eips?: number; vips?: number }): void {
    const { instanceId } = opts;
    const vips = opts.vips ?? 4;
    const eips = opts.eips ?? 4;
    this.instances.set(instanceId, 'vpc-1');
    this.vpcs.set('vpc-1', {
      VpcId: 'vpc-1',
      CidrBlock: '10.0.0.0/16',
      CidrBlockAssociationSet: [
        {
          AssociationId: 'vpc-cidr-assoc-primary',
          CidrBlock: '10.0.0.0/16',
          CidrBlockState: { State: 'associated' },
        },
        {
          AssociationId: 'vpc-cidr-assoc-lx',
          CidrBlock: '123.123.123.0/28',
          CidrBlockState: { State: 'associated' },
        },
      ],
    });
    this.subnets.set('subnet-app', { SubnetId: 'subnet-app', VpcId: 'vpc-1', CidrBlock: '10.0.1.0/24' });
    this.subnets.set('subnet-lx', {
      SubnetId: 'subnet-lx',
      VpcId: 'vpc-1',
      CidrBlock: '123.123.123.0/28',
      AvailabilityZone: 'us-east-1a',
      Tags: tags({ loxiType: 'loxilb-subnet' }),
    });
    this.routeTables.set('rtb-lx', {
      RouteTableId: 'rtb-lx',
      VpcId: 'vpc-1',
      Tags: tags({ loxiType: 'loxilb-routetable' }),
      Associations: [
        {
          RouteTableAssociationId: 'rtbassoc-lx',
          RouteTableId: 'rtb-lx',
          SubnetId: 'subnet-lx',
          Main: false,
          AssociationState: { State: 'associated' },
        },
      ],
    });
    this.routeTables.set('rtb-main', {
      RouteTableId: 'rtb-main',
      VpcId: 'vpc-1',
      Associations: [{ RouteTableAssociationId: 'rtbassoc-main', RouteTableId: 'rtb-main', Main: true }],
    });
    this.enis.set('eni-primary', {
      NetworkInterfaceId: 'eni-primary',
      SubnetId: 'subnet-app',
      VpcId: 'vpc-1',
      Status: 'in-use',
      Attachment: {
        AttachmentId: 'eni-attach-primary',
        InstanceId: instanceId,
        DeviceIndex: 0,
        Status: 'attached',
      },
      PrivateIpAddresses: [{ PrivateIpAddress: '10.0.1.10', Primary: true }],
    });
    const ips = Array.from({ length: vips + 1 }, (_, k) => `123.123.123.${4 + k}`);
    this.enis.set('eni-lx', {
      NetworkInterfaceId: 'eni-lx',
      SubnetId: 'subnet-lx',
      VpcId: 'vpc-1',
      Status: 'in-use',
      Description: 'loxilb-eni',
      TagSet: tags({ loxiType: 'loxilb-eni' }),
      Attachment: {
        AttachmentId: 'eni-attach-lx',
        InstanceId: instanceId,
        DeviceIndex: 1,
        Status: 'attached',
      },
      PrivateIpAddresses: ips.map((ip, k) => ({ PrivateIpAddress: ip, Primary: k === 0 })),
    });
    for (let k = 0; k < eips; k++) {
      this.addresses.push({
        AllocationId: `eipalloc-${k}`,
        AssociationId: `eipassoc-${k}`,
        PublicIp: `3.3.3.${k}`,
        NetworkInterfaceId: 'eni-lx',
        PrivateIpAddress: ips[1 + (k % vips)],
        Domain: 'vpc',
      });
    }
    // A decoy: an unrelated EIP nobody may touch.
    this.addresses.push({ AllocationId: 'eipalloc-decoy', PublicIp: '3.3.9.9', Domain: 'vpc' });
  }
}

export function tags(record: Record<string, string>): Tag[] {
  return Object.entries(record).map(([Key, Value]) => ({ Key, Value }));
}

function addressFields(a: Address): Record<string, string | undefined> {
  return {
    'network-interface-id': a.NetworkInterfaceId,
    'allocation-id': a.AllocationId,
    'association-id': a.AssociationId,
  };
}

function matches(filters: Filter[], fields: Record<string, string | undefined>, tagList?: Tag[]): boolean {
  const t = Object.fromEntries((tagList ?? []).map((x) => [x.Key, x.Value]));
  return filters.every((f) => {
    const name = f.Name ?? '';
    const value = name.startsWith('tag:') ? t[name.slice(4)] : fields[name];
    if (!(name in fields) && !name.startsWith('tag:'))
      throw awsError('InvalidParameterValue', 400, `filter ${name}`);
    return value !== undefined && (f.Values ?? []).includes(value);
  });
}
