import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLoxilbApi, LoxilbApiError } from '../../../lib/gate/loxilb-api';
import { bfdBody, ciStateBody, FakeLoxilb } from '../../../sim/loxilb/fake-peer';

const fixture = (name: string): unknown =>
  JSON.parse(readFileSync(join(__dirname, '../../fixtures/loxilb', name), 'utf8'));

describe('loxilb REST client', () => {
  let fake: FakeLoxilb;
  beforeEach(async () => {
    fake = await FakeLoxilb.start();
  });
  afterEach(async () => {
    await fake.stop();
  });

  const api = (timeoutMs = 1000) => createLoxilbApi({ baseUrl: fake.url, timeoutMs, fetch });

  it('the fake serves exactly the fixture shapes', () => {
    expect(ciStateBody('MASTER')).toEqual(fixture('cistate-master.json'));
    expect(ciStateBody('BACKUP')).toEqual(fixture('cistate-backup.json'));
    expect(
      bfdBody([
        { remoteIp: '10.0.1.12', state: 'BFDUp' },
        { remoteIp: '10.0.2.13', state: 'BFDDown' },
      ]),
    ).toEqual(fixture('bfd-peer-up.json'));
  });

  it('reads HA state and BFD sessions from the two endpoints', async () => {
    fake.set({ cistate: fixture('cistate-master.json'), bfd: fixture('bfd-all-peers-down.json') });
    const view = await api().haView();
    expect(view.ciStates).toEqual([{ instance: 'llb-inst0', state: 'MASTER', sync: null, vip: '0.0.0.0' }]);
    expect(view.bfdSessions.map((s) => [s.remoteIp, s.state])).toEqual([
      ['10.0.1.12', 'BFDDown'],
      ['10.0.2.13', 'BFDAdminDown'],
    ]);
    expect([...fake.requests].sort()).toEqual(['/netlox/v1/config/bfd/all', '/netlox/v1/config/cistate/all']);
  });

  it('a stopped loxilb is an error with the network code', async () => {
    const url = fake.url;
    await fake.stop();
    const err = await createLoxilbApi({ baseUrl: url, timeoutMs: 1000, fetch })
      .haView()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LoxilbApiError);
    expect((err as LoxilbApiError).code).toBe('ECONNREFUSED');
  });

  it('a hanging loxilb is cut off by apiTimeoutMs', async () => {
    fake.set({ hang: true });
    const err = (await api(100)
      .haView()
      .catch((e: unknown) => e)) as LoxilbApiError;
    expect(err.code).toBe('timeout');
    expect(err.message).toMatch(/timed out after 100 ms/);
  });

  it('HTTP errors and malformed bodies are errors, not guesses', async () => {
    fake.set({ status: 500 });
    expect(
      (
        (await api()
          .haView()
          .catch((e: unknown) => e)) as LoxilbApiError
      ).code,
    ).toBe('http-500');
    fake.set({ rawBody: '<html>' });
    expect(
      (
        (await api()
          .haView()
          .catch((e: unknown) => e)) as LoxilbApiError
      ).code,
    ).toBe('malformed-body');
    fake.set({ rawBody: '{"result":"failed"}' });
    const err = (await api()
      .haView()
      .catch((e: unknown) => e)) as LoxilbApiError;
    expect(err.code).toBe('malformed-body');
    expect(err.message).toMatch(/Attr/);
  });

  it('HTTP 500 "bfd session not running" on the BFD endpoint means BFD is off, not an error', async () => {
    fake.set({ cistate: fixture('cistate-master.json'), bfdNotRunning: true });
    const view = await api().haView();
    expect(view).toEqual({
      ciStates: [{ instance: 'llb-inst0', state: 'MASTER', sync: null, vip: '0.0.0.0' }],
      bfdRunning: false,
      bfdSessions: [],
    });
    fake.set({ cistate: fixture('cistate-master.json'), bfd: fixture('bfd-none.json') });
    expect(await api().haView()).toMatchObject({ bfdRunning: true, bfdSessions: [] });
  });

  it("any other HTTP 500 on the BFD endpoint stays an error, with loxilb's message", async () => {
    fake.set({ status: 500 });
    const err = (await api()
      .haView()
      .catch((e: unknown) => e)) as LoxilbApiError;
    expect(err.code).toBe('http-500');
    expect(err.apiMessage).toBe('Internal service error');
  });
});
