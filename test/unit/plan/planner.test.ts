import { parseConfig } from '../../../lib/config/load';
import { ConfigInput } from '../../../lib/config/schema';
import { InstanceState } from '../../../lib/discovery/instance-state';
import { EniInfo } from '../../../lib/discovery/ec2-reads';
import { Inventory } from '../../../lib/discovery/inventory';
import { Plan, PlannedAction, safetyViolation } from '../../../lib/plan/actions';
import { buildPlan } from '../../../lib/plan/planner';

const ME = 'i-0aaaaaaaaaaaaaaa1';
const PEER = 'i-0bbbbbbbbbbbbbbb2';
const T = { loxiType: 'loxilb-eni' };

function eni(id: string, over: Partial<EniInfo> = {}): EniInfo {
  return {
    networkInterfaceId: id,
    subnetId: 'subnet-lx',
    vpcId: 'vpc-1',
    status: 'in-use',
    tags: { ...T },
    attachment: { attachmentId: `eni-attach-${id}`, instanceId: ME, deviceIndex: 1, status: 'attached' },
    privateIps: [
      { address: '123.123.123.10', primary: true },
      { address: '123.123.123.11', primary: false },
    ],
    ...over,
  };
}

/** The loxilb footprint of one master: CIDR, subnet, route table, one ENI with two EIPs. */
function inventory(over: Partial<Inventory> = {}): Inventory {
  return {
    instanceId: ME,
    depth: 'full',
    vpcId: 'vpc-1',
    vpcPrimaryCidr: '10.0.0.0/16',
    tagKey: 'loxiType',
    ownerTagKey: 'teardownd:owner',
    tagValues: { eni: 'loxilb-eni', subnet: 'loxilb-subnet', routeTable: 'loxilb-routetable' },
    loxilbEnis: [eni('eni-lx')],
    addresses: [
      {
        allocationId: 'eipalloc-1',
        associationId: 'eipassoc-1',
        publicIp: '3.3.3.1',
        networkInterfaceId: 'eni-lx',
        privateIpAddress: '123.123.123.10',
        tags: {},
      },
      {
        allocationId: 'eipalloc-2',
        associationId: 'eipassoc-2',
        publicIp: '3.3.3.2',
        networkInterfaceId: 'eni-lx',
        privateIpAddress: '123.123.123.11',
        tags: { 'teardownd:release': 'true' },
      },
    ],
    subnets: [
      {
        subnetId: 'subnet-lx',
        vpcId: 'vpc-1',
        cidrBlock: '123.123.123.0/28',
        tags: { loxiType: 'loxilb-subnet' },
      },
    ],
    subnetEnis: [eni('eni-lx')],
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
    cidr: {
      vpcId: 'vpc-1',
      associationId: 'vpc-cidr-assoc-lx',
      cidrBlock: '123.123.123.0/28',
      primary: false,
      state: 'associated',
      source: 'config',
    },
    vpcSubnets: [
      { subnetId: 'subnet-app', vpcId: 'vpc-1', cidrBlock: '10.0.1.0/24', tags: {} },
      {
        subnetId: 'subnet-lx',
        vpcId: 'vpc-1',
        cidrBlock: '123.123.123.0/28',
        tags: { loxiType: 'loxilb-subnet' },
      },
    ],
    ownerStates: {},
    rememberedEniIds: [],
    remembered: { ownEniIds: ['eni-lx'], subnetIds: ['subnet-lx'], routeTableIds: ['rtb-lx'] },
    describeCalls: 0,
    warnings: [],
    ...over,
  };
}

const cfg = (input: ConfigInput = {}) => parseConfig({ cloud: { cidrBlock: '123.123.123.0/28' }, ...input });
const byAction = (plan: Plan) => plan.actions.map((a) => `${a.action} ${a.resource} ${a.status}`);
const find = (plan: Plan, action: string, resource?: string): PlannedAction =>
  plan.actions.find((a) => a.action === action && (!resource || a.resource === resource))!;

describe('planner', () => {
  it('full scope: every stage in dependency order', () => {
    const plan = buildPlan(inventory(), 'full', cfg());
    expect(byAction(plan)).toEqual([
      'DisassociateAddress eipassoc-1 planned',
      'DisassociateAddress eipassoc-2 planned',
      'DetachNetworkInterface eni-lx planned',
      'DeleteNetworkInterface eni-lx planned',
      'DisassociateRouteTable rtbassoc-lx planned',
      'DeleteRouteTable rtb-lx planned',
      'DeleteSubnet subnet-lx planned',
      'DisassociateVpcCidrBlock vpc-cidr-assoc-lx planned',
    ]);
    expect(find(plan, 'DeleteNetworkInterface').params).toMatchObject({ waitForDetach: true });
    expect(find(plan, 'DeleteNetworkInterface').dependsOn).toEqual(['eni:DetachNetworkInterface:eni-lx']);
    expect(find(plan, 'DeleteSubnet').dependsOn).toEqual(['eni:DeleteNetworkInterface:eni-lx']);
    expect(find(plan, 'DisassociateVpcCidrBlock').dependsOn).toEqual(['subnet:DeleteSubnet:subnet-lx']);
    expect(find(plan, 'DeleteRouteTable').dependsOn).toEqual([
      'route-table:DisassociateRouteTable:rtbassoc-lx',
    ]);
  });

  it('handover scope: nothing runs, every action skipped for the takeover, with the reason', () => {
    const plan = buildPlan(inventory(), 'handover', cfg());
    expect(plan.actions.map((a) => a.stage)).toEqual(['eip', 'eip', 'eni', 'eni']);
    expect(plan.actions.every((a) => a.status === 'skipped' && /handover: .*takeover/.test(a.reason!))).toBe(
      true,
    );
  });

  it('none scope: everything skipped, with the reason', () => {
    const plan = buildPlan(inventory(), 'none', cfg());
    expect(plan.actions.every((a) => a.status === 'skipped' && /scope none/.test(a.reason!))).toBe(true);
  });

  it('releases only tagged EIPs, and only with policy release-owned', () => {
    expect(buildPlan(inventory(), 'full', cfg()).actions.some((a) => a.action === 'ReleaseAddress')).toBe(
      false,
    );
    const plan = buildPlan(inventory(), 'full', cfg({ eip: { policy: 'release-owned' } }));
    const releases = plan.actions.filter((a) => a.action === 'ReleaseAddress');
    expect(releases.map((a) => a.resource)).toEqual(['eipalloc-2']);
    expect(releases[0].dependsOn).toEqual(['eip:DisassociateAddress:eipassoc-2']);
  });

  it('an ENI already detaching gets wait + delete, not a second detach', () => {
    const inv = inventory({
      loxilbEnis: [
        eni('eni-lx', {
          status: 'detaching',
          attachment: { attachmentId: 'eni-attach-x', instanceId: ME, deviceIndex: 1, status: 'detaching' },
        }),
      ],
    });
    const plan = buildPlan(inv, 'full', cfg());
    expect(plan.actions.some((a) => a.action === 'DetachNetworkInterface')).toBe(false);
    expect(find(plan, 'DeleteNetworkInterface').params).toMatchObject({ waitForDetach: true });
  });

  it('an already-detached ENI carrying our owner tag is deleted without waiting', () => {
    const inv = inventory({
      loxilbEnis: [
        eni('eni-lx', { status: 'available', attachment: undefined, tags: { ...T, 'teardownd:owner': ME } }),
      ],
      addresses: [],
      subnets: [],
      routeTables: [],
      cidr: undefined,
    });
    const plan = buildPlan(inv, 'full', cfg());
    expect(byAction(plan)).toEqual(['DeleteNetworkInterface eni-lx planned']);
    expect(find(plan, 'DeleteNetworkInterface').params).toMatchObject({ waitForDetach: false });
  });

  describe('full scope as loxilb destroy: unattached ENIs no live instance owns', () => {
    const failedAttach = eni('eni-failed', {
      status: 'available',
      attachment: undefined,
      privateIps: [{ address: '123.123.123.20', primary: true }],
    });
    const withFailedAttach = (over: Partial<Inventory> = {}) =>
      inventory({
        loxilbEnis: [eni('eni-lx'), failedAttach],
        subnetEnis: [eni('eni-lx'), failedAttach],
        ...over,
      });

    it('an unattached tagged ENI with no owner tag goes first, so subnet, route table and CIDR are not blocked', () => {
      const plan = buildPlan(withFailedAttach(), 'full', cfg());
      const del = find(plan, 'DeleteNetworkInterface', 'eni-failed');
      expect(del).toMatchObject({ status: 'planned', params: { waitForDetach: false } });
      expect(del.summary).toMatch(/no owner tag/);
      expect(find(plan, 'DeleteSubnet')).toMatchObject({ status: 'planned' });
      expect(find(plan, 'DeleteSubnet').dependsOn).toContain(del.id);
      expect(find(plan, 'DeleteRouteTable').status).toBe('planned');
      expect(find(plan, 'DisassociateVpcCidrBlock').status).toBe('planned');
      expect(safetyViolation(del, ME)).toBeUndefined();
    });

    it('its owner terminated or gone: removed; its owner alive (running, stopped) or unknown: kept and the subnet stays', () => {
      for (const state of ['terminated', 'not-found', 'shutting-down'] as const) {
        const owned = { ...failedAttach, tags: { ...T, 'teardownd:owner': PEER } };
        const plan = buildPlan(
          withFailedAttach({
            loxilbEnis: [eni('eni-lx'), owned],
            subnetEnis: [owned],
            ownerStates: { [PEER]: state },
          }),
          'full',
          cfg(),
        );
        expect(find(plan, 'DeleteNetworkInterface', 'eni-failed').status).toBe('planned');
        expect(find(plan, 'DeleteSubnet').status).toBe('planned');
      }
      for (const states of [{ [PEER]: 'running' }, { [PEER]: 'stopped' }, {}] as Array<
        Record<string, InstanceState>
      >) {
        const owned = { ...failedAttach, tags: { ...T, 'teardownd:owner': PEER } };
        const plan = buildPlan(
          withFailedAttach({ loxilbEnis: [eni('eni-lx'), owned], subnetEnis: [owned], ownerStates: states }),
          'full',
          cfg(),
        );
        expect(find(plan, 'DeleteNetworkInterface', 'eni-failed')).toBeUndefined();
        expect(plan.untouched).toContainEqual(expect.objectContaining({ resource: 'eni-failed' }));
        expect(find(plan, 'DeleteSubnet')).toMatchObject({ status: 'blocked', blockers: ['eni-failed'] });
      }
    });

    it('handover never takes them; a detaching one or one attached to another instance never goes', () => {
      expect(
        find(buildPlan(withFailedAttach(), 'handover', cfg()), 'DeleteNetworkInterface', 'eni-failed'),
      ).toBe(undefined);
      for (const other of [
        eni('eni-failed', {
          attachment: { attachmentId: 'x', instanceId: PEER, deviceIndex: 1, status: 'attached' },
        }),
        eni('eni-failed', {
          status: 'detaching',
          attachment: { attachmentId: 'x', instanceId: PEER, deviceIndex: 1, status: 'detaching' },
        }),
      ]) {
        const plan = buildPlan(withFailedAttach({ loxilbEnis: [eni('eni-lx'), other] }), 'full', cfg());
        expect(find(plan, 'DeleteNetworkInterface', 'eni-failed')).toBeUndefined();
      }
    });

    it('safetyViolation refuses an unattached ENI whose owner is alive, even when marked abandoned', () => {
      const plan = buildPlan(withFailedAttach(), 'full', cfg());
      const del = find(plan, 'DeleteNetworkInterface', 'eni-failed');
      const owned = {
        ...del,
        facts: {
          ...del.facts,
          ownerTag: { key: 'teardownd:owner', value: PEER },
          abandoned: { ownerState: 'running' as const },
        },
      };
      expect(safetyViolation(owned, ME)).toMatch(/owner i-0bbbbbbbbbbbbbbb2 is running/);
      const notAbandoned = { ...del, facts: { ...del.facts, abandoned: undefined } };
      expect(safetyViolation(notAbandoned, ME)).toMatch(/not attached to/);
      const attached = {
        ...del,
        facts: { ...del.facts, eniAttachment: { instanceId: PEER, deviceIndex: 1, status: 'attached' } },
      };
      expect(safetyViolation(attached, ME)).toMatch(/another instance/);
    });
  });

  it('an ENI this episode recorded as its own (journal) is deleted after a crash between detach and delete, owner tag or not', () => {
    const detached = eni('eni-lx', { status: 'available', attachment: undefined });
    const inv = inventory({ loxilbEnis: [detached], subnetEnis: [detached], addresses: [] });
    const eniDelete = (p: Plan) => find(p, 'DeleteNetworkInterface', 'eni-lx');
    // Without the record, only full scope's "no live owner" rule would take it.
    expect(eniDelete(buildPlan(inv, 'full', cfg())).summary).toMatch(/no owner tag/);
    const plan = buildPlan({ ...inv, rememberedEniIds: ['eni-lx'] }, 'full', cfg());
    expect(eniDelete(plan)).toMatchObject({ status: 'planned', facts: { remembered: true } });
    expect(eniDelete(plan).summary).toMatch(/recorded as this host’s by an earlier run of this episode/);
    // Claimed by another (running) instance meanwhile, by its owner tag: the record does not override it.
    const claimed = { ...detached, tags: { ...T, 'teardownd:owner': PEER } };
    const withClaim = {
      ...inv,
      loxilbEnis: [claimed],
      subnetEnis: [claimed],
      ownerStates: { [PEER]: 'running' as const },
    };
    expect(
      eniDelete(buildPlan({ ...withClaim, rememberedEniIds: ['eni-lx'] }, 'full', cfg())),
    ).toBeUndefined();
    const del = eniDelete(plan);
    expect(
      safetyViolation(
        { ...del, facts: { ...del.facts, ownerTag: { key: 'teardownd:owner', value: PEER } } },
        ME,
      ),
    ).toMatch(/tag does not name it/);
    // Re-attached elsewhere meanwhile: the record does not override invariant 2.
    const elsewhere = eni('eni-lx', {
      attachment: { attachmentId: 'x', instanceId: PEER, deviceIndex: 1, status: 'attached' },
    });
    const again = buildPlan(
      { ...inv, loxilbEnis: [elsewhere], subnetEnis: [elsewhere], rememberedEniIds: ['eni-lx'] },
      'full',
      cfg(),
    );
    expect(eniDelete(again)).toBeUndefined();
    expect(again.untouched).toContainEqual(expect.objectContaining({ resource: 'eni-lx' }));
  });

  describe('safety invariants', () => {
    it('never an ENI attached to another instance (nor its EIPs)', () => {
      const inv = inventory({
        loxilbEnis: [
          eni('eni-peer', {
            attachment: { attachmentId: 'a', instanceId: PEER, deviceIndex: 1, status: 'attached' },
          }),
        ],
        addresses: [
          {
            associationId: 'eipassoc-p',
            allocationId: 'eipalloc-p',
            networkInterfaceId: 'eni-peer',
            tags: {},
          },
        ],
        subnets: [],
        routeTables: [],
        cidr: undefined,
      });
      const plan = buildPlan(inv, 'full', cfg());
      expect(plan.actions).toEqual([]);
      expect(plan.untouched).toEqual([
        { resource: 'eni-peer', kind: 'eni', reason: `attached to another instance (${PEER})` },
      ]);
    });

    it('never device index 0', () => {
      const inv = inventory({
        loxilbEnis: [
          eni('eni-primary', {
            attachment: { attachmentId: 'a', instanceId: ME, deviceIndex: 0, status: 'attached' },
          }),
        ],
        addresses: [],
        subnets: [],
        routeTables: [],
        cidr: undefined,
      });
      const plan = buildPlan(inv, 'full', cfg());
      expect(plan.actions).toEqual([]);
      expect(plan.untouched[0]).toMatchObject({
        resource: 'eni-primary',
        reason: expect.stringMatching(/device index 0/),
      });
    });

    it('never an untagged resource, even if discovery returned it', () => {
      const inv = inventory({
        loxilbEnis: [eni('eni-untagged', { tags: {} })],
        subnets: [{ subnetId: 'subnet-x', vpcId: 'vpc-1', cidrBlock: '10.0.9.0/24', tags: {} }],
        routeTables: [
          { routeTableId: 'rtb-x', vpcId: 'vpc-1', tags: { loxiType: 'something-else' }, associations: [] },
        ],
        addresses: [],
        cidr: undefined,
      });
      const plan = buildPlan(inv, 'full', cfg());
      expect(plan.actions).toEqual([]);
      expect(plan.untouched.map((u) => u.resource).sort()).toEqual(['eni-untagged', 'rtb-x', 'subnet-x']);
    });

    it('never the primary VPC CIDR', () => {
      const inv = inventory({
        cidr: {
          vpcId: 'vpc-1',
          associationId: 'vpc-cidr-assoc-primary',
          cidrBlock: '10.0.0.0/16',
          primary: true,
          source: 'config',
        },
      });
      const a = find(
        buildPlan(inv, 'full', cfg({ cloud: { cidrBlock: '10.0.0.0/16' } })),
        'DisassociateVpcCidrBlock',
      );
      expect(a.status).toBe('skipped');
      expect(a.reason).toMatch(/primary CIDR/);
    });

    it('safetyViolation re-checks what the planner checked (for the executor)', () => {
      const plan = buildPlan(inventory(), 'full', cfg());
      const detach = find(plan, 'DetachNetworkInterface');
      expect(safetyViolation(detach, ME)).toBeUndefined();
      expect(
        safetyViolation(
          {
            ...detach,
            facts: {
              ...detach.facts,
              eniAttachment: { instanceId: PEER, deviceIndex: 1, status: 'attached' },
            },
          },
          ME,
        ),
      ).toMatch(/another instance/);
      expect(safetyViolation({ ...detach, facts: { ...detach.facts, tags: {} } }, ME)).toMatch(
        /ownership tag/,
      );
      const cidr = find(plan, 'DisassociateVpcCidrBlock');
      expect(
        safetyViolation(
          {
            ...cidr,
            facts: { cidr: { cidrBlock: '10.0.0.0/16', primary: false, vpcPrimaryCidr: '10.0.0.0/16' } },
          },
          ME,
        ),
      ).toMatch(/primary/);
    });
  });

  describe('dependency checks up front', () => {
    it('a subnet holding a foreign ENI is blocked with the ENI id; the CIDR too; the rest proceeds', () => {
      const foreign = eni('eni-foreign', {
        tags: {},
        attachment: { attachmentId: 'x', instanceId: PEER, deviceIndex: 1, status: 'attached' },
      });
      const plan = buildPlan(inventory({ subnetEnis: [eni('eni-lx'), foreign] }), 'full', cfg());
      const subnet = find(plan, 'DeleteSubnet');
      expect(subnet.status).toBe('blocked');
      expect(subnet.blockers).toEqual(['eni-foreign']);
      expect(subnet.reason).toMatch(/eni-foreign \(attached to i-0bbbbbbbbbbbbbbb2\)/);
      const cidr = find(plan, 'DisassociateVpcCidrBlock');
      expect(cidr.status).toBe('blocked');
      expect(cidr.blockers).toEqual(['subnet-lx']);
      // The route table serves the subnet that stays, so it stays too.
      expect(find(plan, 'DeleteRouteTable').status).toBe('blocked');
      // Everything bound to this instance still goes.
      expect(
        plan.actions
          .filter((a) => a.stage === 'eip' || a.stage === 'eni')
          .every((a) => a.status === 'planned'),
      ).toBe(true);
    });

    it('a route table associated with a subnet we are not deleting is blocked', () => {
      const inv = inventory();
      inv.routeTables[0].associations.push({
        associationId: 'rtbassoc-app',
        subnetId: 'subnet-app',
        main: false,
        state: 'associated',
      });
      const plan = buildPlan(inv, 'full', cfg());
      const rt = find(plan, 'DeleteRouteTable');
      expect(rt.status).toBe('blocked');
      expect(rt.blockers).toEqual(['subnet-app']);
      expect(plan.actions.some((a) => a.action === 'DisassociateRouteTable')).toBe(false);
      expect(find(plan, 'DeleteSubnet').status).toBe('planned');
      expect(find(plan, 'DisassociateVpcCidrBlock').status).toBe('planned');
    });

    it('the main route table is never deleted', () => {
      const inv = inventory();
      inv.routeTables[0].associations = [{ associationId: 'rtbassoc-main', main: true, state: 'associated' }];
      expect(find(buildPlan(inv, 'full', cfg()), 'DeleteRouteTable').reason).toMatch(/main route table/);
    });

    it('a CIDR that holds a subnet that is not loxilb’s is blocked', () => {
      const inv = inventory();
      inv.vpcSubnets.push({
        subnetId: 'subnet-other',
        vpcId: 'vpc-1',
        cidrBlock: '123.123.123.0/29',
        tags: {},
      });
      const cidr = find(buildPlan(inv, 'full', cfg()), 'DisassociateVpcCidrBlock');
      expect(cidr.status).toBe('blocked');
      expect(cidr.reason).toMatch(/subnet-other \(not a loxilb subnet\)/);
    });

    it('a disabled stage is skipped, and what depends on it is blocked', () => {
      const plan = buildPlan(inventory(), 'full', cfg({ stages: { eni: false } }));
      expect(find(plan, 'DeleteNetworkInterface')).toMatchObject({
        status: 'skipped',
        reason: 'stage disabled by config stages.eni',
      });
      expect(find(plan, 'DeleteSubnet').status).toBe('blocked');
      expect(find(plan, 'DeleteSubnet').blockers).toEqual(['eni-lx']);
      expect(find(plan, 'DisassociateAddress', 'eipassoc-1').status).toBe('planned');
    });
  });
});
