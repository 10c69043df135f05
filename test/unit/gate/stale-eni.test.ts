import { parseConfig } from '../../../lib/config/load';
import { EniInfo } from '../../../lib/discovery/ec2-reads';
import { Inventory } from '../../../lib/discovery/inventory';
import { planStaleEnis } from '../../../lib/gate/stale-eni';

/**
 * A node that is not the MASTER may remove a stale loxilb ENI of its own, under its own name, only
 * once the current MASTER's own loxilb ENI exists — never while a takeover may still be under way.
 */
const ME = 'i-0aaaaaaaaaaaaaaa1';
const MASTER = 'i-0bbbbbbbbbbbbbbb2';

function eni(id: string, instanceId: string | undefined, over: Partial<EniInfo> = {}): EniInfo {
  return {
    networkInterfaceId: id,
    subnetId: 'subnet-lx',
    vpcId: 'vpc-1',
    status: instanceId ? 'in-use' : 'available',
    tags: { loxiType: 'loxilb-eni' },
    attachment: instanceId
      ? { attachmentId: `eni-attach-${id}`, instanceId, deviceIndex: 1, status: 'attached' }
      : undefined,
    privateIps: [{ address: '123.123.123.10', primary: true }],
    ...over,
  };
}

function inventory(enis: EniInfo[], addresses: Inventory['addresses'] = []): Inventory {
  return {
    instanceId: ME,
    depth: 'instance',
    vpcId: 'vpc-1',
    tagKey: 'loxiType',
    ownerTagKey: 'teardownd:owner',
    tagValues: { eni: 'loxilb-eni', subnet: 'loxilb-subnet', routeTable: 'loxilb-routetable' },
    loxilbEnis: enis,
    addresses,
    subnets: [],
    subnetEnis: [],
    routeTables: [],
    vpcSubnets: [],
    ownerStates: {},
    rememberedEniIds: [],
    remembered: { ownEniIds: [], subnetIds: [], routeTableIds: [] },
    describeCalls: 2,
    warnings: [],
  };
}

const config = parseConfig({ cloud: { cidrBlock: '123.123.123.0/28' } });

describe('stale-eni', () => {
  it("the MASTER's own loxilb ENI exists → detach and delete mine, named stale-eni, nothing else", () => {
    const plan = planStaleEnis(inventory([eni('eni-mine', ME), eni('eni-master', MASTER)]), config);
    expect(plan.scope).toBe('handover');
    expect(plan.actions.map((a) => `${a.action} ${a.resource} ${a.status}`)).toEqual([
      'DetachNetworkInterface eni-mine planned',
      'DeleteNetworkInterface eni-mine planned',
    ]);
    for (const a of plan.actions)
      expect(a.summary).toMatch(
        /^stale-eni: .*the current MASTER's loxilb ENI eni-master on i-0bbbbbbbbbbbbbbb2 exists/,
      );
    expect(plan.warnings).toEqual([]);
  });

  it('no MASTER ENI yet (a takeover may be under way) → kept, and the reason says so', () => {
    const plan = planStaleEnis(inventory([eni('eni-mine', ME), eni('eni-loose', undefined)]), config);
    expect(plan.actions).toEqual([]);
    expect(plan.untouched).toEqual([
      {
        resource: 'eni-mine',
        kind: 'eni',
        reason: expect.stringMatching(/^stale-eni: kept — .*takeover may be under way/),
      },
    ]);
  });

  it('an EIP still on my ENI → kept: the takeover has not moved it yet', () => {
    const plan = planStaleEnis(
      inventory(
        [eni('eni-mine', ME), eni('eni-master', MASTER)],
        [
          {
            allocationId: 'eipalloc-1',
            associationId: 'eipassoc-1',
            networkInterfaceId: 'eni-mine',
            tags: {},
          },
        ],
      ),
      config,
    );
    expect(plan.actions).toEqual([]);
    expect(plan.untouched[0]).toMatchObject({ resource: 'eni-mine', reason: expect.stringMatching(/EIP/) });
  });

  it('nothing of mine → nothing; never an ENI attached to another instance, never device 0', () => {
    expect(planStaleEnis(inventory([eni('eni-master', MASTER)]), config).actions).toEqual([]);
    const primary = eni('eni-primary', ME, {
      attachment: { attachmentId: 'a', instanceId: ME, deviceIndex: 0, status: 'attached' },
    });
    expect(planStaleEnis(inventory([primary, eni('eni-master', MASTER)]), config).actions).toEqual([]);
  });
});
