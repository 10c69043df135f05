import { parseConfig } from '../../../lib/config/load';
import { ConfigInput } from '../../../lib/config/schema';
import { EniInfo } from '../../../lib/discovery/ec2-reads';
import { analyzeOrphans, OrphanFacts, Verdict } from '../../../lib/sweeper/orphans';
import { instancesToLookUp } from '../../../lib/sweeper/orphan-eni';
import { buildOrphanPlan, recheckCidr, recheckEni, recheckShared } from '../../../lib/sweeper/orphan-plan';

const NOW = Date.UTC(2025, 0, 1, 12, 0, 0);
const GRACE = 600000;
const TAKEOVER_GRACE = 900000;
const MASTER = 'i-0aaaaaaaaaaaaaaa1';
const PEER = 'i-0bbbbbbbbbbbbbbb2';
const GHOST = 'i-0ccccccccccccccc3';
const OWNER = 'teardownd:owner';

function eni(id: string, over: Partial<EniInfo> = {}): EniInfo {
  return {
    networkInterfaceId: id,
    subnetId: 'subnet-lx',
    vpcId: 'vpc-1',
    status: 'available',
    description: 'loxilb-eni',
    tags: { loxiType: 'loxilb-eni' },
    privateIps: [
      { address: '123.123.123.10', primary: true },
      { address: '123.123.123.11', primary: false },
    ],
    ...over,
  };
}

function attached(id: string, instanceId: string, over: Partial<EniInfo> = {}): EniInfo {
  return eni(id, {
    status: 'in-use',
    attachment: { attachmentId: `eni-attach-${id}`, instanceId, deviceIndex: 1, status: 'attached' },
    ...over,
  });
}

/** One loxilb cluster in vpc-1: CIDR 123.123.123.0/24 holding the loxilb subnet, its route table. */
function facts(over: Partial<OrphanFacts> = {}): OrphanFacts {
  return {
    now: NOW,
    graceMs: GRACE,
    takeoverGraceMs: TAKEOVER_GRACE,
    tagKey: 'loxiType',
    ownerTagKey: OWNER,
    tagValues: { eni: 'loxilb-eni', subnet: 'loxilb-subnet', routeTable: 'loxilb-routetable' },
    memberInstanceIds: [],
    enis: [],
    addresses: [],
    subnets: [
      {
        subnetId: 'subnet-lx',
        vpcId: 'vpc-1',
        cidrBlock: '123.123.123.0/24',
        availabilityZone: 'us-east-1a',
        tags: { loxiType: 'loxilb-subnet' },
      },
    ],
    subnetEnis: [],
    routeTables: [
      {
        routeTableId: 'rtb-lx',
        vpcId: 'vpc-1',
        tags: { loxiType: 'loxilb-routetable' },
        associations: [
          { associationId: 'rtbassoc-lx', subnetId: 'subnet-lx', main: false, state: 'associated' },
        ],
      },
    ],
    vpcs: [
      {
        vpcId: 'vpc-1',
        primaryCidr: '10.0.0.0/16',
        cidrAssociations: [
          { associationId: 'vpc-cidr-assoc-primary', cidrBlock: '10.0.0.0/16', state: 'associated' },
          { associationId: 'vpc-cidr-assoc-lx', cidrBlock: '123.123.123.0/24', state: 'associated' },
        ],
        subnets: [
          { subnetId: 'subnet-a', vpcId: 'vpc-1', cidrBlock: '10.0.1.0/24', tags: {} },
          {
            subnetId: 'subnet-lx',
            vpcId: 'vpc-1',
            cidrBlock: '123.123.123.0/24',
            tags: { loxiType: 'loxilb-subnet' },
          },
        ],
      },
    ],
    instances: {},
    firstSeen: {},
    ...over,
  };
}

const SHARED = ['subnet-lx', 'rtb-lx', 'vpc-cidr-assoc-lx'];

function verdicts(f: OrphanFacts): Record<string, Verdict> {
  return Object.fromEntries(analyzeOrphans(f).candidates.map((c) => [c.resource, c.verdict]));
}
function candidate(f: OrphanFacts, id: string) {
  return analyzeOrphans(f).candidates.find((c) => c.resource === id)!;
}

describe('orphan rules: loxilb ENIs', () => {
  it.each([
    ['running', 'in-use'],
    ['pending', 'in-use'],
    ['stopping', 'in-use'],
    ['stopped', 'in-use'],
    ['shutting-down', 'in-use'],
    ['terminated', 'uncertain'],
    ['not-found', 'uncertain'],
  ] as const)('attached to an instance that is %s: %s', (state, verdict) => {
    const f = facts({ enis: [attached('eni-1', MASTER)], instances: { [MASTER]: state } });
    expect(candidate(f, 'eni-1').verdict).toBe(verdict);
  });

  it('attached to an instance whose state was not read, or detaching: uncertain', () => {
    expect(candidate(facts({ enis: [attached('eni-1', MASTER)] }), 'eni-1')).toMatchObject({
      verdict: 'uncertain',
      reason: expect.stringContaining('could not be read'),
    });
    const detaching = attached('eni-1', MASTER, {
      status: 'detaching',
      attachment: { attachmentId: 'a', instanceId: MASTER, deviceIndex: 1, status: 'detaching' },
    });
    expect(
      candidate(facts({ enis: [detaching], instances: { [MASTER]: 'terminated' } }), 'eni-1').reason,
    ).toContain('detaching');
  });

  it.each([
    ['terminated', 'orphan', 'terminated'],
    ['not-found', 'orphan', 'does not exist'],
    ['running', 'uncertain', 'left to its owner'],
    ['stopped', 'uncertain', 'left to its owner'],
    ['shutting-down', 'uncertain', 'shutting down'],
  ] as const)('unattached, owner tag names an instance that is %s: %s', (state, verdict, why) => {
    const f = facts({
      enis: [eni('eni-1', { tags: { loxiType: 'loxilb-eni', [OWNER]: MASTER } })],
      instances: { [MASTER]: state },
    });
    const c = candidate(f, 'eni-1');
    expect(c.verdict).toBe(verdict);
    expect(c.reason).toContain(why);
    // No member of the cluster can be alive: the owner tag decides at once, no grace clock.
    expect(analyzeOrphans(f).graceClock['eni-1']).toBeUndefined();
  });

  describe('never racing a takeover: a dead owner’s ENI while the cluster may be alive', () => {
    const dead = eni('eni-1', { tags: { loxiType: 'loxilb-eni', [OWNER]: MASTER } });
    const alive: Array<[string, Partial<OrphanFacts>]> = [
      ['the sweeping host is a member', { memberInstanceIds: [PEER] }],
      ['a peer the cluster names is running', { enis: [dead, attached('eni-2', PEER)] }],
      ['a peer the cluster names is of unknown state', { enis: [dead, attached('eni-2', GHOST)] }],
    ];
    it.each(alive)('%s: uncertain until sweeper.takeoverGraceMs, then an orphan', (_why, over) => {
      const at = (firstSeen?: number) =>
        facts({
          enis: [dead],
          instances: { [MASTER]: 'terminated', [PEER]: 'running' },
          ...over,
          ...(firstSeen === undefined ? {} : { firstSeen: { 'eni-1': firstSeen } }),
        });
      // Just died (first seen now): left to the surviving peer's takeover, and its clock starts.
      const now = at();
      expect(candidate(now, 'eni-1')).toMatchObject({
        verdict: 'uncertain',
        reason: expect.stringContaining('belongs to the takeover'),
      });
      expect(analyzeOrphans(now).graceClock['eni-1']).toBe(NOW);
      expect(candidate(at(NOW - TAKEOVER_GRACE + 1), 'eni-1').verdict).toBe('uncertain');
      expect(candidate(at(NOW - TAKEOVER_GRACE), 'eni-1')).toMatchObject({
        verdict: 'orphan',
        reason: expect.stringContaining(`takeover grace ${TAKEOVER_GRACE} ms`),
      });
      // The same rule right before the call: a sweep that planned it a moment early does not go ahead.
      expect(recheckEni(dead, at(NOW - TAKEOVER_GRACE + 1))).toMatchObject({ outcome: 'skipped' });
      expect(recheckEni(dead, at(NOW - TAKEOVER_GRACE))).toBeUndefined();
    });
  });

  it('an ENI with no owner tag (a dead master without teardownd) also waits out the takeover grace while a member lives', () => {
    const at = (firstSeen: number) =>
      facts({ enis: [eni('eni-1')], memberInstanceIds: [PEER], firstSeen: { 'eni-1': firstSeen } });
    expect(candidate(at(NOW - GRACE), 'eni-1')).toMatchObject({
      verdict: 'uncertain',
      reason: expect.stringContaining('belongs to the takeover'),
    });
    expect(candidate(at(NOW - TAKEOVER_GRACE), 'eni-1').verdict).toBe('orphan');
    // Nobody alive: only the attach grace.
    expect(
      candidate(facts({ enis: [eni('eni-1')], firstSeen: { 'eni-1': NOW - GRACE } }), 'eni-1').verdict,
    ).toBe('orphan');
  });

  it('an owner tag that is not an instance id, or names an instance never looked up: uncertain', () => {
    const bad = facts({ enis: [eni('eni-1', { tags: { loxiType: 'loxilb-eni', [OWNER]: 'master-1' } })] });
    expect(candidate(bad, 'eni-1')).toMatchObject({
      verdict: 'uncertain',
      reason: expect.stringContaining('not an instance id'),
    });
    const unknown = facts({ enis: [eni('eni-1', { tags: { loxiType: 'loxilb-eni', [OWNER]: GHOST } })] });
    expect(candidate(unknown, 'eni-1').verdict).toBe('uncertain');
  });

  it('unattached with no owner tag: uncertain until seen so for the grace period, then an orphan', () => {
    const fresh = facts({ enis: [eni('eni-1')] });
    const a = analyzeOrphans(fresh);
    expect(a.candidates[0]).toMatchObject({
      verdict: 'uncertain',
      reason: expect.stringContaining('first seen 0 ms ago'),
    });
    expect(a.graceClock['eni-1']).toBe(NOW);

    const young = facts({ enis: [eni('eni-1')], firstSeen: { 'eni-1': NOW - GRACE + 1 } });
    expect(candidate(young, 'eni-1').verdict).toBe('uncertain');
    const old = facts({ enis: [eni('eni-1')], firstSeen: { 'eni-1': NOW - GRACE } });
    const c = candidate(old, 'eni-1');
    expect(c.verdict).toBe('orphan');
    expect(c.evidence).toMatchObject({
      unattachedForMs: GRACE,
      graceMs: GRACE,
      firstSeenUnattachedAt: new Date(NOW - GRACE).toISOString(),
    });
    // The record is kept (it must survive until the ENI is gone or attached).
    expect(analyzeOrphans(old).graceClock['eni-1']).toBe(NOW - GRACE);
  });

  it('an attached ENI drops its grace record (a later detach starts the clock over)', () => {
    const f = facts({
      enis: [attached('eni-1', MASTER)],
      instances: { [MASTER]: 'running' },
      firstSeen: { 'eni-1': NOW - 2 * GRACE },
    });
    expect(analyzeOrphans(f).graceClock).toEqual({});
  });

  it('requester-managed, primary, of another status, or without the cluster tag: never an orphan', () => {
    const f = facts({
      enis: [
        eni('eni-rm', { requesterManaged: true }),
        eni('eni-st', { status: 'attaching' }),
        eni('eni-tag', { tags: { loxiType: 'loxilb-eniother' } }),
        attached('eni-p', MASTER, {
          attachment: { attachmentId: 'a', instanceId: MASTER, deviceIndex: 0, status: 'attached' },
        }),
      ],
      instances: { [MASTER]: 'terminated' },
      firstSeen: { 'eni-rm': 0, 'eni-st': 0, 'eni-tag': 0, 'eni-p': 0 },
    });
    expect(verdicts(f)).toMatchObject({
      'eni-rm': 'uncertain',
      'eni-st': 'uncertain',
      'eni-tag': 'uncertain',
      'eni-p': 'in-use',
    });
  });

  it('instancesToLookUp: owner tags that are instance ids and attachments, once each', () => {
    expect(
      instancesToLookUp(
        [
          eni('e1', { tags: { [OWNER]: MASTER } }),
          eni('e2', { tags: { [OWNER]: 'garbage' } }),
          attached('e3', PEER, { tags: { [OWNER]: MASTER } }),
        ],
        OWNER,
      ),
    ).toEqual([MASTER, PEER]);
  });
});

describe('orphan rules: the shared subnet, route table and CIDR', () => {
  const deadCluster = (over: Partial<OrphanFacts> = {}) =>
    facts({
      enis: [eni('eni-1', { tags: { loxiType: 'loxilb-eni', [OWNER]: MASTER } })],
      instances: { [MASTER]: 'terminated' },
      firstSeen: { 'subnet-lx': NOW - GRACE, 'rtb-lx': NOW - GRACE, 'vpc-cidr-assoc-lx': NOW - GRACE },
      ...over,
    });

  it('a dead cluster whose only ENIs are orphans, past the grace period: everything is an orphan, the primary CIDR never', () => {
    const v = verdicts(deadCluster());
    expect(v).toEqual({
      'eni-1': 'orphan',
      'subnet-lx': 'orphan',
      'rtb-lx': 'orphan',
      'vpc-cidr-assoc-lx': 'orphan',
    });
  });

  it('a cluster ENI in use (a live master, or a peer anywhere in the region): shared resources in use, no grace clock', () => {
    const f = deadCluster({
      enis: [
        eni('eni-1', { tags: { loxiType: 'loxilb-eni', [OWNER]: MASTER } }),
        attached('eni-peer', PEER, { subnetId: 'subnet-peer' }),
      ],
      instances: { [MASTER]: 'terminated', [PEER]: 'running' },
      // Past the takeover grace (tested on its own above): the dead master's ENI is an orphan.
      firstSeen: { 'eni-1': NOW - TAKEOVER_GRACE },
    });
    const a = analyzeOrphans(f);
    expect(verdicts(f)).toMatchObject({
      'eni-1': 'orphan',
      'subnet-lx': 'in-use',
      'rtb-lx': 'in-use',
      'vpc-cidr-assoc-lx': 'in-use',
    });
    expect(a.cluster.sharedKeptBecause?.reason).toContain('eni-peer (attached to i-0bbbbbbbbbbbbbbb2)');
    for (const id of SHARED) expect(a.graceClock[id]).toBeUndefined();
  });

  it('the sweeping host is a live member: shared resources stay even in a dead-looking cluster', () => {
    const f = deadCluster({ memberInstanceIds: [PEER] });
    for (const id of SHARED)
      expect(candidate(f, id)).toMatchObject({ verdict: 'in-use', reason: expect.stringContaining(PEER) });
  });

  it('a subnet created moments ago with no ENI yet: uncertain through the grace period, and the clock starts now', () => {
    const f = facts();
    const a = analyzeOrphans(f);
    for (const id of SHARED) {
      expect(a.candidates.find((c) => c.resource === id)!.verdict).toBe('uncertain');
      expect(a.graceClock[id]).toBe(NOW);
    }
    expect(candidate(f, 'subnet-lx').reason).toContain('an orphan only after 600000 ms');
  });

  it('the shared clocks run while the ENIs wait on theirs, so both end together', () => {
    const f = facts({ enis: [eni('eni-1')] });
    const a = analyzeOrphans(f);
    expect(a.graceClock).toEqual({ 'eni-1': NOW, 'subnet-lx': NOW, 'rtb-lx': NOW, 'vpc-cidr-assoc-lx': NOW });
    const later = facts({
      enis: [eni('eni-1')],
      firstSeen: Object.fromEntries(Object.keys(a.graceClock).map((id) => [id, NOW - GRACE])),
    });
    expect(new Set(Object.values(verdicts(later)))).toEqual(new Set(['orphan']));
  });

  it('an ENI that is uncertain for another reason (owner alive, unattached) keeps the shared resources and their clock off', () => {
    const f = deadCluster({
      enis: [eni('eni-1', { tags: { loxiType: 'loxilb-eni', [OWNER]: MASTER } })],
      instances: { [MASTER]: 'stopped' },
    });
    const a = analyzeOrphans(f);
    for (const id of SHARED) expect(a.candidates.find((c) => c.resource === id)!.verdict).toBe('uncertain');
    for (const id of SHARED) expect(a.graceClock[id]).toBeUndefined();
  });

  it('a foreign ENI in the subnet keeps the subnet, the route table on it and the CIDR around it', () => {
    const f = deadCluster({ subnetEnis: [attached('eni-foreign', PEER, { tags: {} })] });
    const v = analyzeOrphans(f).candidates;
    expect(v.find((c) => c.resource === 'subnet-lx')).toMatchObject({
      verdict: 'uncertain',
      reason: expect.stringContaining('eni-foreign'),
    });
    expect(v.find((c) => c.resource === 'rtb-lx')).toMatchObject({
      verdict: 'uncertain',
      reason: expect.stringContaining('not an orphan'),
    });
    expect(v.find((c) => c.resource === 'vpc-cidr-assoc-lx')).toMatchObject({
      verdict: 'uncertain',
      reason: expect.stringContaining('subnet-lx'),
    });
  });

  it('a route table that is main, on a gateway, or on a subnet that is not a loxilb one: kept', () => {
    for (const association of [
      { associationId: 'rtbassoc-main', main: true, state: 'associated' },
      { associationId: 'rtbassoc-gw', gatewayId: 'igw-1', main: false, state: 'associated' },
      { associationId: 'rtbassoc-a', subnetId: 'subnet-a', main: false, state: 'associated' },
    ]) {
      const f = deadCluster({
        routeTables: [
          {
            routeTableId: 'rtb-lx',
            vpcId: 'vpc-1',
            tags: { loxiType: 'loxilb-routetable' },
            associations: [association],
          },
        ],
      });
      expect(candidate(f, 'rtb-lx').verdict).toBe('uncertain');
    }
  });

  it('a CIDR that also holds a subnet that is not loxilb: kept; a CIDR that is associating: not a candidate', () => {
    const vpc = deadCluster().vpcs[0];
    const withOther = deadCluster({
      vpcs: [
        {
          ...vpc,
          subnets: [
            ...vpc.subnets,
            { subnetId: 'subnet-x', vpcId: 'vpc-1', cidrBlock: '123.123.123.0/28', tags: {} },
          ],
        },
      ],
    });
    expect(candidate(withOther, 'vpc-cidr-assoc-lx')).toMatchObject({
      verdict: 'uncertain',
      reason: expect.stringContaining('subnet-x (not a loxilb subnet)'),
    });
    const associating = deadCluster({
      vpcs: [{ ...vpc, cidrAssociations: vpc.cidrAssociations.map((a) => ({ ...a, state: 'associating' })) }],
    });
    expect(candidate(associating, 'vpc-cidr-assoc-lx')).toBeUndefined();
  });

  it('config cloud.cidrBlock picks the CIDR even when its subnet is already gone; the primary CIDR is never an orphan', () => {
    const f = deadCluster({ subnets: [], cloudCidrBlock: '123.123.123.0/24' });
    f.vpcs[0].subnets = f.vpcs[0].subnets.filter((s) => s.subnetId !== 'subnet-lx');
    expect(candidate(f, 'vpc-cidr-assoc-lx').verdict).toBe('orphan');
    const primary = deadCluster({ cloudCidrBlock: '10.0.0.0/16' });
    expect(candidate(primary, 'vpc-cidr-assoc-primary')).toMatchObject({
      verdict: 'in-use',
      reason: expect.stringContaining('primary'),
    });
  });
});

describe('the orphan plan', () => {
  const config = (over: ConfigInput = {}) => parseConfig(over);
  const dead = () =>
    facts({
      enis: [eni('eni-1', { tags: { loxiType: 'loxilb-eni', [OWNER]: MASTER } })],
      addresses: [
        {
          allocationId: 'eipalloc-1',
          associationId: 'eipassoc-1',
          publicIp: '3.3.3.1',
          networkInterfaceId: 'eni-1',
          tags: {},
        },
        {
          allocationId: 'eipalloc-2',
          associationId: 'eipassoc-2',
          publicIp: '3.3.3.2',
          networkInterfaceId: 'eni-1',
          tags: { 'teardownd:release': 'true' },
        },
      ],
      instances: { [MASTER]: 'terminated' },
      firstSeen: { 'subnet-lx': 0, 'rtb-lx': 0, 'vpc-cidr-assoc-lx': 0 },
    });

  it('every orphan, in dependency order, every shared action after every ENI delete', () => {
    const f = dead();
    const { plan, actionsOf } = buildOrphanPlan(f, analyzeOrphans(f), config(), 'sweeper');
    expect(plan.actions.map((a) => `${a.action} ${a.resource} ${a.status}`)).toEqual([
      'DisassociateAddress eipassoc-1 planned',
      'DisassociateAddress eipassoc-2 planned',
      'DeleteNetworkInterface eni-1 planned',
      'DisassociateRouteTable rtbassoc-lx planned',
      'DeleteRouteTable rtb-lx planned',
      'DeleteSubnet subnet-lx planned',
      'DisassociateVpcCidrBlock vpc-cidr-assoc-lx planned',
    ]);
    const byAction = Object.fromEntries(plan.actions.map((a) => [a.action, a]));
    expect(byAction.DeleteNetworkInterface.params).toMatchObject({ waitForDetach: false });
    expect(byAction.DeleteRouteTable.dependsOn).toEqual([
      'eni:DeleteNetworkInterface:eni-1',
      'route-table:DisassociateRouteTable:rtbassoc-lx',
    ]);
    expect(byAction.DeleteSubnet.dependsOn).toEqual(['eni:DeleteNetworkInterface:eni-1']);
    expect(byAction.DisassociateVpcCidrBlock.dependsOn).toEqual([
      'eni:DeleteNetworkInterface:eni-1',
      'subnet:DeleteSubnet:subnet-lx',
    ]);
    expect(actionsOf['eni-1']).toEqual([
      'eip:DisassociateAddress:eipassoc-1',
      'eip:DisassociateAddress:eipassoc-2',
      'eni:DeleteNetworkInterface:eni-1',
    ]);
    expect(plan.untouched).toEqual([]);
  });

  it('EIPs are released only under release-owned and only with the release tag', () => {
    const f = dead();
    const { plan } = buildOrphanPlan(
      f,
      analyzeOrphans(f),
      config({ eip: { policy: 'release-owned' } }),
      'sweeper',
    );
    expect(plan.actions.filter((a) => a.action === 'ReleaseAddress').map((a) => a.resource)).toEqual([
      'eipalloc-2',
    ]);
  });

  it('a disabled stage skips its actions; what is not an orphan is listed as untouched', () => {
    const f = dead();
    f.enis.push(attached('eni-live', PEER));
    f.instances[PEER] = 'running';
    f.takeoverGraceMs = 0;
    const { plan } = buildOrphanPlan(f, analyzeOrphans(f), config({ stages: { eip: false } }), 'sweeper');
    expect(plan.actions.filter((a) => a.stage === 'eip').every((a) => a.status === 'skipped')).toBe(true);
    expect(plan.actions.find((a) => a.action === 'DeleteNetworkInterface')?.status).toBe('planned');
    expect(plan.actions.some((a) => a.resource === 'subnet-lx')).toBe(false);
    expect(plan.untouched.map((u) => u.resource)).toEqual([
      'eni-live',
      'subnet-lx',
      'rtb-lx',
      'vpc-cidr-assoc-lx',
    ]);
  });

  it("the planner's safety check still vets every action: a primary CIDR called an orphan is skipped", () => {
    const f = dead();
    const a = analyzeOrphans(f);
    // A bug upstream that called the primary CIDR an orphan must still not reach EC2.
    a.candidates.push({
      resource: 'vpc-cidr-assoc-primary',
      kind: 'vpc-cidr',
      vpcId: 'vpc-1',
      verdict: 'orphan',
      reason: 'bug',
      evidence: {},
    });
    const { plan } = buildOrphanPlan(f, a, config(), 'sweeper');
    expect(plan.actions.find((x) => x.resource === 'vpc-cidr-assoc-primary')).toMatchObject({
      status: 'skipped',
      reason: expect.stringContaining('primary CIDR'),
    });
  });
});

describe('the re-check right before each call', () => {
  const f = facts({ instances: { [MASTER]: 'terminated' }, firstSeen: { 'eni-1': NOW - GRACE } });

  it('an ENI that is still an orphan goes ahead; a gone one is already done', () => {
    expect(
      recheckEni(eni('eni-1', { tags: { loxiType: 'loxilb-eni', [OWNER]: MASTER } }), f),
    ).toBeUndefined();
    expect(recheckEni(eni('eni-1'), f)).toBeUndefined();
    expect(recheckEni(undefined, f)).toEqual({ outcome: 'already-done', message: 'the ENI is already gone' });
  });

  it('an ENI attached meanwhile, or re-tagged by a new owner the sweep did not look up, is skipped', () => {
    expect(recheckEni(attached('eni-1', PEER), f)).toMatchObject({
      outcome: 'skipped',
      message: expect.stringContaining('no longer an orphan'),
    });
    expect(recheckEni(eni('eni-1', { tags: { loxiType: 'loxilb-eni', [OWNER]: PEER } }), f)).toMatchObject({
      outcome: 'skipped',
    });
  });

  it('a shared action is skipped when a loxilb ENI of the cluster exists that this sweep did not remove', () => {
    expect(recheckShared([], new Set())).toBeUndefined();
    expect(recheckShared([eni('eni-1')], new Set(['eni-1']))).toBeUndefined();
    expect(recheckShared([eni('eni-1'), attached('eni-new', PEER)], new Set(['eni-1']))).toMatchObject({
      outcome: 'skipped',
      message: expect.stringContaining('eni-new (attached to i-0bbbbbbbbbbbbbbb2)'),
    });
  });

  it('a CIDR association that is going or gone is already done', () => {
    expect(recheckCidr('associated')).toBeUndefined();
    expect(recheckCidr('disassociating')?.outcome).toBe('already-done');
    expect(recheckCidr(undefined)?.outcome).toBe('already-done');
  });
});
