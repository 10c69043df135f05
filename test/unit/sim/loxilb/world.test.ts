import { currentFootprint, LoxilbClusterIds, seedLoxilbCluster } from '../../../../sim/loxilb/footprint';
import { LoxilbCluster, startLoxilbCluster } from '../../../../sim/loxilb/cluster';
import { LoxilbWorld, waitUntil } from '../../../../sim/loxilb/node';
import { DAEMON_ACCESS_KEY_ID, AwsEmulator } from '../../../../sim/emulator/server';

/**
 * The fake loxilb nodes against the emulator, as loxilb behaves on AWS (reference/loxilb-ha.md):
 * the REST bodies, BFD roles, the takeover (CloudPrepareVIPNetWork) with its early return, the
 * setRoles election, and the SIGTERM path with its last-node-standing destroy. Every wait is
 * bounded; order comes from the world (instance state, stop/kill), never from sleeping.
 */

let emulator: AwsEmulator;
let ids: LoxilbClusterIds;
let cluster: LoxilbCluster | undefined;

beforeEach(async () => {
  emulator = await AwsEmulator.start({ ec2: { detachDelayMs: 30, cidrDisassociateDelayMs: 30 } });
  ids = seedLoxilbCluster(emulator);
});

afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
  await emulator.stop();
});

const get = async (url: string) => {
  const r = await fetch(url);
  return { status: r.status, body: (await r.json()) as unknown };
};

/** The actions a node sent, in order (from the emulator's own call log). */
const actionsBy = (accessKeyId: string) => emulator.calls.by(accessKeyId).map((c) => c.action);
const PHASE_B = [
  'CreateSubnet',
  'CreateRouteTable',
  'AssociateRouteTable',
  'CreateNetworkInterface',
  'AttachNetworkInterface',
];

/** The peer now owns loxilb's whole VIP network: what a successful takeover leaves. */
function expectPeerOwnsTheVipNetwork(): void {
  const now = currentFootprint(emulator, ids);
  expect(now.enis).toHaveLength(1);
  const eni = now.enis[0];
  expect(eni).toMatchObject({ instanceId: ids.peerInstanceId, deviceIndex: 1, status: 'in-use' });
  expect(eni.eniId).not.toBe(ids.enis[0].eniId);
  const record = emulator.ec2.networkInterfaceById(eni.eniId)!;
  expect(record).toMatchObject({ description: 'loxilb-eni', sourceDestCheck: false });
  expect(record.groups.map((g) => g.groupId)).toEqual([ids.securityGroupId]);
  expect(eni.privateIps).toEqual(expect.arrayContaining(ids.enis[0].vips));
  // The old subnet and route table are gone, new ones exist in the peer's AZ, the CIDR stayed.
  expect(now.subnetIds).toHaveLength(1);
  expect(now.subnetIds[0]).not.toBe(ids.subnetId);
  expect(emulator.ec2.subnetById(now.subnetIds[0])).toMatchObject({
    cidrBlock: ids.cloudCidr,
    availabilityZone: 'us-east-1b',
  });
  expect(now.routeTableIds).toHaveLength(1);
  expect(now.routeTableIds[0]).not.toBe(ids.routeTableId);
  const table = emulator.ec2.routeTableById(now.routeTableIds[0])!;
  expect(table.associations.map((a) => a.subnetId)).toEqual(now.subnetIds);
  expect(table.routes).toContainEqual(
    expect.objectContaining({ destinationCidrBlock: '0.0.0.0/0', gatewayId: ids.igwId }),
  );
  expect(now.cidrAssociationId).toBe(ids.cidrAssociationId);
  // Every EIP followed its VIP to the peer's ENI.
  for (const [i, eip] of now.eips.entries())
    expect(eip).toMatchObject({
      eniId: eni.eniId,
      privateIp: ids.enis[0].vips[i],
      instanceId: ids.peerInstanceId,
    });
}

describe('REST API bodies (loxilb api/restapi/handler/cluster.go)', () => {
  test('BFD mode: cistate and bfd sessions as loxilb renders them', async () => {
    cluster = await startLoxilbCluster(emulator, ids, { mode: 'bfd' });
    const { master, peer } = cluster;
    expect(await get(`${master.apiUrl}/netlox/v1/config/cistate/all`)).toEqual({
      status: 200,
      body: { Attr: [{ instance: 'llb-inst0', state: 'MASTER', sync: null, vip: '0.0.0.0' }] },
    });
    expect(await get(`${peer!.apiUrl}/netlox/v1/config/bfd/all`)).toEqual({
      status: 200,
      body: {
        Attr: [
          {
            instance: 'llb-inst0',
            interval: 100000,
            port: 3784,
            remoteIp: ids.masterPrivateIp,
            retryCount: 3,
            sourceIP: ids.peerPrivateIp,
            state: 'BFDUp',
          },
        ],
      },
    });
  });

  test('BFD off (setRoles): GET bfd/all is HTTP 500 "bfd session not running"; POST cistate sets the role', async () => {
    cluster = await startLoxilbCluster(emulator, ids, { mode: 'setroles', electorPollMs: 60_000 });
    const { peer } = cluster;
    expect(await get(`${peer!.apiUrl}/netlox/v1/config/bfd/all`)).toEqual({
      status: 500,
      body: {
        code: 500,
        fields: null,
        message: 'bfd session not running',
        result: 'bfd session not running',
      },
    });
    const post = (state: string) =>
      fetch(`${peer!.apiUrl}/netlox/v1/config/cistate`, {
        method: 'POST',
        body: JSON.stringify({ instance: 'llb-inst0', state, vip: '0.0.0.0' }),
      }).then(async (r) => ({ status: r.status, body: await r.json() }));
    expect(await post('BOSS')).toEqual({
      status: 400,
      body: {
        code: 400,
        fields: null,
        message: 'Malformed arguments for API call',
        result: 'invalid cluster-state',
      },
    });
    expect(peer!.role()).toBe('BACKUP');
    expect(await post('MASTER')).toEqual({ status: 200, body: { result: 'Success' } });
    expect(peer!.role()).toBe('MASTER');
    await peer!.waitForTakeover();
  });

  test('a stopped node refuses connections', async () => {
    cluster = await startLoxilbCluster(emulator, ids, { mode: 'bfd' });
    await cluster.peer!.kill();
    await expect(fetch(`${cluster.peer!.apiUrl}/netlox/v1/config/cistate/all`)).rejects.toThrow();
  });
});

describe('BFD roles (loxilb pkg/proto/bfd.go)', () => {
  test('fresh nodes: on session Up the larger discriminator (IP as a number) becomes MASTER and takes over', async () => {
    const world = new LoxilbWorld(emulator, { detectMs: 150 });
    try {
      const common = { cloudCidr: ids.cloudCidr, retry: { count: 5, intervalMs: 20 } };
      const a = await world.startNode({
        ...common,
        instanceId: ids.masterInstanceId,
        bfdPeers: [ids.peerPrivateIp!],
      });
      const b = await world.startNode({
        ...common,
        instanceId: ids.peerInstanceId!,
        bfdPeers: [ids.masterPrivateIp],
      });
      await waitUntil(() => a.role() !== 'NOT_DEFINED' && b.role() !== 'NOT_DEFINED', 'both roles');
      // 10.0.2.x > 10.0.1.x: the seeded peer wins and takes the VIP network over.
      expect([a.role(), b.role()]).toEqual(['BACKUP', 'MASTER']);
      expect(a.sessionStates()).toEqual([{ remoteIp: ids.peerPrivateIp, state: 'BFDUp' }]);
      expect((await b.waitForTakeover()).status).toBe('succeeded');
      expect(a.takeover().status).toBe('none');
    } finally {
      await world.stop();
    }
  });

  test("a peer that deletes its session leaves this side in BFDInit, and nobody's role changes", async () => {
    cluster = await startLoxilbCluster(emulator, ids, { mode: 'bfd' });
    const { master, peer } = cluster;
    const r = await fetch(`${peer!.apiUrl}/netlox/v1/config/bfd/remoteIp/${ids.masterPrivateIp}`, {
      method: 'DELETE',
    });
    expect(r.status).toBe(200);
    await waitUntil(() => master.sessionStates()![0].state === 'BFDInit', 'BFDInit on the master');
    expect([master.role(), peer!.role()]).toEqual(['MASTER', 'BACKUP']);
    expect(peer!.sessionStates()).toEqual([]);
  });
});

describe('takeover on becoming MASTER (CloudPrepareVIPNetWork)', () => {
  test('BFD: the master instance terminates → the peer sees it Down and rebuilds the VIP network on itself', async () => {
    cluster = await startLoxilbCluster(emulator, ids, { mode: 'bfd' });
    const { master, peer } = cluster;
    emulator.ec2.terminateInstance(ids.masterInstanceId);
    const t = await peer!.waitForTakeover();
    expect(t).toMatchObject({ status: 'succeeded', trigger: 'bfd' });
    expect(peer!.role()).toBe('MASTER');
    expect(peer!.sessionStates()).toEqual([{ remoteIp: ids.masterPrivateIp, state: 'BFDDown' }]);
    expect(master.isRunning()).toBe(false);
    expectPeerOwnsTheVipNetwork();
    // Phase A by tag, then phase B, then per VIP; the terminated master's ENI was already detached by EC2.
    expect(t.calls.map((c) => c.action)).toEqual([
      'DescribeNetworkInterfaces',
      'DeleteNetworkInterface',
      'DeleteSubnet',
      'DescribeRouteTables',
      'DeleteRouteTable',
      'DescribeVpcs',
      ...[
        'CreateSubnet',
        'CreateRouteTable',
        'AssociateRouteTable',
        'DescribeInternetGateways',
        'CreateRoute',
      ],
      ...['CreateNetworkInterface', 'AttachNetworkInterface', 'ModifyNetworkInterfaceAttribute'],
      ...ids.enis[0].vips.flatMap(() => [
        'DescribeAddresses',
        'AssignPrivateIpAddresses',
        'AssociateAddress',
      ]),
    ]);
    expect(emulator.calls.by(DAEMON_ACCESS_KEY_ID)).toEqual([]);
  });

  test('BFD: a master still shutting down is force-detached from, then its ENI deleted after in-use retries', async () => {
    emulator.ec2.configure({ holdDetaches: true });
    cluster = await startLoxilbCluster(emulator, ids, { mode: 'bfd', retry: { count: 50, intervalMs: 10 } });
    const { peer } = cluster;
    emulator.ec2.setInstanceState(ids.masterInstanceId, 'shutting-down');
    // The detach is held, so the delete meets "in use" until the test lets the detach finish.
    const detach = await waitUntil(
      () => emulator.calls.by(peer!.accessKeyId).find((c) => c.action === 'DetachNetworkInterface'),
      'the forced detach',
    );
    expect(detach!.params).toMatchObject({ AttachmentId: ids.enis[0].attachmentId, Force: 'true' });
    await waitUntil(
      () =>
        emulator.calls.by(peer!.accessKeyId).filter((c) => c.action === 'DeleteNetworkInterface').length >= 2,
      'two refused deletes',
    );
    expect(emulator.ec2.releaseHeldDetaches()).toBe(1);
    const t = await peer!.waitForTakeover();
    expect(t.status).toBe('succeeded');
    const deletes = t.calls.filter((c) => c.action === 'DeleteNetworkInterface');
    expect(deletes.slice(0, -1).every((c) => !c.ok && c.errorCode === 'InvalidParameterValue')).toBe(true);
    expect(deletes[deletes.length - 1].ok).toBe(true);
    expectPeerOwnsTheVipNetwork();
  });

  test('setRoles: kube-loxilb elects the peer once the master stops answering, and the peer takes over', async () => {
    cluster = await startLoxilbCluster(emulator, ids, { mode: 'setroles' });
    const { master, peer, elector } = cluster;
    await master.kill();
    const t = await peer!.waitForTakeover();
    expect(t).toMatchObject({ status: 'succeeded', trigger: 'api' });
    expect(elector!.currentMaster()).toBe(peer);
    expectPeerOwnsTheVipNetwork();
  });

  test('a repeated MASTER is ignored: one takeover however often kube-loxilb re-posts it', async () => {
    cluster = await startLoxilbCluster(emulator, ids, { mode: 'setroles', electorPollMs: 20 });
    const { master, peer, elector } = cluster;
    await master.kill();
    await peer!.waitForTakeover();
    const posts = () => peer!.apiRequests.filter((r) => r === 'POST /netlox/v1/config/cistate').length;
    const before = posts();
    await waitUntil(() => posts() >= before + 3, 'three more MASTER posts');
    peer!.setRole('MASTER');
    expect(peer!.takeovers()).toHaveLength(1);
    expect(elector!.elections.map((e) => e.master)).toEqual(['peer']);
  });

  test.each([
    ['DeleteNetworkInterface', 'InvalidNetworkInterfaceID.NotFound', 3, 'shutting-down'],
    ['DeleteNetworkInterface', 'InvalidParameterValue', 3, 'shutting-down'],
    ['DetachNetworkInterface', 'InvalidAttachmentID.NotFound', 1, 'shutting-down'],
    // The ENI must be gone before DeleteSubnet is reached: with the master terminated EC2 has
    // already detached it, so no detach has to beat the 3 × 10 ms retry budget on a loaded machine.
    ['DeleteSubnet', 'DependencyViolation', 1, 'terminated'],
  ] as const)(
    'an error in phase A (%s → %s) aborts the takeover before phase B',
    async (action, code, attempts, masterEnd) => {
      emulator.faults.add({ service: 'ec2', action, kind: 'error', code, status: 400 });
      cluster = await startLoxilbCluster(emulator, ids, { mode: 'bfd', retry: { count: 3, intervalMs: 10 } });
      const { peer } = cluster;
      // Shutting down: its ENI is still attached and the takeover detaches it first.
      if (masterEnd === 'shutting-down') emulator.ec2.setInstanceState(ids.masterInstanceId, 'shutting-down');
      else emulator.ec2.terminateInstance(ids.masterInstanceId);
      const t = await peer!.waitForTakeover();
      expect(t).toMatchObject({ status: 'aborted', phase: 'A', failedCall: { action, errorCode: code } });
      const sent = actionsBy(peer!.accessKeyId);
      expect(sent.filter((a) => a === action)).toHaveLength(attempts);
      for (const a of PHASE_B) expect(sent).not.toContain(a);
      // No VIP network on the peer, and a repeated MASTER does not retry it.
      peer!.setRole('MASTER');
      expect(peer!.takeovers()).toHaveLength(1);
      expect(currentFootprint(emulator, ids).enis.filter((e) => e.instanceId === ids.peerInstanceId)).toEqual(
        [],
      );
    },
  );

  test('the CIDR still disassociating (someone else removed it) fails AssociateVpcCidrBlock: aborted in phase A', async () => {
    emulator.ec2.configure({ cidrDisassociateDelayMs: 60_000 });
    cluster = await startLoxilbCluster(emulator, ids, { mode: 'bfd', retry: { count: 3, intervalMs: 10 } });
    const { peer } = cluster;
    // What a full teardown on the master leaves behind while the CIDR is on its way out.
    const e = emulator.ec2;
    e.terminateInstance(ids.masterInstanceId);
    e.deleteNetworkInterface(ids.enis[0].eniId);
    e.deleteSubnet(ids.subnetId);
    e.disassociateVpcCidr(ids.cidrAssociationId);
    const t = await peer!.waitForTakeover();
    expect(t).toMatchObject({
      status: 'aborted',
      phase: 'A',
      failedCall: { action: 'AssociateVpcCidrBlock', errorCode: 'InvalidVpc.Range' },
    });
  });
});

describe('SIGTERM path (loxilb main loop: RuleDestructAll, then CloudDestroyVIPNetWork if last node standing)', () => {
  test('MASTER with a live BFD peer: EIPs disassociated, nothing destroyed', async () => {
    cluster = await startLoxilbCluster(emulator, ids, { mode: 'bfd' });
    const { master } = cluster;
    await master.stop();
    const s = master.shutdown()!;
    expect(s.destroy).toBe('session-not-down');
    expect(s.rulesRemoved.map((r) => r.ok)).toEqual(ids.enis[0].vips.map(() => true));
    expect(s.calls.map((c) => c.action)).toEqual(
      ids.enis[0].vips.flatMap(() => ['DescribeAddresses', 'DisassociateAddress']),
    );
    const now = currentFootprint(emulator, ids);
    expect(now.eips.every((e) => e.eniId === undefined)).toBe(true);
    expect(now.enis.map((e) => e.eniId)).toEqual([ids.enis[0].eniId]);
    expect(now.subnetIds).toEqual([ids.subnetId]);
  });

  test('last node standing in BFD mode: ENI, subnet and CIDR go; the route table stays', async () => {
    cluster = await startLoxilbCluster(emulator, ids, { mode: 'bfd' });
    const { master, peer } = cluster;
    emulator.ec2.terminateInstance(ids.peerInstanceId!);
    await waitUntil(() => master.sessionStates()![0].state === 'BFDDown', "the master's session Down");
    expect(peer!.isRunning()).toBe(false);
    await master.stop();
    const s = master.shutdown()!;
    expect(s).toMatchObject({ destroy: 'ran', destroyStatus: 'succeeded' });
    const now = currentFootprint(emulator, ids);
    expect(now.enis).toEqual([]);
    expect(now.subnetIds).toEqual([]);
    expect(now.cidrAssociationId).toBeUndefined();
    expect(now.routeTableIds).toEqual([ids.routeTableId]);
    expect(s.calls.map((c) => c.action)).toContain('DetachNetworkInterface');
  });

  test("both nodes reclaimed at once (BFD): each still sees the other Up, nobody takes over or destroys — loxilb's leak", async () => {
    cluster = await startLoxilbCluster(emulator, ids, { mode: 'bfd' });
    const { master, peer } = cluster;
    emulator.ec2.setInstanceState(ids.masterInstanceId, 'shutting-down');
    emulator.ec2.setInstanceState(ids.peerInstanceId!, 'shutting-down');
    await Promise.all([master.stop(), peer!.stop()]);
    expect(master.shutdown()!.destroy).toBe('session-not-down');
    expect(peer!.shutdown()!.destroy).toBe('not-master');
    expect(peer!.takeovers()).toEqual([]);
    const now = currentFootprint(emulator, ids);
    expect(now.enis.map((e) => e.eniId)).toEqual([ids.enis[0].eniId]);
    expect(now.subnetIds).toEqual([ids.subnetId]);
    expect(now.cidrAssociationId).toBe(ids.cidrAssociationId);
  });

  test('setRoles (BFD off): never destroys, even alone', async () => {
    cluster = await startLoxilbCluster(emulator, ids, { mode: 'setroles' });
    const { master, peer } = cluster;
    emulator.ec2.terminateInstance(ids.peerInstanceId!);
    await waitUntil(() => !peer!.isRunning(), 'the peer gone');
    await master.stop();
    expect(master.shutdown()!.destroy).toBe('bfd-off');
    expect(currentFootprint(emulator, ids).enis.map((e) => e.eniId)).toEqual([ids.enis[0].eniId]);
  });

  test('sigtermCleanup: false — the node just exits', async () => {
    cluster = await startLoxilbCluster(emulator, ids, { mode: 'bfd', sigtermCleanup: false });
    await cluster.master.stop();
    expect(cluster.master.shutdown()).toBeUndefined();
    expect(emulator.calls.by(cluster.master.accessKeyId)).toEqual([]);
  });
});
