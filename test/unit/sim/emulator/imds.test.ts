import { ImdsClient } from '../../../../lib/sources/imds-client';
import { imdsErrorPage } from '../../../../sim/emulator/render';
import { AwsEmulator } from '../../../../sim/emulator/server';

/** IMDSv2 as real IMDS behaves (wire-formats §1), over plain HTTP and through the daemon's own client. */
let emulator: AwsEmulator;

beforeEach(async () => {
  emulator = await AwsEmulator.start();
});
afterEach(async () => {
  await emulator.stop();
});

const TTL = 'x-aws-ec2-metadata-token-ttl-seconds';

function put(path: string, headers: Record<string, string>): Promise<Response> {
  return fetch(`${emulator.url}${path}`, { method: 'PUT', headers });
}

async function token(ttl = '21600'): Promise<string> {
  const res = await put('/latest/api/token', { [TTL]: ttl });
  expect(res.status).toBe(200);
  return res.text();
}

async function get(path: string, tok?: string): Promise<{ status: number; body: string; headers: Headers }> {
  const res = await fetch(`${emulator.url}/latest/${path}`, {
    headers: tok ? { 'x-aws-ec2-metadata-token': tok } : {},
  });
  return { status: res.status, body: await res.text(), headers: res.headers };
}

const page = (status: number) => imdsErrorPage(status).body as string;

describe('IMDSv2 token rules', () => {
  it('PUT /latest/api/token returns a token and echoes its TTL; a GET with it is text/plain and carries the remaining TTL', async () => {
    const res = await put('/latest/api/token', { [TTL]: '300' });
    expect(res.status).toBe(200);
    expect(res.headers.get(TTL)).toBe('300');
    const tok = await res.text();
    expect(tok.length).toBeGreaterThan(20);
    const got = await get('meta-data/instance-id', tok);
    expect(got).toMatchObject({ status: 200, body: 'i-0123456789abcdef0' });
    expect(got.headers.get('content-type')).toBe('text/plain');
    expect(Number(got.headers.get(TTL))).toBeGreaterThan(290);
    expect(emulator.imds.tokensIssued).toBe(1);
  });

  it('TTL must be an integer in 1..21600, else 400', async () => {
    for (const ttl of ['0', '21601', '-5', 'abc', '1.5']) {
      const res = await put('/latest/api/token', { [TTL]: ttl });
      expect([ttl, res.status]).toEqual([ttl, 400]);
      expect(await res.text()).toBe(page(400));
    }
    expect((await put('/latest/api/token', {})).status).toBe(400);
    expect((await put('/latest/api/token', { [TTL]: '1' })).status).toBe(200);
    expect((await put('/latest/api/token', { [TTL]: '21600' })).status).toBe(200);
    expect(emulator.imds.tokensIssued).toBe(2);
  });

  it('a PUT with X-Forwarded-For, or to a versioned path, is 403; GET on the token path is 405', async () => {
    expect((await put('/latest/api/token', { [TTL]: '60', 'x-forwarded-for': '10.0.0.9' })).status).toBe(403);
    const versioned = await put('/2021-03-23/api/token', { [TTL]: '60' });
    expect(versioned.status).toBe(403);
    expect(await versioned.text()).toBe(page(403));
    expect((await fetch(`${emulator.url}/latest/api/token`)).status).toBe(405);
    expect(emulator.imds.tokensIssued).toBe(0);
  });

  it('a GET without a token, or with an unknown one, is 401 with the XHTML page', async () => {
    const none = await get('meta-data/instance-id');
    expect(none.status).toBe(401);
    expect(none.body).toBe(page(401));
    expect(none.body).toContain('<title>401 - Unauthorized</title>');
    expect((await get('meta-data/instance-id', 'not-a-token')).status).toBe(401);
  });

  it('v1Allowed lets tokenless GETs through (HttpTokens=optional) but still refuses a bad token', async () => {
    emulator.imds.configure({ v1Allowed: true });
    expect(await get('meta-data/instance-id')).toMatchObject({ status: 200, body: 'i-0123456789abcdef0' });
    expect((await get('meta-data/instance-id', 'bogus')).status).toBe(401);
  });

  it('revokeTokens() forces 401; the daemon client then takes a new token and the read succeeds', async () => {
    const tok = await token();
    emulator.imds.revokeTokens();
    expect((await get('meta-data/instance-id', tok)).status).toBe(401);
    const client = new ImdsClient({ endpoint: emulator.url });
    expect(await client.require('meta-data/instance-id')).toBe('i-0123456789abcdef0');
    emulator.imds.revokeTokens();
    expect(await client.require('meta-data/instance-id')).toBe('i-0123456789abcdef0');
    expect(emulator.imds.tokensIssued).toBe(3);
  });

  it('tokenTtlCapSeconds makes tokens expire early: the granted TTL is in the header, then 401', async () => {
    emulator.imds.configure({ tokenTtlCapSeconds: 1 });
    const res = await put('/latest/api/token', { [TTL]: '21600' });
    expect(res.headers.get(TTL)).toBe('1');
    const tok = await res.text();
    expect((await get('meta-data/instance-id', tok)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1100));
    expect((await get('meta-data/instance-id', tok)).status).toBe(401);
  });

  it('counts tokens and requests per path, so a test can see a client cache its token', async () => {
    const client = new ImdsClient({ endpoint: emulator.url });
    for (let i = 0; i < 5; i++) expect(await client.get('meta-data/spot/instance-action')).toBeNull();
    expect(emulator.imds.tokensIssued).toBe(1);
    expect(emulator.imds.requestCount('/latest/meta-data/spot/instance-action')).toBe(5);
    expect(emulator.imds.requestCount('/latest/api/token')).toBe(1);
  });
});

describe('notices', () => {
  let tok: string;
  beforeEach(async () => {
    tok = await token();
  });

  it('no spot notice: 404 with the XHTML page for instance-action and termination-time', async () => {
    const res = await get('meta-data/spot/instance-action', tok);
    expect(res.status).toBe(404);
    expect(res.body).toBe(page(404));
    expect(res.body).toContain('<h1>404 - Not Found</h1>');
    expect((await get('meta-data/spot/termination-time', tok)).status).toBe(404);
  });

  it('a spot notice is compact JSON as real IMDS prints it, and goes away when cleared', async () => {
    emulator.imds.setSpotAction('terminate', '2026-11-22T12:00:00Z');
    expect(await get('meta-data/spot/instance-action', tok)).toMatchObject({
      status: 200,
      body: '{"action": "terminate", "time": "2026-11-22T12:00:00Z"}',
    });
    expect((await get('meta-data/spot/termination-time', tok)).body).toBe('2026-11-22T12:00:00Z');
    emulator.imds.setSpotAction('stop', Date.UTC(2026, 10, 22, 12, 5, 0, 123));
    expect((await get('meta-data/spot/instance-action', tok)).body).toBe(
      '{"action": "stop", "time": "2026-11-22T12:05:00Z"}',
    );
    emulator.imds.clearSpotAction();
    expect((await get('meta-data/spot/instance-action', tok)).status).toBe(404);
  });

  it('setSpotAction() defaults to terminate two minutes from now', async () => {
    const before = Date.now();
    emulator.imds.setSpotAction();
    const notice = JSON.parse((await get('meta-data/spot/instance-action', tok)).body);
    expect(notice.action).toBe('terminate');
    const at = Date.parse(notice.time);
    expect(at).toBeGreaterThanOrEqual(Math.floor((before + 120_000) / 1000) * 1000);
    expect(at).toBeLessThanOrEqual(Date.now() + 120_000);
  });

  it('rebalance recommendation: 404 until set, then {"noticeTime": …}', async () => {
    expect((await get('meta-data/events/recommendations/rebalance', tok)).status).toBe(404);
    emulator.imds.configure({ rebalanceNoticeTime: '2020-10-27T08:22:00Z' });
    expect((await get('meta-data/events/recommendations/rebalance', tok)).body).toBe(
      '{"noticeTime": "2020-10-27T08:22:00Z"}',
    );
  });

  it('scheduled maintenance: [] when none; events in Jackson format with IMDS dates; completed ones in history', async () => {
    expect(await get('meta-data/events/maintenance/scheduled', tok)).toMatchObject({
      status: 200,
      body: '[]',
    });
    emulator.imds.configure({
      scheduledEvents: [
        {
          Code: 'instance-stop',
          Description: 'The instance is running on degraded hardware',
          EventId: 'instance-event-07a1c1c08b77d4bf1',
          State: 'active',
          NotBefore: Date.UTC(2021, 0, 1, 2, 0, 0),
        },
        {
          Code: 'system-reboot',
          Description: '[Completed] scheduled reboot',
          EventId: 'instance-event-0d59937288b749b32',
          State: 'completed',
          NotBefore: '29 Jan 2019 09:00:43 GMT',
          NotAfter: '29 Jan 2019 09:17:23 GMT',
        },
      ],
    });
    expect((await get('meta-data/events/maintenance/scheduled', tok)).body).toBe(
      [
        '[ {',
        '  "NotBefore" : "1 Jan 2021 02:00:00 GMT",',
        '  "Code" : "instance-stop",',
        '  "Description" : "The instance is running on degraded hardware",',
        '  "EventId" : "instance-event-07a1c1c08b77d4bf1",',
        '  "State" : "active"',
        '} ]',
      ].join('\n'),
    );
    const history = JSON.parse((await get('meta-data/events/maintenance/history', tok)).body);
    expect(history).toEqual([
      expect.objectContaining({ State: 'completed', NotAfter: '29 Jan 2019 09:17:23 GMT' }),
    ]);
  });

  it('autoscaling/target-lifecycle-state: 404 until the instance has a target state', async () => {
    expect((await get('meta-data/autoscaling/target-lifecycle-state', tok)).status).toBe(404);
    emulator.imds.setTargetLifecycleState('Terminated');
    expect((await get('meta-data/autoscaling/target-lifecycle-state', tok)).body).toBe('Terminated');
  });

  it('injected faults for IMDS answer with the XHTML page of their status, then normal service resumes', async () => {
    emulator.faults.add({
      service: 'imds',
      action: 'GET /latest/meta-data/spot/instance-action',
      kind: 'error',
      code: 'InternalError',
      status: 500,
      count: 1,
    });
    const failed = await get('meta-data/spot/instance-action', tok);
    expect(failed.status).toBe(500);
    expect(failed.body).toContain('500 - Internal Server Error');
    expect((await get('meta-data/spot/instance-action', tok)).status).toBe(404);
  });

  it('a hanging IMDS (fault) makes the daemon client time out instead of waiting forever', async () => {
    emulator.faults.add({ service: 'imds', action: /spot\/instance-action$/, kind: 'hang', count: 1 });
    const client = new ImdsClient({ endpoint: emulator.url, requestTimeoutMs: 200 });
    await expect(client.get('meta-data/spot/instance-action')).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    expect(await client.get('meta-data/spot/instance-action')).toBeNull();
  });
});

describe('instance metadata', () => {
  let tok: string;
  beforeEach(async () => {
    tok = await token();
    emulator.imds.configure({
      instanceId: 'i-0abc',
      region: 'eu-west-1',
      az: 'eu-west-1b',
      lifeCycle: 'spot',
      macs: [
        {
          mac: '0e:49:61:0f:c3:11',
          deviceNumber: 0,
          interfaceId: 'eni-primary',
          vpcId: 'vpc-1',
          subnetId: 'subnet-main',
          localIpv4s: ['10.0.1.10'],
          vpcCidrBlocks: ['10.0.0.0/16', '100.64.0.0/24'],
        },
        {
          mac: '0e:49:61:0f:c3:22',
          deviceNumber: 1,
          interfaceId: 'eni-loxilb',
          vpcId: 'vpc-1',
          subnetId: 'subnet-llb',
          localIpv4s: ['100.64.0.10', '100.64.0.11'],
          vpcCidrBlocks: ['10.0.0.0/16', '100.64.0.0/24'],
        },
      ],
      tags: { Name: 'loxilb-master', loxiType: 'master' },
    });
  });

  it('serves the configured identity, placement and life cycle', async () => {
    const leaf = async (p: string) => (await get(`meta-data/${p}`, tok)).body;
    expect(await leaf('instance-id')).toBe('i-0abc');
    expect(await leaf('placement/region')).toBe('eu-west-1');
    expect(await leaf('placement/availability-zone')).toBe('eu-west-1b');
    expect(await leaf('instance-life-cycle')).toBe('spot');
    expect(await leaf('mac')).toBe('0e:49:61:0f:c3:11');
    const doc = JSON.parse((await get('dynamic/instance-identity/document', tok)).body);
    expect(doc).toMatchObject({ instanceId: 'i-0abc', region: 'eu-west-1', accountId: '123456789012' });
    expect((await get('dynamic/instance-identity/document', tok)).body).toContain('"region" : "eu-west-1"');
  });

  it('network interfaces: one MAC per line with a trailing slash, and per-MAC leaves', async () => {
    const base = 'meta-data/network/interfaces/macs/';
    expect((await get(base, tok)).body).toBe('0e:49:61:0f:c3:11/\n0e:49:61:0f:c3:22/');
    const mac = `${base}0e:49:61:0f:c3:22/`;
    const listing = (await get(mac, tok)).body.split('\n');
    expect(listing).toEqual(
      expect.arrayContaining([
        'device-number',
        'interface-id',
        'local-ipv4s',
        'subnet-id',
        'vpc-id',
        'vpc-ipv4-cidr-blocks',
      ]),
    );
    expect((await get(`${mac}device-number`, tok)).body).toBe('1');
    expect((await get(`${mac}interface-id`, tok)).body).toBe('eni-loxilb');
    expect((await get(`${mac}subnet-id`, tok)).body).toBe('subnet-llb');
    expect((await get(`${mac}vpc-id`, tok)).body).toBe('vpc-1');
    expect((await get(`${mac}local-ipv4s`, tok)).body).toBe('100.64.0.10\n100.64.0.11');
    expect((await get(`${mac}vpc-ipv4-cidr-block`, tok)).body).toBe('10.0.0.0/16');
    expect((await get(`${mac}vpc-ipv4-cidr-blocks`, tok)).body).toBe('10.0.0.0/16\n100.64.0.0/24');
    expect((await get(`${base}0e:00:00:00:00:00/device-number`, tok)).status).toBe(404);
  });

  it('directory listings end sub-directories with a slash; tags/instance lists keys', async () => {
    const root = (await get('meta-data/', tok)).body.split('\n');
    expect(root).toEqual(
      expect.arrayContaining(['instance-id', 'placement/', 'network/', 'events/', 'tags/']),
    );
    expect(root).not.toContain('spot/');
    expect((await get('meta-data/placement', tok)).body.split('\n').sort()).toEqual([
      'availability-zone',
      'region',
    ]);
    expect((await get('meta-data/tags/instance', tok)).body).toBe('Name\nloxiType');
    expect((await get('meta-data/tags/instance/loxiType', tok)).body).toBe('master');
    expect((await get('meta-data/tags/instance/missing', tok)).status).toBe(404);
    expect((await get('meta-data/no-such-item', tok)).status).toBe(404);
  });

  it('without instance tags in metadata the tags/ path is absent', async () => {
    emulator.imds.configure({ tags: {} });
    expect((await get('meta-data/tags/instance', tok)).status).toBe(404);
  });
});
