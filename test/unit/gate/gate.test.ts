import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../../lib/config/load';
import { ConfigInput } from '../../../lib/config/schema';
import {
  AwsPeerView,
  decideScope,
  GateInput,
  LoxilbAnswer,
  needsLoxilbApi,
  peerQuestions,
  peerVerdict,
} from '../../../lib/gate/gate';
import { LoxilbHaView } from '../../../lib/gate/loxilb-api';

const fixture = (name: string): { Attr: never[] } =>
  JSON.parse(readFileSync(join(__dirname, '../../fixtures/loxilb', name), 'utf8'));

const NOW = Date.parse('2026-12-01T00:00:00Z');
const URL = 'http://127.0.0.1:11111';

/** loxilb's answer from fixture bodies; `bfd: null` = the 500 "bfd session not running" answer. */
const answer = (
  ci: string,
  bfd: string | null,
  opts: { live?: boolean; ageMs?: number } = {},
): LoxilbAnswer => {
  const view: LoxilbHaView = {
    ciStates: fixture(ci).Attr,
    bfdRunning: bfd !== null,
    bfdSessions: bfd === null ? [] : fixture(bfd).Attr,
  };
  const live = opts.live ?? true;
  return {
    url: URL,
    live,
    observation: { observedAt: NOW - (opts.ageMs ?? 0), url: URL, view },
    ...(live ? {} : { error: 'GET …/cistate/all failed: ECONNREFUSED', errorCode: 'ECONNREFUSED' }),
  };
};
const cfg = (input: ConfigInput = {}) => parseConfig(input);
const decide = (input: Partial<GateInput>) => decideScope({ config: cfg(), now: NOW, ...input });

const running = (instanceId: string, extra: Record<string, string> = {}) => ({
  instanceId,
  instanceState: 'running',
  ...extra,
});

describe('gate, BFD mode: read loxilb exactly as loxilb does', () => {
  it('MASTER with every session exactly BFDDown → full (last node standing), AWS not asked', () => {
    const loxilb = answer('cistate-master.json', 'bfd-all-peers-down.json');
    loxilb.observation!.view.bfdSessions[1].state = 'BFDDown';
    expect(peerQuestions({ config: cfg(), loxilb, now: NOW })).toBeUndefined();
    const d = decide({ loxilb });
    expect(d).toMatchObject({ scope: 'full', source: 'loxilb-api' });
    expect(d.reason).toMatch(/last node standing/);
    expect(d.peers).toEqual([
      { ip: '10.0.1.12', bfdState: 'BFDDown', alive: false, why: 'BFD session down' },
      { ip: '10.0.2.13', bfdState: 'BFDDown', alive: false, why: 'BFD session down' },
    ]);
  });

  it('BFDAdminDown is not down: the peer deleted its session, it may well be alive → handover', () => {
    const loxilb = answer('cistate-master.json', 'bfd-all-peers-down.json'); // 10.0.1.12 Down, 10.0.2.13 AdminDown
    expect(peerQuestions({ config: cfg(), loxilb, now: NOW })).toEqual({ peerIps: ['10.0.2.13'] });
    const d = decide({ loxilb, aws: { byIp: { '10.0.2.13': running('i-peer') } } });
    expect(d.scope).toBe('handover');
    expect(d.reason).toMatch(/10\.0\.2\.13 \(i-peer\): BFD BFDAdminDown; instance running/);
    expect(d.peers?.find((p) => p.ip === '10.0.2.13')).toMatchObject({ alive: true, instanceId: 'i-peer' });
  });

  it('BFDInit and BFDUp count as alive', () => {
    for (const state of ['BFDInit', 'BFDUp']) {
      const loxilb = answer('cistate-master.json', 'bfd-all-peers-down.json');
      loxilb.observation!.view.bfdSessions[1].state = state;
      expect(decide({ loxilb, aws: { byIp: { '10.0.2.13': running('i-peer') } } }).scope).toBe('handover');
    }
  });

  it('every session counts, whichever cluster instance it names', () => {
    const loxilb = answer('cistate-master.json', 'bfd-all-peers-down.json');
    loxilb.observation!.view.bfdSessions[1].state = 'BFDDown';
    loxilb.observation!.view.bfdSessions.push({
      instance: 'llb-inst1',
      remoteIp: '10.9.9.9',
      state: 'BFDUp',
    });
    const d = decide({ loxilb, aws: { byIp: { '10.9.9.9': running('i-other') } } });
    expect(d.scope).toBe('handover');
    expect(d.reason).toMatch(/10\.9\.9\.9/);
  });

  it('BFD running with zero sessions → no peers → full', () => {
    const d = decide({ loxilb: answer('cistate-master.json', 'bfd-none.json') });
    expect(d.scope).toBe('full');
    expect(d.reason).toMatch(/no BFD sessions/);
  });

  it('MASTER with a live peer → handover naming it; BACKUP → handover', () => {
    const up = decide({
      loxilb: answer('cistate-master.json', 'bfd-peer-up.json'),
      aws: { byIp: { '10.0.1.12': running('i-peer') } },
    });
    expect(up).toMatchObject({ scope: 'handover', source: 'loxilb-api' });
    expect(up.reason).toMatch(/10\.0\.1\.12 \(i-peer\)/);
    const backup = decide({ loxilb: answer('cistate-backup.json', 'bfd-all-peers-down.json') });
    expect(backup.scope).toBe('handover');
    expect(backup.reason).toMatch(/BACKUP/);
    expect(decide({ loxilb: answer('cistate-empty.json', 'bfd-none.json') }).scope).toBe('handover');
  });
});

describe('gate, AWS view: a peer AWS is ending cannot take over', () => {
  const loxilb = () => answer('cistate-master.json', 'bfd-peer-up.json'); // 10.0.1.12 Up, 10.0.2.13 Down
  const cases: Array<[string, Record<string, string>]> = [
    ['shutting-down', { instanceState: 'shutting-down' }],
    ['terminated', { instanceState: 'terminated' }],
    ['stopping', { instanceState: 'stopping' }],
    ['stopped', { instanceState: 'stopped' }],
    ['Terminating:Wait', { asgLifecycleState: 'Terminating:Wait' }],
    ['Terminating:Proceed', { asgLifecycleState: 'Terminating:Proceed' }],
    ['Warmed:Pending:Wait', { asgLifecycleState: 'Warmed:Pending:Wait' }],
    ['marked-for-termination', { spotStatusCode: 'marked-for-termination' }],
  ];
  it.each(cases)('peer %s → full', (what, extra) => {
    const d = decide({ loxilb: loxilb(), aws: { byIp: { '10.0.1.12': running('i-peer', extra) } } });
    expect(d.scope).toBe('full');
    expect(d.reason).toContain(what);
  });

  it('a peer whose IP no instance has, or an AWS view that failed, is taken as alive → handover', () => {
    expect(decide({ loxilb: loxilb(), aws: { byIp: { '10.0.1.12': null } } }).scope).toBe('handover');
    const failed = decide({ loxilb: loxilb(), aws: { error: 'Throttling: Rate exceeded' } });
    expect(failed.scope).toBe('handover');
    expect(failed.reason).toMatch(/AWS view unavailable \(Throttling/);
  });

  it('a healthy spot peer (fulfilled) or one InService is alive', () => {
    expect(
      peerVerdict(running('i-1', { spotStatusCode: 'fulfilled', asgLifecycleState: 'InService' })),
    ).toEqual({
      alive: true,
      why: 'instance running, InService, spot fulfilled',
    });
  });
});

describe('gate, BFD off (kube-loxilb --setRoles): the cluster is the Auto Scaling group', () => {
  const loxilb = () => answer('cistate-master.json', null);
  const cluster = (members: AwsPeerView['cluster'] extends infer C ? C : never) => ({ cluster: members });

  it('the 500 "bfd session not running" answer makes the gate ask for the cluster, not the IPs', () => {
    expect(peerQuestions({ config: cfg(), loxilb: loxilb(), now: NOW })).toEqual({ cluster: true });
  });

  it('another InService / Pending / Standby member → handover naming it', () => {
    for (const state of ['InService', 'Pending:Wait', 'Standby']) {
      const d = decide({
        loxilb: loxilb(),
        aws: cluster({
          source: 'Auto Scaling group lb',
          members: [running('i-b', { asgLifecycleState: state })],
        }),
      });
      expect(d.scope).toBe('handover');
      expect(d.reason).toMatch(/BFD off.*live member\(s\) of Auto Scaling group lb: i-b/);
      expect(d.peers).toEqual([expect.objectContaining({ instanceId: 'i-b', alive: true })]);
    }
  });

  it('no other live member (alone, or the others terminating / spot-reclaimed) → full', () => {
    expect(
      decide({ loxilb: loxilb(), aws: cluster({ source: 'Auto Scaling group lb', members: [] }) }).scope,
    ).toBe('full');
    const d = decide({
      loxilb: loxilb(),
      aws: cluster({
        source: 'Auto Scaling group lb',
        members: [
          running('i-b', { asgLifecycleState: 'Terminating:Wait' }),
          running('i-c', { asgLifecycleState: 'InService', spotStatusCode: 'marked-for-termination' }),
          running('i-d', { asgLifecycleState: 'Detached' }),
        ],
      }),
    });
    expect(d.scope).toBe('full');
    expect(d.reason).toMatch(/no other live member/);
  });

  it('membership unknown → handover, and the reason says so', () => {
    const d = decide({
      loxilb: loxilb(),
      aws: { error: 'i-a is in no Auto Scaling group; set gate.clusterTagKey' },
    });
    expect(d.scope).toBe('handover');
    expect(d.reason).toMatch(/membership unknown \(i-a is in no Auto Scaling group/);
  });
});

describe('gate, observation age', () => {
  it('loxilb down, last observation fresh → decided from it, its age in the decision', () => {
    const loxilb = answer('cistate-master.json', 'bfd-none.json', { live: false, ageMs: 4000 });
    const d = decide({ loxilb });
    expect(d.scope).toBe('full');
    expect(d.observation).toEqual({
      observedAt: new Date(NOW - 4000).toISOString(),
      ageMs: 4000,
      live: false,
    });
    expect(d.reason).toMatch(/last observation, 4 s old/);
  });

  it('an observation older than observationMaxAgeIntervals × observeIntervalMs counts as unknown → handover', () => {
    const config = cfg({ gate: { observeIntervalMs: 1000, observationMaxAgeIntervals: 3 } });
    const loxilb = answer('cistate-master.json', 'bfd-none.json', { live: false, ageMs: 3500 });
    const d = decideScope({ config, loxilb, now: NOW });
    expect(d).toMatchObject({ scope: 'handover', source: 'fallback' });
    expect(d.reason).toMatch(/last observation is 4 s old/);
    expect(peerQuestions({ config, loxilb, now: NOW })).toBeUndefined();
  });

  it('unreachable with no observation → handover with the error', () => {
    const d = decide({ loxilb: { url: URL, live: false, error: 'ECONNREFUSED', errorCode: 'ECONNREFUSED' } });
    expect(d).toMatchObject({
      scope: 'handover',
      source: 'fallback',
      details: { errorCode: 'ECONNREFUSED' },
    });
    expect(d.reason).toMatch(/unreachable \(ECONNREFUSED\) and no earlier observation/);
  });
});

describe('gate (static, override, cli)', () => {
  const stat = (s: Record<string, boolean>) => cfg({ gate: { mode: 'static', static: s } });

  it('static MASTER is full only when AWS shows no live peer in its cluster', () => {
    const config = stat({ bfd: true, master: true });
    expect(needsLoxilbApi(config)).toBe(false);
    expect(peerQuestions({ config, now: NOW })).toEqual({ cluster: true });
    const alone = decideScope({
      config,
      now: NOW,
      aws: { cluster: { source: 'Auto Scaling group lb', members: [] } },
    });
    expect(alone).toMatchObject({ scope: 'full', source: 'static' });
    const withPeer = decideScope({
      config,
      now: NOW,
      aws: {
        cluster: {
          source: 'Auto Scaling group lb',
          members: [running('i-b', { asgLifecycleState: 'InService' })],
        },
      },
    });
    expect(withPeer.scope).toBe('handover');
    expect(decideScope({ config, now: NOW, aws: { error: 'AccessDenied' } }).scope).toBe('handover');
  });

  it('static non-MASTER → handover without asking AWS', () => {
    const config = stat({ bfd: true, master: false });
    expect(peerQuestions({ config, now: NOW })).toBeUndefined();
    expect(decideScope({ config, now: NOW })).toMatchObject({ scope: 'handover', source: 'static' });
  });

  it('override mode uses the configured scope; the CLI scope wins over everything', () => {
    const config = cfg({ gate: { mode: 'override', override: 'none' } });
    expect(needsLoxilbApi(config)).toBe(false);
    expect(decideScope({ config, now: NOW })).toMatchObject({ scope: 'none', source: 'override' });
    expect(needsLoxilbApi(cfg(), 'full')).toBe(false);
    expect(decideScope({ config, cliScope: 'full', now: NOW })).toMatchObject({
      scope: 'full',
      source: 'cli',
    });
  });

  it('the old scope "instance" is refused with "use handover"', () => {
    expect(() => cfg({ gate: { mode: 'override', override: 'instance' as never } })).toThrow(
      /gate\.override: scope "instance" no longer exists: use handover/,
    );
  });
});
