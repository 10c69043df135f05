import {
  AllocateAddressCommand,
  AssignPrivateIpAddressesCommand,
  AssociateAddressCommand,
  AssociateRouteTableCommand,
  AssociateVpcCidrBlockCommand,
  AttachInternetGatewayCommand,
  AttachNetworkInterfaceCommand,
  CreateInternetGatewayCommand,
  CreateNetworkInterfaceCommand,
  CreateRouteCommand,
  CreateRouteTableCommand,
  CreateSubnetCommand,
  CreateTagsCommand,
  CreateVpcCommand,
  DeleteNetworkInterfaceCommand,
  DeleteRouteTableCommand,
  DeleteSubnetCommand,
  DescribeAddressesCommand,
  DescribeInstancesCommand,
  DescribeNetworkInterfacesCommand,
  DescribeVpcsCommand,
  DetachNetworkInterfaceCommand,
  DisassociateAddressCommand,
  DisassociateRouteTableCommand,
  DisassociateVpcCidrBlockCommand,
  EC2Client,
  ReleaseAddressCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
  UnassignPrivateIpAddressesCommand,
} from '@aws-sdk/client-ec2';
import { AwsEmulator } from '../../../../sim/emulator/server';
import { LoxilbClusterIds, seedLoxilbCluster } from '../../../../sim/loxilb/footprint';

// Each EC2 rule the teardown depends on, with the exact code the real EC2Client surfaces.

let emulator: AwsEmulator;
let ec2: EC2Client;
let ids: LoxilbClusterIds;

beforeEach(async () => {
  emulator = await AwsEmulator.start({
    ec2: { detachDelayMs: 60, cidrDisassociateDelayMs: 60, terminateDelayMs: 60 },
  });
  ec2 = new EC2Client({
    endpoint: emulator.url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIAEMULATOR', secretAccessKey: 'secret' },
    maxAttempts: 1,
  });
  ids = seedLoxilbCluster(emulator);
});

afterEach(async () => {
  ec2.destroy();
  await emulator.stop();
});

interface AwsErrorShape {
  name: string;
  message: string;
  status?: number;
}

async function failure(p: Promise<unknown>): Promise<AwsErrorShape> {
  try {
    await p;
  } catch (err) {
    const e = err as Error & { $metadata?: { httpStatusCode?: number } };
    return { name: e.name, message: e.message, status: e.$metadata?.httpStatusCode };
  }
  throw new Error('expected the call to fail');
}

/** Polls (bounded) until `check` holds. */
async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 3000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function describeEni(eniId: string) {
  const out = await ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [eniId] }));
  return out.NetworkInterfaces![0];
}

describe('Elastic IPs', () => {
  test('DisassociateAddress is idempotent; a never-issued association id is InvalidAssociationID.NotFound', async () => {
    const assoc = ids.enis[0].eipAssociationIds[0];
    await ec2.send(new DisassociateAddressCommand({ AssociationId: assoc }));
    await ec2.send(new DisassociateAddressCommand({ AssociationId: assoc }));
    const out = await ec2.send(
      new DescribeAddressesCommand({ AllocationIds: [ids.enis[0].allocationIds[0]] }),
    );
    expect(out.Addresses![0].AssociationId).toBeUndefined();
    expect(out.Addresses![0].NetworkInterfaceId).toBeUndefined();
    expect(
      await failure(
        ec2.send(new DisassociateAddressCommand({ AssociationId: 'eipassoc-0123456789abcdef0' })),
      ),
    ).toMatchObject({
      name: 'InvalidAssociationID.NotFound',
      status: 400,
    });
  });

  test('ReleaseAddress: InvalidIPAddress.InUse while associated, then released, then InvalidAllocationID.NotFound', async () => {
    const alloc = ids.enis[0].allocationIds[0];
    const inUse = await failure(ec2.send(new ReleaseAddressCommand({ AllocationId: alloc })));
    expect(inUse).toEqual({
      name: 'InvalidIPAddress.InUse',
      message: `Address ${ids.enis[0].publicIps[0]} is in use.`,
      status: 400,
    });
    await ec2.send(new DisassociateAddressCommand({ AssociationId: ids.enis[0].eipAssociationIds[0] }));
    await ec2.send(new ReleaseAddressCommand({ AllocationId: alloc }));
    expect(emulator.ec2.addressById(alloc)).toBeUndefined();
    expect(await failure(ec2.send(new ReleaseAddressCommand({ AllocationId: alloc })))).toMatchObject({
      name: 'InvalidAllocationID.NotFound',
      message: `The allocation ID '${alloc}' does not exist`,
    });
  });

  test('UnassignPrivateIpAddresses drops the VIPs and their EIP associations; a second call and the primary IP are refused', async () => {
    const eni = ids.enis[0];
    await ec2.send(
      new UnassignPrivateIpAddressesCommand({ NetworkInterfaceId: eni.eniId, PrivateIpAddresses: eni.vips }),
    );
    const after = await describeEni(eni.eniId);
    expect(after.PrivateIpAddresses!.map((p) => p.PrivateIpAddress)).toEqual([after.PrivateIpAddress]);
    for (const alloc of eni.allocationIds)
      expect(emulator.ec2.addressById(alloc)!.association).toBeUndefined();
    expect(
      await failure(
        ec2.send(
          new UnassignPrivateIpAddressesCommand({
            NetworkInterfaceId: eni.eniId,
            PrivateIpAddresses: [eni.vips[0]],
          }),
        ),
      ),
    ).toEqual({
      name: 'InvalidParameterValue',
      message: `Some of the specified addresses are not assigned to interface ${eni.eniId}`,
      status: 400,
    });
    expect(
      await failure(
        ec2.send(
          new UnassignPrivateIpAddressesCommand({
            NetworkInterfaceId: eni.eniId,
            PrivateIpAddresses: [after.PrivateIpAddress!],
          }),
        ),
      ),
    ).toMatchObject({
      name: 'InvalidParameterValue',
      message: 'The primary IP address of an interface cannot be unassigned.',
    });
  });
});

describe('network interfaces', () => {
  test('detach state machine: attached → detaching → available; delete refused until then', async () => {
    const eni = ids.enis[0];
    // Held, not timed: the `detaching` reads below must not race the detach delay on a loaded machine.
    emulator.ec2.configure({ holdDetaches: true });
    await ec2.send(new DetachNetworkInterfaceCommand({ AttachmentId: eni.attachmentId }));
    const detaching = await describeEni(eni.eniId);
    expect(detaching.Status).toBe('detaching');
    expect(detaching.Attachment).toMatchObject({ AttachmentId: eni.attachmentId, Status: 'detaching' });
    expect(
      await failure(ec2.send(new DeleteNetworkInterfaceCommand({ NetworkInterfaceId: eni.eniId }))),
    ).toEqual({
      name: 'InvalidParameterValue',
      message: `Network interface '${eni.eniId}' is currently in use.`,
      status: 400,
    });
    expect(emulator.ec2.releaseHeldDetaches()).toBe(1);
    await eventually(
      async () => (await describeEni(eni.eniId)).Status === 'available',
      'the ENI to become available',
    );
    expect((await describeEni(eni.eniId)).Attachment).toBeUndefined();
    expect(
      await failure(ec2.send(new DetachNetworkInterfaceCommand({ AttachmentId: eni.attachmentId }))),
    ).toMatchObject({
      name: 'InvalidAttachmentID.NotFound',
    });
    await ec2.send(new DeleteNetworkInterfaceCommand({ NetworkInterfaceId: eni.eniId }));
    // Deleting the ENI released its EIP associations; the user's addresses remain.
    for (const alloc of eni.allocationIds) {
      const a = emulator.ec2.addressById(alloc)!;
      expect(a).toBeDefined();
      expect(a.association).toBeUndefined();
    }
    expect(
      await failure(ec2.send(new DeleteNetworkInterfaceCommand({ NetworkInterfaceId: eni.eniId }))),
    ).toMatchObject({
      name: 'InvalidNetworkInterfaceID.NotFound',
      message: `The networkInterface ID '${eni.eniId}' does not exist`,
    });
  });

  test('DeleteNetworkInterface on an attached ENI is refused as in use', async () => {
    expect(
      await failure(ec2.send(new DeleteNetworkInterfaceCommand({ NetworkInterfaceId: ids.enis[0].eniId }))),
    ).toMatchObject({
      name: 'InvalidParameterValue',
    });
    expect(emulator.ec2.networkInterfaceById(ids.enis[0].eniId)!.status).toBe('in-use');
  });

  test('the primary ENI (device index 0) cannot be detached', async () => {
    const primary = emulator.ec2.networkInterfaceById(ids.masterPrimaryEniId)!;
    expect(
      await failure(
        ec2.send(new DetachNetworkInterfaceCommand({ AttachmentId: primary.attachment!.attachmentId })),
      ),
    ).toEqual({
      name: 'OperationNotPermitted',
      message: 'The network interface at device index 0 cannot be detached.',
      status: 400,
    });
    expect(emulator.ec2.networkInterfaceById(ids.masterPrimaryEniId)!.attachment!.status).toBe('attached');
  });

  test('an attachment id that never existed is InvalidAttachmentID.NotFound; a malformed one is Malformed', async () => {
    expect(
      await failure(
        ec2.send(new DetachNetworkInterfaceCommand({ AttachmentId: 'eni-attach-0000000000000000' })),
      ),
    ).toMatchObject({
      name: 'InvalidAttachmentID.NotFound',
    });
    expect(
      await failure(ec2.send(new DetachNetworkInterfaceCommand({ AttachmentId: 'bogus' }))),
    ).toMatchObject({
      name: 'InvalidNetworkInterfaceAttachmentId.Malformed',
    });
  });

  test('attaching at a device index already in use is refused', async () => {
    const eni = emulator.ec2.createNetworkInterface({ subnetId: ids.subnetId });
    expect(
      await failure(
        ec2.send(
          new AttachNetworkInterfaceCommand({
            NetworkInterfaceId: eni.networkInterfaceId,
            InstanceId: ids.masterInstanceId,
            DeviceIndex: 1,
          }),
        ),
      ),
    ).toMatchObject({ name: 'InvalidParameterValue', message: expect.stringContaining("device index '1'") });
  });

  test('CreateTags writes an owner tag that DescribeNetworkInterfaces then filters on', async () => {
    await ec2.send(
      new CreateTagsCommand({
        Resources: [ids.enis[0].eniId],
        Tags: [{ Key: 'teardownd:owner', Value: ids.masterInstanceId }],
      }),
    );
    const out = await ec2.send(
      new DescribeNetworkInterfacesCommand({
        Filters: [{ Name: 'tag:teardownd:owner', Values: [ids.masterInstanceId] }],
      }),
    );
    expect(out.NetworkInterfaces!.map((e) => e.NetworkInterfaceId)).toEqual([ids.enis[0].eniId]);
    expect(
      await failure(
        ec2.send(
          new CreateTagsCommand({ Resources: ['eni-0000000000000000'], Tags: [{ Key: 'k', Value: 'v' }] }),
        ),
      ),
    ).toMatchObject({ name: 'InvalidNetworkInterfaceID.NotFound' });
  });
});

describe('route tables, subnets, CIDRs', () => {
  test('the main route table association cannot be disassociated', async () => {
    const r = await failure(
      ec2.send(new DisassociateRouteTableCommand({ AssociationId: ids.mainRouteTableAssociationId })),
    );
    expect(r).toEqual({
      name: 'InvalidParameterValue',
      message: `cannot disassociate the main route table association ${ids.mainRouteTableAssociationId}`,
      status: 400,
    });
  });

  test('DeleteRouteTable: DependencyViolation while associated; then deleted; then NotFound', async () => {
    expect(await failure(ec2.send(new DeleteRouteTableCommand({ RouteTableId: ids.routeTableId })))).toEqual({
      name: 'DependencyViolation',
      message: `The routeTable '${ids.routeTableId}' has dependencies and cannot be deleted.`,
      status: 400,
    });
    await ec2.send(new DisassociateRouteTableCommand({ AssociationId: ids.routeTableAssociationId }));
    expect(
      await failure(
        ec2.send(new DisassociateRouteTableCommand({ AssociationId: ids.routeTableAssociationId })),
      ),
    ).toMatchObject({
      name: 'InvalidAssociationID.NotFound',
    });
    await ec2.send(new DeleteRouteTableCommand({ RouteTableId: ids.routeTableId }));
    expect(
      await failure(ec2.send(new DeleteRouteTableCommand({ RouteTableId: ids.routeTableId }))),
    ).toMatchObject({
      name: 'InvalidRouteTableID.NotFound',
      message: `The routeTable ID '${ids.routeTableId}' does not exist`,
    });
  });

  test('DeleteSubnet: DependencyViolation while an ENI is in it, then deleted (dropping its route table association)', async () => {
    expect(await failure(ec2.send(new DeleteSubnetCommand({ SubnetId: ids.subnetId })))).toEqual({
      name: 'DependencyViolation',
      message: `The subnet '${ids.subnetId}' has dependencies and cannot be deleted.`,
      status: 400,
    });
    const e = emulator.ec2;
    e.detachNetworkInterface(ids.enis[0].attachmentId);
    e.settle();
    e.deleteNetworkInterface(ids.enis[0].eniId);
    await ec2.send(new DeleteSubnetCommand({ SubnetId: ids.subnetId }));
    expect(e.routeTableById(ids.routeTableId)!.associations).toEqual([]);
    expect(await failure(ec2.send(new DeleteSubnetCommand({ SubnetId: ids.subnetId })))).toMatchObject({
      name: 'InvalidSubnetID.NotFound',
    });
  });

  test('DisassociateVpcCidrBlock: primary refused, InvalidCidrBlock.InUse with a subnet inside, then disassociating → gone', async () => {
    expect(
      await failure(
        ec2.send(new DisassociateVpcCidrBlockCommand({ AssociationId: ids.primaryCidrAssociationId })),
      ),
    ).toMatchObject({
      name: 'OperationNotPermitted',
      message: expect.stringContaining('primary IPv4 CIDR block'),
    });
    expect(
      await failure(ec2.send(new DisassociateVpcCidrBlockCommand({ AssociationId: ids.cidrAssociationId }))),
    ).toEqual({
      name: 'InvalidCidrBlock.InUse',
      message: `The vpc ${ids.vpcId} currently has a subnet within CIDR block ${ids.cloudCidr}`,
      status: 400,
    });
    const e = emulator.ec2;
    e.detachNetworkInterface(ids.enis[0].attachmentId);
    e.settle();
    e.deleteNetworkInterface(ids.enis[0].eniId);
    e.deleteSubnet(ids.subnetId);
    const out = await ec2.send(new DisassociateVpcCidrBlockCommand({ AssociationId: ids.cidrAssociationId }));
    expect(out).toMatchObject({
      VpcId: ids.vpcId,
      CidrBlockAssociation: {
        AssociationId: ids.cidrAssociationId,
        CidrBlock: ids.cloudCidr,
        CidrBlockState: { State: 'disassociating' },
      },
    });
    const cidrs = async () =>
      (
        await ec2.send(new DescribeVpcsCommand({ VpcIds: [ids.vpcId] }))
      ).Vpcs![0].CidrBlockAssociationSet!.map((a) => a.AssociationId);
    await eventually(
      async () => !(await cidrs()).includes(ids.cidrAssociationId),
      'the CIDR association to go',
    );
    expect(await cidrs()).toEqual([ids.primaryCidrAssociationId]);
    expect(
      await failure(ec2.send(new DisassociateVpcCidrBlockCommand({ AssociationId: ids.cidrAssociationId }))),
    ).toMatchObject({
      name: expect.stringMatching(/NotFound$/),
    });
  });
});

describe('DryRun, IAM denial, throttling', () => {
  test('DryRun answers DryRunOperation (412) and changes nothing', async () => {
    const r = await failure(ec2.send(new DeleteSubnetCommand({ SubnetId: ids.subnetId, DryRun: true })));
    expect(r).toEqual({
      name: 'DryRunOperation',
      message: 'Request would have succeeded, but DryRun flag is set.',
      status: 412,
    });
    expect(
      await failure(
        ec2.send(new DetachNetworkInterfaceCommand({ AttachmentId: ids.enis[0].attachmentId, DryRun: true })),
      ),
    ).toMatchObject({
      name: 'DryRunOperation',
    });
    expect(await failure(ec2.send(new DescribeNetworkInterfacesCommand({ DryRun: true })))).toMatchObject({
      name: 'DryRunOperation',
    });
    expect(emulator.ec2.subnetById(ids.subnetId)).toBeDefined();
    expect(emulator.ec2.networkInterfaceById(ids.enis[0].eniId)!.attachment!.status).toBe('attached');
  });

  test('DryRun on a resource that does not exist answers its NotFound, not DryRunOperation', async () => {
    const e = emulator.ec2;
    e.detachNetworkInterface(ids.enis[0].attachmentId);
    e.settle();
    e.deleteNetworkInterface(ids.enis[0].eniId);
    expect(
      await failure(
        ec2.send(new DeleteNetworkInterfaceCommand({ NetworkInterfaceId: ids.enis[0].eniId, DryRun: true })),
      ),
    ).toMatchObject({ name: 'InvalidNetworkInterfaceID.NotFound', status: 400 });
    expect(
      await failure(
        ec2.send(new DetachNetworkInterfaceCommand({ AttachmentId: ids.enis[0].attachmentId, DryRun: true })),
      ),
    ).toMatchObject({ name: 'InvalidAttachmentID.NotFound' });
    expect(
      await failure(
        ec2.send(
          new CreateTagsCommand({
            Resources: [ids.enis[0].eniId],
            Tags: [{ Key: 'k', Value: 'v' }],
            DryRun: true,
          }),
        ),
      ),
    ).toMatchObject({ name: 'InvalidNetworkInterfaceID.NotFound' });
    expect(
      await failure(ec2.send(new DeleteSubnetCommand({ SubnetId: ids.subnetId, DryRun: true }))),
    ).toMatchObject({
      name: 'DryRunOperation',
    });
  });

  test('denyActions → UnauthorizedOperation (403), for dry runs too; other actions unaffected; [] clears', async () => {
    emulator.ec2.denyActions(['DeleteSubnet', 'DescribeVpcs']);
    const denied = await failure(ec2.send(new DeleteSubnetCommand({ SubnetId: ids.subnetId })));
    expect(denied).toMatchObject({
      name: 'UnauthorizedOperation',
      status: 403,
      message: expect.stringContaining('ec2:DeleteSubnet'),
    });
    expect(
      await failure(ec2.send(new DeleteSubnetCommand({ SubnetId: ids.subnetId, DryRun: true }))),
    ).toMatchObject({
      name: 'UnauthorizedOperation',
      status: 403,
    });
    expect(await failure(ec2.send(new DescribeVpcsCommand({})))).toMatchObject({
      name: 'UnauthorizedOperation',
    });
    expect(
      await failure(ec2.send(new DeleteRouteTableCommand({ RouteTableId: ids.routeTableId, DryRun: true }))),
    ).toMatchObject({
      name: 'DryRunOperation',
    });
    expect(emulator.ec2.snapshot().deniedActions.sort()).toEqual(['DeleteSubnet', 'DescribeVpcs']);
    emulator.ec2.denyActions([]);
    await ec2.send(new DescribeVpcsCommand({}));
  });

  test('an injected throttle surfaces as RequestLimitExceeded, then calls go through', async () => {
    emulator.faults.add({ service: 'ec2', kind: 'throttle', count: 2 });
    for (let i = 0; i < 2; i++)
      expect(await failure(ec2.send(new DescribeVpcsCommand({})))).toMatchObject({
        name: 'RequestLimitExceeded',
        status: 503,
      });
    const ok = await ec2.send(new DescribeVpcsCommand({}));
    expect(ok.Vpcs).toHaveLength(1);
    expect(emulator.calls.of('ec2', 'DescribeVpcs').map((c) => c.injected ?? 'served')).toEqual([
      'throttle',
      'throttle',
      'served',
    ]);
  });
});

describe('instances', () => {
  test('TerminateInstances: shutting-down, then terminated; DeleteOnTermination ENIs deleted, loxilb ENIs left available', async () => {
    // A long delay, ended by settle(): the `shutting-down` read must not race the delay under load.
    emulator.ec2.configure({ terminateDelayMs: 600000 });
    const out = await ec2.send(new TerminateInstancesCommand({ InstanceIds: [ids.masterInstanceId] }));
    expect(out.TerminatingInstances).toEqual([
      {
        InstanceId: ids.masterInstanceId,
        CurrentState: { Code: 32, Name: 'shutting-down' },
        PreviousState: { Code: 16, Name: 'running' },
      },
    ]);
    const state = async () =>
      (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [ids.masterInstanceId] }))).Reservations![0]
        .Instances![0].State!.Name;
    expect(await state()).toBe('shutting-down');
    emulator.ec2.settle();
    await eventually(async () => (await state()) === 'terminated', 'the instance to terminate');
    expect(emulator.ec2.networkInterfaceById(ids.masterPrimaryEniId)).toBeUndefined();
    const loxilbEni = emulator.ec2.networkInterfaceById(ids.enis[0].eniId)!;
    expect(loxilbEni.status).toBe('available');
    expect(loxilbEni.attachment).toBeUndefined();
  });

  test('setInstanceState is visible through DescribeInstances filters', async () => {
    emulator.ec2.setInstanceState(ids.masterInstanceId, 'shutting-down');
    const out = await ec2.send(
      new DescribeInstancesCommand({
        Filters: [{ Name: 'instance-state-name', Values: ['shutting-down', 'stopping'] }],
      }),
    );
    expect(out.Reservations!.flatMap((r) => r.Instances!.map((i) => i.InstanceId))).toEqual([
      ids.masterInstanceId,
    ]);
  });
});

test('a second actor can build a loxilb footprint over the wire', async () => {
  const vpc = (await ec2.send(new CreateVpcCommand({ CidrBlock: '172.16.0.0/16' }))).Vpc!;
  const igw = (await ec2.send(new CreateInternetGatewayCommand({}))).InternetGateway!;
  await ec2.send(
    new AttachInternetGatewayCommand({ InternetGatewayId: igw.InternetGatewayId, VpcId: vpc.VpcId }),
  );
  const cidr = await ec2.send(
    new AssociateVpcCidrBlockCommand({ VpcId: vpc.VpcId, CidrBlock: '100.64.0.0/24' }),
  );
  expect(cidr.CidrBlockAssociation!.CidrBlockState!.State).toBe('associating');
  const home = (
    await ec2.send(
      new CreateSubnetCommand({
        VpcId: vpc.VpcId,
        CidrBlock: '172.16.1.0/24',
        AvailabilityZone: 'us-east-1c',
      }),
    )
  ).Subnet!;
  const run = await ec2.send(
    new RunInstancesCommand({ ImageId: 'ami-1', MinCount: 1, MaxCount: 1, SubnetId: home.SubnetId }),
  );
  const instanceId = run.Instances![0].InstanceId!;
  expect(run.Instances![0].State!.Name).toBe('running');
  const subnet = (
    await ec2.send(
      new CreateSubnetCommand({
        VpcId: vpc.VpcId,
        CidrBlock: '100.64.0.0/24',
        AvailabilityZone: 'us-east-1c',
        TagSpecifications: [{ ResourceType: 'subnet', Tags: [{ Key: 'loxiType', Value: 'loxilb-subnet' }] }],
      }),
    )
  ).Subnet!;
  const rtb = (
    await ec2.send(
      new CreateRouteTableCommand({
        VpcId: vpc.VpcId,
        TagSpecifications: [
          { ResourceType: 'route-table', Tags: [{ Key: 'loxiType', Value: 'loxilb-routetable' }] },
        ],
      }),
    )
  ).RouteTable!;
  await ec2.send(
    new CreateRouteCommand({
      RouteTableId: rtb.RouteTableId,
      DestinationCidrBlock: '0.0.0.0/0',
      GatewayId: igw.InternetGatewayId,
    }),
  );
  const rtbAssoc = await ec2.send(
    new AssociateRouteTableCommand({ RouteTableId: rtb.RouteTableId, SubnetId: subnet.SubnetId }),
  );
  const eni = (
    await ec2.send(
      new CreateNetworkInterfaceCommand({
        SubnetId: subnet.SubnetId,
        Description: 'loxilb-eni',
        TagSpecifications: [
          { ResourceType: 'network-interface', Tags: [{ Key: 'loxiType', Value: 'loxilb-eni' }] },
        ],
      }),
    )
  ).NetworkInterface!;
  const att = await ec2.send(
    new AttachNetworkInterfaceCommand({
      NetworkInterfaceId: eni.NetworkInterfaceId,
      InstanceId: instanceId,
      DeviceIndex: 1,
    }),
  );
  const assigned = await ec2.send(
    new AssignPrivateIpAddressesCommand({
      NetworkInterfaceId: eni.NetworkInterfaceId,
      SecondaryPrivateIpAddressCount: 2,
    }),
  );
  const vips = assigned.AssignedPrivateIpAddresses!.map((a) => a.PrivateIpAddress!);
  expect(vips).toHaveLength(2);
  const eip = await ec2.send(new AllocateAddressCommand({ Domain: 'vpc' }));
  const eipAssoc = await ec2.send(
    new AssociateAddressCommand({
      AllocationId: eip.AllocationId,
      NetworkInterfaceId: eni.NetworkInterfaceId,
      PrivateIpAddress: vips[0],
    }),
  );

  const rec = emulator.ec2.networkInterfaceById(eni.NetworkInterfaceId!)!;
  expect(rec).toMatchObject({
    description: 'loxilb-eni',
    tags: { loxiType: 'loxilb-eni' },
    subnetId: subnet.SubnetId,
    attachment: { attachmentId: att.AttachmentId, instanceId, deviceIndex: 1, deleteOnTermination: false },
  });
  expect(rec.privateIps.slice(1).map((p) => p.privateIpAddress)).toEqual(vips);
  expect(emulator.ec2.addressById(eip.AllocationId!)).toMatchObject({
    association: { associationId: eipAssoc.AssociationId, privateIpAddress: vips[0] },
    instanceId,
  });
  expect(emulator.ec2.routeTableById(rtb.RouteTableId!)!.associations[0].associationId).toBe(
    rtbAssoc.AssociationId,
  );
  expect(emulator.ec2.subnetById(subnet.SubnetId!)!.tags).toEqual({ loxiType: 'loxilb-subnet' });
});

test('an action the emulator does not serve is InvalidAction', async () => {
  const res = await fetch(`${emulator.url}/`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'Action=DescribeKeyPairs&Version=2016-11-15',
  });
  expect(res.status).toBe(400);
  expect(await res.text()).toContain('<Code>InvalidAction</Code>');
});
