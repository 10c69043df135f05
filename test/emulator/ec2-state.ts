import { checkIdFormat, Ec2Kind, invalidParameter, notFound } from './ec2-errors';
import { ipToNumber, numberToIp } from './ec2-ip';
import {
  AddressRecord,
  AttachmentRecord,
  InstanceRecord,
  InstanceStateName,
  NetworkInterfaceRecord,
  Tags,
} from './ec2-records';
import { Ec2Network } from './ec2-network';
import { clone } from './ec2-store';
import { EmulatorError } from './types';

export type { Ec2ServiceOptions } from './ec2-store';
export { OWNER_ID, REGION } from './ec2-store';

/** Layer 3: instances, network interfaces (attach/detach state machine, private IPs) and Elastic IPs. */
export class Ec2State extends Ec2Network {
  /** Every EIP association id ever issued: disassociating a stale one is a no-op, an unknown one is NotFound. */
  private readonly issuedAddressAssociations = new Set<string>();
  private publicIpCounter = 0;

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
    const finish = () => {
      if (eni.attachment !== att || !this.eniMap.has(eni.networkInterfaceId)) return;
      delete eni.attachment;
      eni.status = 'available';
    };
    if (this.options.holdDetaches) this.heldDetaches.push(finish);
    else this.schedule(this.options.detachDelayMs ?? 100, finish);
  }

  private heldDetaches: Array<() => void> = [];

  /** Finishes every detach held by `holdDetaches` (now) and stops holding new ones. Returns how many. */
  releaseHeldDetaches(): number {
    this.options.holdDetaches = false;
    const held = this.heldDetaches;
    this.heldDetaches = [];
    for (const finish of held) finish();
    return held.length;
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

  /**
   * Throws what EC2 answers for an id that does not resolve (Malformed / NotFound). A DryRun call
   * resolves the resources it names before it answers DryRunOperation; `resource` is any taggable id.
   */
  requireExisting(kind: Ec2Kind | 'resource', id: string): void {
    const check = (found: unknown, k: Ec2Kind) => {
      checkIdFormat(k, id);
      if (!found) throw notFound(k, [id]);
    };
    switch (kind) {
      case 'resource':
        this.taggable(id);
        return;
      case 'attachment':
        return check(this.eniByAttachment(id), kind);
      case 'addressAssociation':
        return check(this.issuedAddressAssociations.has(id), kind);
      case 'routeTableAssociation':
        return check(this.routeTableAssociation(id), kind);
      case 'vpcCidrAssociation':
        return check(this.cidrAssociation(id), kind);
      case 'vpc':
        return check(this.vpcMap.get(id), kind);
      case 'subnet':
        return check(this.subnetMap.get(id), kind);
      case 'routeTable':
        return check(this.routeTableMap.get(id), kind);
      case 'internetGateway':
        return check(this.igwMap.get(id), kind);
      case 'instance':
        return check(this.instanceMap.get(id), kind);
      case 'networkInterface':
        return check(this.eniMap.get(id), kind);
      case 'allocation':
        return check(this.addressMap.get(id), kind);
    }
  }

  /** ReleaseAddress: `InvalidIPAddress.InUse` while associated; NotFound once released. */
  releaseAddress(allocationId: string): void {
    const address = this.address(allocationId);
    if (address.association)
      throw new EmulatorError('InvalidIPAddress.InUse', `Address ${address.publicIp} is in use.`);
    this.addressMap.delete(allocationId);
  }
}
