import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../lib/config/load';
import { ConfigInput } from '../../lib/config/schema';
import { decideScope, LoxilbAnswer, needsLoxilbApi } from '../../lib/gate';
import { LoxilbHaView } from '../../lib/loxilb-api';

const fixture = (name: string): { Attr: never[] } =>
  JSON.parse(readFileSync(join(__dirname, '../fixtures/loxilb', name), 'utf8'));

const view = (ci: string, bfd: string): LoxilbAnswer => ({
  ok: true,
  url: 'http://127.0.0.1:11111',
  view: { ciStates: fixture(ci).Attr, bfdSessions: fixture(bfd).Attr } as LoxilbHaView,
});
const cfg = (input: ConfigInput = {}) => parseConfig(input);

describe('gate (loxilb-api mode)', () => {
  it('MASTER with BFD and every peer down → full (last node standing)', () => {
    const d = decideScope({ config: cfg(), loxilb: view('cistate-master.json', 'bfd-all-peers-down.json') });
    expect(d.scope).toBe('full');
    expect(d.source).toBe('loxilb-api');
    expect(d.reason).toMatch(/last node standing/);
    expect(d.details).toMatchObject({
      haState: 'MASTER',
      bfdPeers: [
        { remoteIp: '10.0.1.12', state: 'BFDDown' },
        { remoteIp: '10.0.2.13', state: 'BFDAdminDown' },
      ],
    });
  });

  it('MASTER with a peer up → instance, naming the peer', () => {
    const d = decideScope({ config: cfg(), loxilb: view('cistate-master.json', 'bfd-peer-up.json') });
    expect(d.scope).toBe('instance');
    expect(d.reason).toMatch(/10\.0\.1\.12 \(BFDUp\)/);
  });

  it('a peer still initialising counts as alive', () => {
    const answer = view('cistate-master.json', 'bfd-all-peers-down.json');
    if (answer.ok) answer.view.bfdSessions[0].state = 'BFDInit';
    expect(decideScope({ config: cfg(), loxilb: answer }).scope).toBe('instance');
  });

  it('BACKUP → instance', () => {
    const d = decideScope({ config: cfg(), loxilb: view('cistate-backup.json', 'bfd-all-peers-down.json') });
    expect(d.scope).toBe('instance');
    expect(d.reason).toMatch(/BACKUP/);
  });

  it('MASTER without BFD sessions → instance', () => {
    const d = decideScope({ config: cfg(), loxilb: view('cistate-master.json', 'bfd-none.json') });
    expect(d.scope).toBe('instance');
    expect(d.reason).toMatch(/BFD is not running/);
  });

  it('no state for llb-inst0 → instance', () => {
    expect(
      decideScope({ config: cfg(), loxilb: view('cistate-empty.json', 'bfd-all-peers-down.json') }).scope,
    ).toBe('instance');
  });

  it('BFD sessions of another cluster instance are not this instance’s peers', () => {
    const answer = view('cistate-master.json', 'bfd-all-peers-down.json');
    if (answer.ok)
      answer.view.bfdSessions.push({ instance: 'llb-inst1', remoteIp: '10.9.9.9', state: 'BFDUp' });
    expect(decideScope({ config: cfg(), loxilb: answer }).scope).toBe('full');
  });

  it('unreachable loxilb → instance, and the report says why', () => {
    const d = decideScope({
      config: cfg(),
      loxilb: {
        ok: false,
        error: 'GET http://127.0.0.1:11111/netlox/v1/config/cistate/all failed: ECONNREFUSED',
        errorCode: 'ECONNREFUSED',
        url: 'http://127.0.0.1:11111',
      },
    });
    expect(d).toMatchObject({ scope: 'instance', source: 'fallback' });
    expect(d.reason).toMatch(/unreachable.*ECONNREFUSED/);
    expect(d.details).toMatchObject({ errorCode: 'ECONNREFUSED' });
  });

  it('setRoles → instance without asking loxilb', () => {
    const config = cfg({ gate: { static: { setRoles: true, bfd: true, master: true } } });
    expect(needsLoxilbApi(config)).toBe(false);
    const d = decideScope({ config, loxilb: view('cistate-master.json', 'bfd-all-peers-down.json') });
    expect(d.scope).toBe('instance');
    expect(d.reason).toMatch(/setRoles/);
  });
});

describe('gate (static, override, cli)', () => {
  it('static: master + bfd → full; not master or no bfd → instance', () => {
    expect(
      decideScope({ config: cfg({ gate: { mode: 'static', static: { bfd: true, master: true } } }) }).scope,
    ).toBe('full');
    expect(
      decideScope({ config: cfg({ gate: { mode: 'static', static: { bfd: true, master: false } } }) }).scope,
    ).toBe('instance');
    expect(
      decideScope({ config: cfg({ gate: { mode: 'static', static: { bfd: false, master: true } } }) }).scope,
    ).toBe('instance');
    const d = decideScope({
      config: cfg({ gate: { mode: 'static', static: { bfd: true, master: true, setRoles: true } } }),
    });
    expect(d).toMatchObject({ scope: 'instance', source: 'static' });
  });

  it('override mode uses the configured scope; none only from config', () => {
    const config = cfg({ gate: { mode: 'override', override: 'none' } });
    expect(needsLoxilbApi(config)).toBe(false);
    expect(decideScope({ config })).toMatchObject({ scope: 'none', source: 'override' });
  });

  it('the CLI scope wins over everything', () => {
    const config = cfg({ gate: { mode: 'override', override: 'none' } });
    expect(needsLoxilbApi(cfg(), 'full')).toBe(false);
    expect(decideScope({ config, cliScope: 'full' })).toMatchObject({ scope: 'full', source: 'cli' });
  });
});
