/**
 * EC2 part of the AWS emulator: a stateful, in-memory EC2 served over the ec2Query protocol to the
 * real `@aws-sdk/client-ec2`, plus a same-process API for tests.
 *
 * Files: the model in three layers, ec2-store.ts (records, timers, lookups, tags, inspectors) →
 * ec2-network.ts (VPC/CIDR/IGW/subnet/route table rules) → ec2-state.ts (instances, ENIs, EIPs);
 * ec2-records.ts (record types), ec2-describe.ts (Describe*: id lists, filters, pagination),
 * ec2-actions.ts (the other actions), ec2-xml.ts (response XML), ec2-wire.ts (form parsing,
 * pagination), ec2-filters.ts, ec2-ip.ts, ec2-errors.ts (codes and messages).
 *
 * Wire actions: Describe{NetworkInterfaces,Addresses,Subnets,RouteTables,Vpcs,Instances,
 * InternetGateways,SpotInstanceRequests}, DisassociateAddress, ReleaseAddress, UnassignPrivateIpAddresses,
 * DetachNetworkInterface (Force accepted, still asynchronous), DeleteNetworkInterface,
 * DisassociateRouteTable, DeleteRouteTable, DeleteSubnet, DisassociateVpcCidrBlock, CreateTags,
 * DeleteTags, CreateVpc, AssociateVpcCidrBlock (refused while the same CIDR is still
 * `disassociating`), CreateInternetGateway, AttachInternetGateway, CreateSubnet, CreateRouteTable,
 * CreateRoute, AssociateRouteTable, CreateNetworkInterface (SecurityGroupId.N, TagSpecifications),
 * AttachNetworkInterface, ModifyNetworkInterfaceAttribute (one attribute per call),
 * AssignPrivateIpAddresses (AllowReassignment moves a secondary IP and its EIP from another ENI),
 * AllocateAddress, AssociateAddress, RunInstances (InstanceMarketOptions spot → a spot request),
 * TerminateInstances. `DryRun=true` →
 * `DryRunOperation` (412) with no change, after the ids the call names resolve (else their
 * NotFound, as EC2 resolves resources before checking permission on them); a denied action →
 * `UnauthorizedOperation` (403), dry run or not. Any other action → `InvalidAction`.
 *
 * Programmatic API on `emulator.ec2` (rules identical to the wire; errors are EmulatorError with
 * the EC2 code). Inputs are plain objects; every method returning a record returns a deep copy.
 *   Seed / "second actor":
 *     createVpc({cidrBlock, tags?, vpcId?}) → VpcRecord            (also creates the main route table)
 *     associateVpcCidr(vpcId, cidrBlock) → CidrAssociationRecord
 *     disassociateVpcCidr(associationId)                           (`disassociating`, gone after cidrDisassociateDelayMs)
 *     createInternetGateway({vpcId?, tags?}) → InternetGatewayRecord;  attachInternetGateway(igwId, vpcId)
 *     createSubnet({vpcId, cidrBlock, availabilityZone?, tags?}) → SubnetRecord;  deleteSubnet(subnetId)
 *     createRouteTable({vpcId, tags?, routes?}) → RouteTableRecord;  createRoute(rtbId, {destinationCidrBlock, gatewayId?…})
 *     associateRouteTable(rtbId, subnetId) → 'rtbassoc-…';  disassociateRouteTable(assocId);  deleteRouteTable(rtbId)
 *     runInstance({subnetId, instanceId?, state?, tags?, privateIpAddress?, securityGroupIds?, spot?})
 *       → InstanceRecord (primary ENI at device 0; `spot` adds an active, fulfilled spot request)
 *     requestSpot(instanceId) → SpotRequestRecord;  markSpotForTermination(instanceId)   (status
 *       `marked-for-termination`, state `active`; the instance's termination then closes the request
 *       as `instance-terminated-no-capacity`, any other termination as `instance-terminated-by-user`)
 *     setInstanceState(instanceId, state);  terminateInstance(instanceId)   (immediate; DeleteOnTermination ENIs deleted)
 *     createNetworkInterface({subnetId, description?, tags?, privateIpAddress?, secondaryPrivateIpAddresses?,
 *                             secondaryPrivateIpAddressCount?, requesterManaged?, createTime?}) → NetworkInterfaceRecord
 *     attachNetworkInterface(eniId, instanceId, deviceIndex, {deleteOnTermination?}) → 'eni-attach-…'
 *     detachNetworkInterface(attachmentId)   (`detaching`, `available` after detachDelayMs);  deleteNetworkInterface(eniId)
 *     assignPrivateIps(eniId, {addresses?, count?, allowReassignment?}) → string[];  unassignPrivateIps(eniId, addresses)
 *     modifyNetworkInterfaceAttribute(eniId, {sourceDestCheck? | description? | securityGroupIds? | attachment?})
 *     setNetworkInterfaceCreateTime(eniId, epochMs)   (internal field; EC2 has no ENI creation time on the wire)
 *     allocateAddress({tags?, publicIp?}) → AddressRecord;  releaseAddress(allocationId)
 *     associateAddress({allocationId, networkInterfaceId? | instanceId?, privateIpAddress?, allowReassociation?}) → 'eipassoc-…'
 *     disassociateAddress(associationId);  createTags(ids, tags);  deleteTags(ids, {key: value|undefined})
 *     denyActions(['DeleteSubnet', …])   replaces the denied set; denyActions([]) clears it
 *     settle()   completes pending detaches / CIDR disassociations / terminations now
 *   Inspectors (deep copies, JSON-serialisable): vpcs(), internetGateways(), subnets(), routeTables(),
 *     instances(), networkInterfaces(), addresses(), spotRequests(), snapshot(); by id (undefined when gone):
 *     vpcById, subnetById, routeTableById, instanceById, networkInterfaceById, addressById;
 *     availableIpAddressCount(subnetId), effectiveRoutes(table), creationOrder(id).
 */
import { checkDryRunTargets, EC2_ACTIONS, EC2_NO_DRY_RUN } from './ec2-actions';
import { Ec2Snapshot } from './ec2-records';
import { Ec2ServiceOptions, Ec2State, OWNER_ID } from './ec2-state';
import { Ec2Params } from './ec2-wire';
import { ec2Response } from './ec2-xml';
import { EmulatorError, EmulatorRequest, EmulatorResponse, ServiceHandler } from './types';

export type { Ec2ServiceOptions } from './ec2-state';
export * from './ec2-records';

export class Ec2Service extends Ec2State implements ServiceHandler {
  readonly service = 'ec2' as const;
  private denied = new Set<string>();

  /** IAM denial knob: these actions answer `UnauthorizedOperation` (403), DryRun calls included. */
  denyActions(actions: string[]): void {
    this.denied = new Set(actions);
  }

  deniedActions(): string[] {
    return [...this.denied];
  }

  /** Changes timing options at run time (e.g. `{ detachDelayMs: 0 }`). */
  configure(input: Partial<Ec2ServiceOptions>): void {
    Object.assign(this.options, input);
  }

  handle(req: EmulatorRequest): EmulatorResponse {
    const action = EC2_ACTIONS[req.action];
    if (!action)
      throw new EmulatorError('InvalidAction', `The action ${req.action} is not valid for this web service.`);
    if (this.denied.has(req.action))
      throw new EmulatorError(
        'UnauthorizedOperation',
        `You are not authorized to perform this operation. User: arn:aws:sts::${OWNER_ID}:assumed-role/teardownd/emulator is not authorized to perform: ec2:${req.action} because no identity-based policy allows the ec2:${req.action} action`,
        403,
      );
    const params = new Ec2Params(req.form);
    if (!EC2_NO_DRY_RUN.has(req.action) && params.bool('DryRun')) {
      checkDryRunTargets(this, req.action, params);
      throw new EmulatorError(
        'DryRunOperation',
        'Request would have succeeded, but DryRun flag is set.',
        412,
      );
    }
    return ec2Response(req.action, this.ctx.requestId(), action(this, params));
  }

  override snapshot(): Ec2Snapshot {
    return { ...super.snapshot(), deniedActions: this.deniedActions() };
  }
}
