import { checkIdFormat, Ec2Kind, invalidParameter, notFound } from './ec2-errors';
import { ipToNumber, numberToIp } from './ec2-ip';
import {
  AddressRecord,
  AttachmentRecord,
  InstanceRecord,
  InstanceStateName,
  NetworkInterfaceRecord,
  SpotRequestRecord,
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
    /** Security groups of its primary ENI (default none). */
    securityGroupIds?: string[];
    /** Launched from a one-time spot request (`sir-…`, active/fulfilled). */
    spot?: boolean;
  }): InstanceRecord {
    const subnet = this.subnet(input.subnetId);
    const instanceId = input.instanceId ?? this.ctx.newId('i');
    checkIdFormat('instance', instanceId);
    if (this.instanceMap.has(instanceId)) throw invalidParameter(`Instance ${instanceId} already exists`);
    const eni = this.createNetworkInterface({
      subnetId: subnet.subnetId,
      privateIpAddress: input.privateIpAddress,
      securityGroupIds: input.securityGroupIds,
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
    if (input.spot) this.requestSpot(instanceId);
    if (input.state && input.state !== 'running') this.setInstanceState(instanceId, input.state);
    return clone(instance);
  }

  // ---------------------------------------------------------------- spot requests

  /** Records a fulfilled one-time spot request for a (running) instance; returns the request. */
  requestSpot(instanceId: string): SpotRequestRecord {
    const instance = this.instance(instanceId);
    if (this.spotRequestOf(instanceId))
      throw invalidParameter(`Instance ${instanceId} already has a spot request`);
    const now = this.ctx.now();
    const request: SpotRequestRecord = {
      spotInstanceRequestId: `sir-${this.ctx.newId('x').slice(2, 10)}`,
      instanceId,
      state: 'active',
      statusCode: 'fulfilled',
      statusMessage: 'Your spot request is fulfilled.',
      updateTime: now,
      createTime: now,
      availabilityZone: instance.availabilityZone,
      instanceType: instance.instanceType,
      tags: {},
    };
    this.spotMap.set(request.spotInstanceRequestId, request);
    this.remember(request.spotInstanceRequestId);
    return clone(request);
  }

  /**
   * What EC2 shows during a spot interruption's two minutes: the request stays `active` with status
   * `marked-for-termination` (the instance is still `running`). Terminating it afterwards closes the
   * request as `instance-terminated-no-capacity`.
   */
  markSpotForTermination(instanceId: string): SpotRequestRecord {
    const request = this.spotRequestOf(instanceId);
    if (!request) throw new Error(`emulator: ${instanceId} has no spot request (runInstance({spot: true}))`);
    this.setSpotStatus(
      request,
      'active',
      'marked-for-termination',
      'Your Spot Instance has been marked for termination because there is no capacity available.',
    );
    return clone(request);
  }

  private spotRequestOf(instanceId: string): SpotRequestRecord | undefined {
    for (const r of this.spotMap.values()) if (r.instanceId === instanceId) return r;
    return undefined;
  }

  private setSpotStatus(
    request: SpotRequestRecord,
    state: SpotRequestRecord['state'],
    code: string,
    message: string,
  ): void {
    request.state = state;
    request.statusCode = code;
    request.statusMessage = message;
    request.updateTime = this.ctx.now();
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
    const spot = this.spotRequestOf(instanceId);
    if (spot?.state === 'active') {
      const reclaimed = spot.statusCode === 'marked-for-termination';
      this.setSpotStatus(
        spot,
        'closed',
        reclaimed ? 'instance-terminated-no-capacity' : 'instance-terminated-by-user',
        reclaimed
          ? 'Your Spot Instance was terminated because there is no Spot capacity available that matches your request.'
          : 'Your Spot Instance was terminated by the user.',
      );
    }
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
    /** `SecurityGroupId.N` (default none). */
    securityGroupIds?: string[];
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
      groups: (input.securityGroupIds ?? []).map((groupId) => securityGroupRef(groupId)),
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
   * `force` (loxilb's takeover always sets it) is accepted whatever the instance's state — running,
   * stopping or shutting-down — and is still asynchronous: the attachment remembers it
   * (`forcedDetach`), nothing else changes. A terminated instance has no attachments left to name.
   */
  detachNetworkInterface(attachmentId: string, opts: { force?: boolean } = {}): void {
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
    if (opts.force) att.forcedDetach = true;
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

  /**
   * AssignPrivateIpAddresses: explicit addresses and/or `count` automatic ones; returns the new
   * addresses. With `allowReassignment` an address that is a secondary IP of another ENI in the
   * subnet moves here, and its EIP association moves with it (an address already on this ENI is
   * left as it is); without it such an address is `InvalidIPAddress.InUse`.
   */
  assignPrivateIps(
    networkInterfaceId: string,
    input: { addresses?: string[]; count?: number; allowReassignment?: boolean },
  ): string[] {
    const eni = this.eni(networkInterfaceId);
    const subnet = this.subnet(eni.subnetId);
    if (!input.addresses?.length && !input.count)
      throw new EmulatorError(
        'MissingParameter',
        'Either the private IP addresses or the secondary private IP address count must be specified.',
      );
    let wanted = input.addresses ?? [];
    const moving: { from: NetworkInterfaceRecord; ip: string }[] = [];
    if (input.allowReassignment) {
      wanted = wanted.filter((ip) => !eni.privateIps.some((p) => p.privateIpAddress === ip));
      for (const ip of wanted) {
        const holder = [...this.eniMap.values()].find(
          (e) =>
            e !== eni && e.subnetId === eni.subnetId && e.privateIps.some((p) => p.privateIpAddress === ip),
        );
        if (!holder) continue;
        if (holder.privateIps.find((p) => p.privateIpAddress === ip)!.primary)
          throw new EmulatorError('InvalidIPAddress.InUse', `Address ${ip} is in use.`);
        moving.push({ from: holder, ip });
      }
    }
    const eips = moving.map(({ from, ip }) => this.addressOn(from.networkInterfaceId, ip));
    for (const { from, ip } of moving)
      from.privateIps = from.privateIps.filter((p) => p.privateIpAddress !== ip);
    const used = this.usedIps(subnet.subnetId);
    const added = wanted.map((ip) => this.takeIp(subnet, ip, used));
    for (let i = 0; i < (input.count ?? 0); i++) added.push(this.takeIp(subnet, undefined, used));
    eni.privateIps.push(...added.map((ip) => ({ privateIpAddress: ip, primary: false })));
    eips.forEach((a) => {
      if (a?.association) a.association.networkInterfaceId = eni.networkInterfaceId;
    });
    return added;
  }

  /**
   * ModifyNetworkInterfaceAttribute: exactly one of source/dest check, description, security
   * groups or the attachment's DeleteOnTermination per call, as EC2 requires.
   */
  modifyNetworkInterfaceAttribute(
    networkInterfaceId: string,
    change: {
      sourceDestCheck?: boolean;
      description?: string;
      securityGroupIds?: string[];
      attachment?: { attachmentId: string; deleteOnTermination: boolean };
    },
  ): void {
    const eni = this.eni(networkInterfaceId);
    const given = Object.values(change).filter((v) => v !== undefined).length;
    if (given !== 1)
      throw new EmulatorError(
        given === 0 ? 'MissingParameter' : 'InvalidParameterCombination',
        given === 0
          ? 'The request must contain exactly one attribute to modify.'
          : 'Fields for multiple attribute types specified: ' + Object.keys(change).join(', '),
      );
    if (change.sourceDestCheck !== undefined) eni.sourceDestCheck = change.sourceDestCheck;
    if (change.description !== undefined) eni.description = change.description;
    if (change.securityGroupIds !== undefined)
      eni.groups = change.securityGroupIds.map((g) => securityGroupRef(g));
    if (change.attachment) {
      if (eni.attachment?.attachmentId !== change.attachment.attachmentId)
        throw notFound('attachment', [change.attachment.attachmentId]);
      eni.attachment.deleteOnTermination = change.attachment.deleteOnTermination;
    }
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
      case 'spotRequest':
        return check(this.spotMap.get(id), kind);
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

/** The emulator has no security group records: a group is its id, named after it. */
function securityGroupRef(groupId: string) {
  if (!/^sg-[0-9a-z]+$/.test(groupId))
    throw new EmulatorError('InvalidGroupId.Malformed', `Invalid id: "${groupId}" (expecting "sg-...")`);
  return { groupId, groupName: `emulator-${groupId}` };
}
