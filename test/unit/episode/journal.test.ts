import * as fs from 'node:fs/promises';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Journal, JournalFs, JournalStep, newEpisodeId, reduceEpisode } from '../../../lib/episode/journal';
import { captureLogger } from '../../helpers/log-capture';
import { TerminationNotice } from '../../../lib/notice';

const at = '2024-05-01T12:00:00.000Z';
const spot: TerminationNotice = {
  instanceId: 'i-0abc',
  kind: 'spot-terminate',
  deadline: '2024-05-01T12:02:00.000Z',
  source: 'imds',
  receivedAt: at,
  sourceId: 'spot/terminate/2024-05-01T12:02:00Z',
};
const lifecycle: TerminationNotice = {
  ...spot,
  kind: 'asg-terminate',
  deadline: null,
  source: 'sqs',
  sourceId: 'msg-1',
  lifecycle: { autoScalingGroupName: 'asg', hookName: 'hook', token: 'tok-1' },
};

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'journal-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function open(j: Journal, episode = 'i-0abc-20240501T120000Z') {
  return j.append(episode, {
    type: 'opened',
    at,
    episode,
    instanceId: 'i-0abc',
    bootId: 'boot-1',
    dryRun: false,
    notice: spot,
  });
}

describe('Journal', () => {
  it('a second process reads back every step: same episode, gate decision, token, messages', async () => {
    const j = new Journal(dir);
    await open(j);
    const ep = 'i-0abc-20240501T120000Z';
    await j.append(ep, { type: 'notice', at, notice: lifecycle });
    await j.append(ep, { type: 'message', at, messageId: 'msg-1' });
    await j.append(ep, { type: 'gate', at, decision: { scope: 'full', reason: 'last node standing' } });
    await j.append(ep, {
      type: 'action',
      at,
      event: { resource: 'eipassoc-1', action: 'DisassociateAddress' },
    });

    const restarted = new Journal(dir);
    const loaded = await restarted.load();
    expect(loaded.unreadable).toEqual([]);
    expect(loaded.episodes).toHaveLength(1);
    const s = loaded.episodes[0];
    expect(s.episode).toBe(ep);
    expect(s.gateDecision).toEqual({ scope: 'full', reason: 'last node standing' });
    expect(s.lifecycle).toEqual({ autoScalingGroupName: 'asg', hookName: 'hook', token: 'tok-1' });
    expect(s.messageIds).toEqual(['msg-1']);
    expect(s.actionsFinished).toHaveLength(1);
    expect(s.closed).toBe(false);
    // The reloaded journal keeps appending to the same file.
    await restarted.append(ep, { type: 'closed', at });
    expect((await new Journal(dir).load()).episodes[0].closed).toBe(true);
  });

  it('writes through a temp file, fsync and rename: no partial file is ever in place', async () => {
    const calls: string[] = [];
    const spyFs: JournalFs = {
      ...fs,
      open: (async (path: string, flags?: string, mode?: number) => {
        const handle = await fs.open(path, flags, mode);
        calls.push(`open ${path.endsWith('.tmp') ? 'tmp' : path.endsWith('episodes') ? 'dir' : path}`);
        const sync = handle.sync.bind(handle);
        handle.sync = async () => {
          calls.push(`sync ${path.endsWith('.tmp') ? 'tmp' : 'dir'}`);
          return sync();
        };
        return handle;
      }) as JournalFs['open'],
      rename: (async (from: string, to: string) => {
        calls.push(`rename ${from.endsWith('.tmp') ? 'tmp' : from} -> ${to.endsWith('.json') ? 'json' : to}`);
        return fs.rename(from, to);
      }) as JournalFs['rename'],
    };
    await open(new Journal(dir, spyFs));
    expect(calls).toEqual(['open tmp', 'sync tmp', 'rename tmp -> json', 'open dir', 'sync dir']);
  });

  it('a write the disk refuses keeps the step in memory, leaves the previous version readable, and says so once', async () => {
    const j = new Journal(dir);
    await open(j);
    let failing = true;
    const refusingFs: JournalFs = {
      ...fs,
      rename: (async (from: string, to: string) =>
        failing
          ? Promise.reject(Object.assign(new Error('no space left on device'), { code: 'ENOSPC' }))
          : fs.rename(from, to)) as JournalFs['rename'],
    };
    const { logger, lines } = captureLogger();
    const full = new Journal(dir, refusingFs, { logger });
    await full.load();
    const ep = 'i-0abc-20240501T120000Z';
    // The teardown goes on: the step is in memory even though the disk did not take it.
    await full.append(ep, { type: 'message', at, messageId: 'msg-1' });
    const state = await full.append(ep, { type: 'closed', at });
    expect(state.closed).toBe(true);
    expect(full.onDisk).toBe(false);
    const errors = lines.filter((l) => l.level === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ stage: 'journal', episode: ep, errorCode: 'ENOSPC' });
    // No temp file is left to fill the disk further; the previous version is what a restart reads.
    expect(readdirSync(join(dir, 'episodes')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect((await new Journal(dir).load()).episodes[0].closed).toBe(false);
    // Once the disk takes writes again, the next step rewrites the whole episode.
    failing = false;
    await full.append(ep, { type: 'message', at, messageId: 'msg-2' });
    expect(full.onDisk).toBe(true);
    const reloaded = (await new Journal(dir).load()).episodes[0];
    expect(reloaded.closed).toBe(true);
    expect(reloaded.messageIds).toEqual(['msg-1', 'msg-2']);
    expect(lines.filter((l) => l.message === 'journal is reaching the disk again')).toHaveLength(1);
  });

  it('persist: false keeps every step in memory and touches no file', async () => {
    const j = new Journal(join(dir, 'never-created'), fs, { persist: false });
    expect(await j.load()).toEqual({ episodes: [], unreadable: [] });
    await open(j);
    expect(j.state('i-0abc-20240501T120000Z')!.notices).toHaveLength(1);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a journal dir that cannot be read or created means memory, loudly, not a crash', async () => {
    writeFileSync(join(dir, 'episodes'), 'a file where the directory should be');
    const { logger, lines } = captureLogger();
    const j = new Journal(dir, fs, { logger });
    expect(await j.load()).toEqual({ episodes: [], unreadable: [] });
    await open(j);
    expect(j.onDisk).toBe(false);
    expect(lines.filter((l) => l.level === 'error')).toEqual([
      expect.objectContaining({ stage: 'journal', resource: join(dir, 'episodes') }),
    ]);
  });

  it('reports a corrupt file instead of crashing, and leaves it in place', async () => {
    const j = new Journal(dir);
    await open(j);
    writeFileSync(join(dir, 'episodes', 'broken.json'), '{"schemaVersion": 1, "steps": [');
    const loaded = await new Journal(dir).load();
    expect(loaded.episodes).toHaveLength(1);
    expect(loaded.unreadable).toEqual([
      { file: join(dir, 'episodes', 'broken.json'), error: expect.any(String) },
    ]);
    expect(readFileSync(join(dir, 'episodes', 'broken.json'), 'utf8')).toContain('steps');
  });

  it('a file with a bad step is unreadable with an error naming the file and the field', async () => {
    const j = new Journal(dir);
    await open(j, 'ep-good');
    const file = join(dir, 'episodes', 'ep-bad.json');
    const opened = {
      type: 'opened',
      at,
      episode: 'ep-bad',
      instanceId: 'i-0abc',
      bootId: 'b',
      dryRun: false,
    };
    writeFileSync(
      file,
      JSON.stringify({
        schemaVersion: 1,
        episode: 'ep-bad',
        steps: [
          { ...opened, notice: { ...spot, kind: 'meteor' } },
          { type: 'teleported', at },
          { type: 'report', at, report: { outcome: 'clean', exitCode: 7 } },
        ],
      }),
    );
    const loaded = await new Journal(dir).load();
    expect(loaded.episodes.map((e) => e.episode)).toEqual(['ep-good']);
    expect(loaded.unreadable).toHaveLength(1);
    const { file: named, error } = loaded.unreadable[0]!;
    expect(named).toBe(file);
    expect(error).toContain(`${file} is not a teardownd journal file`);
    expect(error).toMatch(/steps\.0\.notice\.kind: /);
    expect(error).toMatch(/steps\.1\.type: /);
    expect(error).toMatch(/steps\.2\.report\.exitCode: /);
  });

  it('an unknown schema version is named as such', async () => {
    const episodes = join(dir, 'episodes');
    await fs.mkdir(episodes, { recursive: true });
    writeFileSync(join(episodes, 'v2.json'), JSON.stringify({ schemaVersion: 2, episode: 'v2', steps: [] }));
    const loaded = await new Journal(dir).load();
    expect(loaded.unreadable[0]?.error).toMatch(/schemaVersion: /);
  });

  it('every kind of step is written and read back as it was', async () => {
    const j = new Journal(dir);
    const ep = 'ep-all';
    await open(j, ep);
    const steps = [
      { type: 'notice', at, notice: lifecycle },
      { type: 'message', at, messageId: 'msg-1' },
      { type: 'teardown-started', at, deadlineAt: 1714564920000 },
      { type: 'gate', at, decision: { scope: 'handover', source: 'loxilb-api', reason: 'peer' } },
      { type: 'discovered', at, facts: { enis: ['eni-1'] } },
      { type: 'action', at, event: { resource: 'eni-1' } },
      { type: 'report', at, report: { path: '/r.json', outcome: 'handover', exitCode: 0 } },
      { type: 'shipped', at, ok: false, detail: 's3: AccessDenied' },
      {
        type: 'completed',
        at,
        completion: { result: 'completed', by: 'token', token: 'tok-1', covers: ['sqs|asg-terminate'] },
      },
      { type: 'messages-deleted', at, messageIds: ['msg-1'] },
      { type: 'redecide', at, reason: 'peer gone', previous: { scope: 'handover' } },
      { type: 'closed', at },
    ] satisfies JournalStep[];
    for (const step of steps) await j.append(ep, step);
    const written = readFileSync(join(dir, 'episodes', `${ep}.json`), 'utf8');
    const restarted = new Journal(dir);
    const loaded = await restarted.load();
    expect(loaded.unreadable).toEqual([]);
    expect(loaded.episodes[0]).toEqual(j.state(ep));
    // The next append rewrites the file from what was read: the steps come out as they went in.
    await restarted.append(ep, { type: 'closed', at });
    const rewritten = JSON.parse(readFileSync(join(dir, 'episodes', `${ep}.json`), 'utf8'));
    expect(rewritten.steps.slice(0, -1)).toEqual(JSON.parse(written).steps);
  });

  it('refuses steps for an episode that was never opened', async () => {
    await expect(new Journal(dir).append('nope', { type: 'closed', at })).rejects.toThrow(/never opened/);
  });

  it('prunes closed episodes beyond the newest N, never an open one', async () => {
    const j = new Journal(dir);
    for (let i = 0; i < 4; i++) {
      const ep = `ep-${i}`;
      await j.append(ep, {
        type: 'opened',
        at: `2024-05-0${i + 1}T00:00:00.000Z`,
        episode: ep,
        instanceId: 'i-0abc',
        bootId: 'b',
        dryRun: false,
        notice: spot,
      });
      if (i !== 0) await j.append(ep, { type: 'closed', at });
    }
    await j.prune(1);
    expect(readdirSync(join(dir, 'episodes')).sort()).toEqual(['ep-0.json', 'ep-3.json']);
  });
});

describe('reduceEpisode', () => {
  it('a token-bearing lifecycle ref replaces a token-less one, never the reverse', () => {
    const tokenless = { ...lifecycle, lifecycle: { autoScalingGroupName: 'asg', hookName: 'hook' } };
    const s = reduceEpisode([
      {
        type: 'opened',
        at,
        episode: 'e',
        instanceId: 'i-0abc',
        bootId: 'b',
        dryRun: false,
        notice: tokenless,
      },
      { type: 'notice', at, notice: lifecycle },
      { type: 'notice', at, notice: tokenless },
    ]);
    expect(s.lifecycle!.token).toBe('tok-1');
  });

  it('episode ids are safe file names, to the millisecond, with a random part', () => {
    expect(newEpisodeId(Date.parse('2024-05-01T12:00:00.123Z'), () => '0a1b2c3d')).toBe(
      'ep-20240501T120000123Z-0a1b2c3d',
    );
    const t = Date.parse('2024-05-01T12:00:00.123Z');
    const ids = new Set(Array.from({ length: 100 }, () => newEpisodeId(t)));
    expect(ids.size).toBe(100);
    for (const id of ids) expect(id).toMatch(/^ep-\d{8}T\d{9}Z-[0-9a-f]{8}$/);
  });
});
