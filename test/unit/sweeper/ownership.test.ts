import { EC2Client } from '@aws-sdk/client-ec2';
import { Writable } from 'node:stream';
import { parseConfig } from '../../../lib/config/load';
import { EniInfo } from '../../../lib/discovery/ec2-reads';
import { createLogger, nullLogger } from '../../../lib/log';
import { enisToMark, markOwnedResources, OwnershipMarker } from '../../../lib/sweeper/ownership';
import { CallContext } from '../../../lib/aws/call';
import { AwsEmulator } from '../../../sim/emulator/server';
import { LoxilbClusterIds, seedLoxilbCluster } from '../../../sim/loxilb/footprint';
import { ManualClock, until } from '../../helpers/manual-clock';

const ME = 'i-0aaaaaaaaaaaaaaa1';
const OTHER = 'i-0bbbbbbbbbbbbbbb2';
const OWNER = 'teardownd:owner';

function eni(id: string, over: Partial<EniInfo> = {}): EniInfo {
  return {
    networkInterfaceId: id,
    status: 'in-use',
    tags: { loxiType: 'loxilb-eni' },
    attachment: { attachmentId: `a-${id}`, instanceId: ME, deviceIndex: 1, status: 'attached' },
    privateIps: [],
    ...over,
  };
}

describe('enisToMark', () => {
  it("marks this host's loxilb ENIs at device index > 0 that do not name it yet; overwrites another owner", () => {
    const r = enisToMark(
      [
        eni('eni-new'),
        eni('eni-mine', { tags: { loxiType: 'loxilb-eni', [OWNER]: ME } }),
        eni('eni-moved', { tags: { loxiType: 'loxilb-eni', [OWNER]: OTHER } }),
        eni('eni-attaching', { attachment: { instanceId: ME, deviceIndex: 2, status: 'attaching' } }),
        eni('eni-primary', { attachment: { instanceId: ME, deviceIndex: 0, status: 'attached' } }),
        eni('eni-elsewhere', { attachment: { instanceId: OTHER, deviceIndex: 1, status: 'attached' } }),
        eni('eni-detaching', { attachment: { instanceId: ME, deviceIndex: 1, status: 'detaching' } }),
        eni('eni-free', { attachment: undefined, status: 'available' }),
        eni('eni-other-cluster', { tags: { loxiType: 'loxilb-eniother' } }),
      ],
      ME,
      'loxiType',
      'loxilb-eni',
      OWNER,
    );
    expect(r).toEqual({ mark: ['eni-new', 'eni-moved', 'eni-attaching'], already: ['eni-mine'] });
  });
});

describe('markOwnedResources and OwnershipMarker (real EC2Client, emulator)', () => {
  let emulator: AwsEmulator;
  let ec2: EC2Client;
  let ids: LoxilbClusterIds;
  let ctx: CallContext;

  beforeEach(async () => {
    emulator = await AwsEmulator.start();
    ec2 = new EC2Client({
      endpoint: emulator.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'AKIAEMULATOR', secretAccessKey: 'secret' },
      maxAttempts: 1,
    });
    ids = seedLoxilbCluster(emulator, { enis: 2, vips: 1, eips: 0, peerLoxilbEni: true });
    ctx = {
      ec2,
      clock: new ManualClock(),
      config: parseConfig({ executor: { maxAttempts: 1 } }),
      logger: nullLogger(),
    };
  });
  afterEach(async () => {
    ec2.destroy();
    await emulator.stop();
  });

  const ownerOf = (id: string) => emulator.ec2.networkInterfaceById(id)?.tags[OWNER];

  it("tags the host's loxilb ENIs with one CreateTags carrying only the owner key, then finds nothing to do", async () => {
    const r = await markOwnedResources(ctx, ids.masterInstanceId);
    expect(r.tagged.sort()).toEqual(ids.enis.map((e) => e.eniId).sort());
    for (const e of ids.enis) expect(ownerOf(e.eniId)).toBe(ids.masterInstanceId);
    const creates = emulator.calls.of('ec2', 'CreateTags');
    expect(creates).toHaveLength(1);
    expect(Object.entries(creates[0].params).filter(([k]) => k.startsWith('Tag.'))).toEqual([
      ['Tag.1.Key', OWNER],
      ['Tag.1.Value', ids.masterInstanceId],
    ]);
    // Nothing else got the tag: not the peer's loxilb ENI, not the master's primary ENI.
    expect(ownerOf(ids.decoys!.peerEniId!)).toBeUndefined();
    expect(ownerOf(ids.masterPrimaryEniId)).toBeUndefined();

    expect(await markOwnedResources(ctx, ids.masterInstanceId)).toEqual({
      tagged: [],
      alreadyMarked: expect.arrayContaining(ids.enis.map((e) => e.eniId)),
    });
    expect(emulator.calls.of('ec2', 'CreateTags')).toHaveLength(1);
  });

  it('a refused CreateTags is an error naming the resources and the AWS code', async () => {
    emulator.ec2.denyActions(['CreateTags']);
    await expect(markOwnedResources(ctx, ids.masterInstanceId)).rejects.toMatchObject({
      name: 'TeardownError',
      errorCode: 'UnauthorizedOperation',
      context: { stage: 'ownership', action: 'CreateTags' },
    });
  });

  it('marks at start-up and again when the network interfaces change; retries a failed pass', async () => {
    const clock = new ManualClock();
    const lines: string[] = [];
    const logger = createLogger({
      stream: new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }),
    });
    let macs = 'mac-0/\nmac-1/\nmac-2/';
    emulator.ec2.denyActions(['CreateTags']);
    const marker = new OwnershipMarker({
      ctx: { ...ctx, clock, logger },
      instanceId: ids.masterInstanceId,
      fingerprint: async () => macs,
      intervalMs: 1000,
      clock,
      logger,
    });
    const stop = new AbortController();
    marker.start(stop.signal);
    await until(
      () => lines.some((l) => l.includes('ownership marking failed')),
      3000,
      'the failed first pass',
    );
    expect(ownerOf(ids.enis[0].eniId)).toBeUndefined();

    // Same interfaces, but the last pass failed: the next poll tries again.
    emulator.ec2.denyActions([]);
    await clock.advance(1000);
    await until(() => ownerOf(ids.enis[0].eniId) === ids.masterInstanceId, 3000, 'the retry');

    // loxilb attaches one more ENI: IMDS lists a new MAC, and it gets marked.
    const extra = emulator.ec2.createNetworkInterface({
      subnetId: ids.subnetId,
      description: 'loxilb-eni',
      tags: { loxiType: 'loxilb-eni' },
    }).networkInterfaceId;
    emulator.ec2.attachNetworkInterface(extra, ids.masterInstanceId, 3);
    await clock.advance(1000);
    // No change in IMDS yet: nothing to do (no Describe either).
    const describes = emulator.calls.of('ec2', 'DescribeNetworkInterfaces').length;
    expect(ownerOf(extra)).toBeUndefined();
    macs += '\nmac-3/';
    await clock.advance(1000);
    await until(() => ownerOf(extra) === ids.masterInstanceId, 3000, 'the new ENI to be marked');
    expect(emulator.calls.of('ec2', 'DescribeNetworkInterfaces').length).toBe(describes + 1);
    expect(lines.some((l) => l.includes('network interfaces changed'))).toBe(true);

    stop.abort();
    await marker.stopped();
  });
});
