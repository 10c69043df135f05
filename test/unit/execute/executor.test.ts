import { parseConfig } from '../../../lib/config/load';
import { ConfigInput } from '../../../lib/config/schema';
import { EngineDeps, runTeardown, TeardownRequest } from '../../../lib/episode/engine';
import { nullLogger } from '../../../lib/log';
import { LoxilbApi } from '../../../lib/gate/loxilb-api';
import { ManualClock } from '../../helpers/manual-clock';
import { awsError, MockEc2 } from '../../helpers/mock-ec2';

const ME = 'i-0aaaaaaaaaaaaaaa1';
const PEER = 'i-0bbbbbbbbbbbbbbb2';

const loxilbUnused: LoxilbApi = {
  baseUrl: 'http://127.0.0.1:1',
  haView: () => Promise.reject(new Error('loxilb must not be asked in these tests')),
};

function setup(configInput: ConfigInput = {}) {
  const ec2 = new MockEc2();
  ec2.seedFootprint({ instanceId: ME });
  const clock = new ManualClock();
  const config = parseConfig({
    cloud: { cidrBlock: '123.123.123.0/28' },
    executor: { detachPollIntervalMs: 100, retryBaseDelayMs: 10, retryMaxDelayMs: 100 },
    ...configInput,
  });
  const deps: EngineDeps = {
    ec2: ec2.client,
    config,
    clock,
    logger: nullLogger(),
    loxilb: loxilbUnused,
    random: () => 0.5,
  };
  const run = (req: Partial<TeardownRequest> = {}) =>
    clock.run(
      runTeardown(deps, { instanceId: ME, episode: 'ep-1', dryRun: false, scopeOverride: 'full', ...req }),
    );
  return { ec2, clock, config, deps, run };
}

/** More loxilb ENIs on this instance, copies of eni-lx at device index k. */
function addEnis(ec2: MockEc2, indexes: number[]): void {
  for (const k of indexes) {
    ec2.enis.set(`eni-lx${k}`, {
      ...structuredClone(ec2.enis.get('eni-lx')!),
      NetworkInterfaceId: `eni-lx${k}`,
      Attachment: { AttachmentId: `eni-attach-lx${k}`, InstanceId: ME, DeviceIndex: k, Status: 'attached' },
    });
  }
}

const DECOYS = (ec2: MockEc2) => ({
  primaryEni: ec2.enis.has('eni-primary'),
  appSubnet: ec2.subnets.has('subnet-app'),
  mainRt: ec2.routeTables.has('rtb-main'),
  decoyEip: ec2.addresses.some((a) => a.AllocationId === 'eipalloc-decoy'),
  primaryCidr: ec2.vpcs.get('vpc-1')!.CidrBlockAssociationSet!.some((a) => a.CidrBlock === '10.0.0.0/16'),
});
const ALL_DECOYS = { primaryEni: true, appSubnet: true, mainRt: true, decoyEip: true, primaryCidr: true };

describe('executor', () => {
  it('full scope tears the whole footprint down in dependency order and leaves decoys alone', async () => {
    const { ec2, run } = setup();
    const report = await run();
    expect(report.outcome).toBe('clean');
    expect(report.leftBehind).toEqual([]);
    expect(ec2.enis.has('eni-lx')).toBe(false);
    expect(ec2.subnets.has('subnet-lx')).toBe(false);
    expect(ec2.routeTables.has('rtb-lx')).toBe(false);
    expect(ec2.vpcs.get('vpc-1')!.CidrBlockAssociationSet!.map((a) => a.AssociationId)).toEqual([
      'vpc-cidr-assoc-primary',
    ]);
    expect(ec2.addresses.filter((a) => a.AssociationId)).toEqual([]);
    expect(ec2.addresses).toHaveLength(5); // disassociated, never released (policy disassociate)
    expect(DECOYS(ec2)).toEqual(ALL_DECOYS);

    const order = ec2.mutatingCalls().map((c) => c.action);
    const last = (a: string) => order.lastIndexOf(a);
    const first = (a: string) => order.indexOf(a);
    expect(order.filter((a) => a === 'DisassociateAddress')).toHaveLength(4);
    expect(last('DisassociateAddress')).toBeLessThan(first('DetachNetworkInterface'));
    expect(first('DetachNetworkInterface')).toBeLessThan(first('DeleteNetworkInterface'));
    expect(last('DeleteNetworkInterface')).toBeLessThan(first('DisassociateRouteTable'));
    expect(first('DisassociateRouteTable')).toBeLessThan(first('DeleteRouteTable'));
    expect(first('DeleteRouteTable')).toBeLessThan(first('DeleteSubnet'));
    expect(first('DeleteSubnet')).toBeLessThan(first('DisassociateVpcCidrBlock'));
    expect(report.actions.every((a) => a.outcome === 'done')).toBe(true);
    expect(report.actions.every((a) => typeof a.durationMs === 'number' && a.startedAt)).toBe(true);
  });

  it('handover changes nothing: no mutating call, no discovery, outcome handover', async () => {
    const { ec2, run } = setup();
    const report = await run({ scopeOverride: 'handover' });
    expect(report.outcome).toBe('handover');
    expect(ec2.mutatingCalls()).toEqual([]);
    expect(ec2.calls).toEqual([]);
    expect(ec2.enis.has('eni-lx')).toBe(true);
    expect(ec2.addresses.filter((a) => a.AssociationId)).toHaveLength(4);
    expect(report.actions).toEqual([]);
  });

  it('dry-run makes zero mutating calls and reports every action as dry-run', async () => {
    const { ec2, run } = setup();
    const report = await run({ dryRun: true });
    expect(ec2.mutatingCalls()).toEqual([]);
    expect(report.outcome).toBe('dry-run');
    expect(report.actions).toHaveLength(10);
    expect(new Set(report.actions.map((a) => a.outcome))).toEqual(new Set(['dry-run']));
  });

  it('config dryRun is honoured the same way', async () => {
    const { ec2, run } = setup({ dryRun: true });
    await run();
    expect(ec2.mutatingCalls()).toEqual([]);
  });

  it('waits for several detaching ENIs with one Describe per poll, then deletes each', async () => {
    const { ec2, run } = setup();
    addEnis(ec2, [2, 3]);
    ec2.detachPolls = 3;
    const report = await run({ scopeOverride: 'full' });
    expect(report.outcome).toBe('clean');
    const polls = ec2.calls.filter(
      (c) =>
        c.action === 'DescribeNetworkInterfaces' && JSON.stringify(c.input).includes('network-interface-id'),
    );
    // 3 polls see "detaching", the 4th sees "available": 4 polls for 3 ENIs, each naming all three.
    expect(polls).toHaveLength(4);
    for (const p of polls) {
      expect((p.input.Filters as Array<{ Values: string[] }>)[0].Values.sort()).toEqual([
        'eni-lx',
        'eni-lx2',
        'eni-lx3',
      ]);
    }
    expect(ec2.count('DeleteNetworkInterface')).toBe(3);
  });

  it("disassociates loxilb's 49 EIPs on one ENI in one wave, bounded by executor.eipConcurrency", async () => {
    const fortyNine = (configInput: ConfigInput) => {
      const s = setup(configInput);
      s.ec2.addresses = [];
      s.ec2.seedFootprint({ instanceId: ME, vips: 49, eips: 49 });
      return s;
    };
    const wide = fortyNine({ executor: { concurrency: 8 } });
    const report = await wide.run();
    expect(report.outcome).toBe('clean');
    expect(wide.ec2.count('DisassociateAddress')).toBe(49);
    expect(wide.ec2.maxInFlight.get('DisassociateAddress')).toBe(49);

    const narrow = fortyNine({ executor: { concurrency: 8, eipConcurrency: 5 } });
    expect((await narrow.run()).outcome).toBe('clean');
    expect(narrow.ec2.maxInFlight.get('DisassociateAddress')).toBe(5);
  });

  it('the other stages keep executor.concurrency while the EIP stage runs wider', async () => {
    const withEnis = (configInput: ConfigInput) => {
      const s = setup(configInput);
      addEnis(s.ec2, [2, 3, 4, 5]);
      return s;
    };
    const two = withEnis({ executor: { concurrency: 2, eipConcurrency: 64 } });
    expect((await two.run()).outcome).toBe('clean');
    expect(two.ec2.count('DetachNetworkInterface')).toBe(5);
    expect(two.ec2.maxInFlight.get('DetachNetworkInterface')).toBe(2);
    expect(two.ec2.maxInFlight.get('DeleteNetworkInterface')).toBeLessThanOrEqual(2);
    expect(two.ec2.maxInFlight.get('DisassociateAddress')).toBe(4);
    // The same footprint at the default bound: all five detaches at once, so the count above is the bound.
    const eight = withEnis({});
    expect((await eight.run()).outcome).toBe('clean');
    expect(eight.ec2.maxInFlight.get('DetachNetworkInterface')).toBe(5);
  });

  it('retries throttling and 5xx with backoff, and records the attempts', async () => {
    const { ec2, clock, run } = setup();
    ec2.fail('DisassociateAddress', awsError('RequestLimitExceeded', 503), awsError('InternalError', 500));
    ec2.fail('DescribeNetworkInterfaces', awsError('RequestLimitExceeded', 503));
    const report = await run();
    expect(report.outcome).toBe('clean');
    expect(
      report.actions
        .filter((a) => a.action === 'DisassociateAddress')
        .map((a) => a.attempts)
        .sort(),
    ).toEqual([1, 1, 2, 2]);
    expect(clock.sleeps.filter((ms) => ms !== 100).length).toBeGreaterThanOrEqual(3);
  });

  it('"not found" means already done', async () => {
    const { ec2, run } = setup();
    ec2.fail('DisassociateAddress', awsError('InvalidAssociationID.NotFound'));
    ec2.fail('DeleteRouteTable', awsError('InvalidRouteTableID.NotFound'));
    const report = await run();
    expect(report.outcome).toBe('clean');
    expect(
      report.actions
        .filter((a) => a.outcome === 'already-done')
        .map((a) => a.errorCode)
        .sort(),
    ).toEqual(['InvalidAssociationID.NotFound', 'InvalidRouteTableID.NotFound']);
  });

  it('a DependencyViolation that outlasts ~1.5 s (AWS letting go of a deleted ENI) is retried until it clears', async () => {
    const { ec2, clock, run } = setup();
    const started = clock.now();
    let clearedAt = 0;
    ec2.beforeCall = (action) => {
      if (action !== 'DeleteSubnet') return;
      // Blocked for the first 20 s of the teardown, as a slow propagation would be.
      if (clock.now() - started < 20000) throw awsError('DependencyViolation');
      clearedAt ||= clock.now();
    };
    const report = await run({ deadlineAt: started + 60000 });
    expect(report.outcome).toBe('clean');
    const subnet = report.actions.find((a) => a.action === 'DeleteSubnet')!;
    expect(subnet.outcome).toBe('done');
    expect(subnet.attempts).toBeGreaterThan(5);
    expect(clearedAt - started).toBeGreaterThanOrEqual(20000);
    expect(report.actions.find((a) => a.action === 'DisassociateVpcCidrBlock')!.outcome).toBe('done');
  });

  it('a persistent DependencyViolation is retried until the deadline, then reported with the manual command', async () => {
    const { ec2, clock, run } = setup({ executor: { deadlineReserveMs: 0, retryMaxDelayMs: 100 } });
    ec2.fail('DeleteSubnet', ...Array.from({ length: 100000 }, () => awsError('DependencyViolation')));
    const started = clock.now();
    const report = await run({ deadlineAt: started + 5000 });
    expect(report.outcome).toBe('left-behind');
    const subnet = report.actions.find((a) => a.action === 'DeleteSubnet')!;
    expect(subnet).toMatchObject({ outcome: 'blocked', errorCode: 'DependencyViolation' });
    // Backoff capped at 100 ms (random 0.5 → 50 ms a sleep) over the ~5 s left: dozens of tries, no sleep past the deadline.
    expect(subnet.attempts).toBeGreaterThan(20);
    expect(clock.now()).toBeLessThanOrEqual(started + 5000);
    const cidr = report.actions.find((a) => a.action === 'DisassociateVpcCidrBlock')!;
    expect(cidr.outcome).toBe('blocked');
    expect(cidr.message).toMatch(/depends on DeleteSubnet subnet-lx/);
    expect(report.leftBehind.map((l) => l.manualCommand)).toEqual([
      'aws ec2 delete-subnet --subnet-id subnet-lx',
      'aws ec2 disassociate-vpc-cidr-block --association-id vpc-cidr-assoc-lx',
    ]);
    expect(ec2.count('DisassociateVpcCidrBlock')).toBe(0);
  });

  it('a fatal error fails that action; what depends on it is blocked; the rest proceeds', async () => {
    const { ec2, run } = setup();
    ec2.fail('DetachNetworkInterface', awsError('UnauthorizedOperation', 403));
    const report = await run();
    const get = (action: string) => report.actions.find((a) => a.action === action)!;
    expect(get('DetachNetworkInterface')).toMatchObject({
      outcome: 'failed',
      errorCode: 'UnauthorizedOperation',
      attempts: 1,
    });
    expect(get('DeleteNetworkInterface').outcome).toBe('blocked');
    expect(get('DeleteSubnet').outcome).toBe('blocked');
    expect(get('DeleteRouteTable').outcome).toBe('done');
    expect(report.leftBehind.map((l) => l.resource)).toEqual([
      'eni-lx',
      'eni-lx',
      'subnet-lx',
      'vpc-cidr-assoc-lx',
    ]);
  });

  it('an ENI re-attached to another instance during the wait is not deleted', async () => {
    const { ec2, run } = setup();
    ec2.detachPolls = 1;
    ec2.beforeCall = (action, input) => {
      if (action === 'DescribeNetworkInterfaces' && JSON.stringify(input).includes('network-interface-id')) {
        const eni = ec2.enis.get('eni-lx')!;
        eni.Status = 'in-use';
        eni.Attachment = {
          AttachmentId: 'eni-attach-peer',
          InstanceId: PEER,
          DeviceIndex: 1,
          Status: 'attached',
        };
        ec2.beforeCall = undefined;
      }
    };
    const report = await run({ scopeOverride: 'full' });
    const del = report.actions.find((a) => a.action === 'DeleteNetworkInterface')!;
    expect(del.outcome).toBe('skipped');
    expect(del.message).toMatch(/attached to another instance/);
    expect(ec2.count('DeleteNetworkInterface')).toBe(0);
    expect(ec2.enis.has('eni-lx')).toBe(true);
  });

  it('a deadline skips what cannot finish and says so', async () => {
    const { ec2, clock, run } = setup({ executor: { deadlineReserveMs: 0, detachPollIntervalMs: 100 } });
    ec2.detachPolls = 1_000_000;
    const report = await run({ deadlineAt: clock.now() + 1000 });
    expect(report.outcome).toBe('left-behind');
    const del = report.actions.find((a) => a.action === 'DeleteNetworkInterface')!;
    expect(del).toMatchObject({ outcome: 'deadline', errorCode: 'DetachTimeout' });
    expect(report.actions.find((a) => a.action === 'DeleteSubnet')!.outcome).toBe('blocked');
    expect(report.deadlineAt).toBe(new Date(Date.parse(report.startedAt) + 1000).toISOString());
  });

  it('a deadline already passed starts nothing', async () => {
    const { ec2, clock, run } = setup();
    const report = await run({ deadlineAt: clock.now() - 1000 }); // the source's own deadline is behind us
    expect(ec2.mutatingCalls()).toEqual([]);
    expect(new Set(report.actions.map((a) => a.outcome))).toEqual(new Set(['deadline', 'blocked']));
    expect(report.outcome).toBe('left-behind');
  });

  it('honours the abort signal', async () => {
    const { ec2, run } = setup();
    const ac = new AbortController();
    ec2.beforeCall = (action) => {
      if (action === 'DetachNetworkInterface') ac.abort(new Error('SIGTERM'));
    };
    const report = await run({ signal: ac.signal });
    expect(ec2.count('DeleteSubnet')).toBe(0);
    expect(report.actions.filter((a) => a.aborted).length).toBeGreaterThan(0);
    expect(report.outcome).toBe('left-behind');
  });

  it('is idempotent: a second run finds nothing to do and changes nothing', async () => {
    const { ec2, run } = setup();
    expect((await run()).outcome).toBe('clean');
    const before = ec2.mutatingCalls().length;
    const second = await run({ episode: 'ep-2' });
    expect(second.outcome).toBe('nothing-to-do');
    expect(ec2.mutatingCalls().length).toBe(before);
  });

  it('tolerates a second actor deleting the same resources concurrently', async () => {
    const { ec2, run } = setup();
    ec2.beforeCall = (action) => {
      // loxilb's own shutdown path racing us: it removes the ENI, subnet and route table itself.
      if (action === 'DetachNetworkInterface') ec2.enis.delete('eni-lx');
      if (action === 'DisassociateRouteTable') {
        ec2.routeTables.delete('rtb-lx');
        ec2.subnets.delete('subnet-lx');
      }
    };
    const report = await run();
    expect(report.outcome).toBe('clean');
    expect(report.leftBehind).toEqual([]);
    expect(
      report.actions
        .filter((a) => a.outcome === 'already-done')
        .map((a) => a.action)
        .sort(),
    ).toEqual([
      'DeleteNetworkInterface',
      'DeleteRouteTable',
      'DeleteSubnet',
      'DetachNetworkInterface',
      'DisassociateRouteTable',
    ]);
  });
});
