import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliJournal, openCliEpisode, OpenCliEpisodeOptions } from '../../../lib/episode/cli-episode';
import { Journal } from '../../../lib/episode/journal';
import { nullLogger } from '../../../lib/log';
import { TerminationNotice } from '../../../lib/notice';

const ME = 'i-0aaaaaaaaaaaaaaa1';
const notice: TerminationNotice = {
  instanceId: ME,
  kind: 'manual',
  deadline: null,
  source: 'cli',
  receivedAt: '2026-12-01T00:00:00.000Z',
};

describe('CLI teardown journal', () => {
  let stateDir: string;
  let seq: number;
  beforeEach(() => {
    stateDir = mkdtempSync(join(tmpdir(), 'cli-episode-'));
    seq = 0;
  });
  afterEach(() => rmSync(stateDir, { recursive: true, force: true }));

  const open = (over: Partial<OpenCliEpisodeOptions> = {}) =>
    openCliEpisode({
      stateDir,
      instanceId: ME,
      bootId: 'boot-1',
      notice,
      dryRun: false,
      newEpisode: () => `cli-${++seq}`,
      logger: nullLogger(),
      now: () => new Date(1_700_000_000_000 + seq).toISOString(),
      ...over,
    });
  const facts = { vpcId: 'vpc-1', ownEniIds: ['eni-lx'], subnetIds: ['subnet-lx'], routeTableIds: [] };

  it('a run killed after its discovery is resumed by the next run, with its record; a finished one is not', async () => {
    const first = await open();
    expect(first).toMatchObject({ episode: 'cli-1', resumed: false, remembered: undefined });
    await first.onEvent({ type: 'discovered', facts });
    // kill -9 here: never closed.
    const second = await open();
    expect(second).toMatchObject({ episode: 'cli-1', resumed: true, remembered: facts });
    await second.onEvent({ type: 'discovered', facts: { ...facts, ownEniIds: [] } });
    await second.close({ path: '/r.json', outcome: 'clean', exitCode: 0 });
    const third = await open();
    expect(third).toMatchObject({ episode: 'cli-2', resumed: false, remembered: undefined });
  });

  it('lives apart from the daemon journal, so the daemon never resumes a hand-run teardown', async () => {
    const run = await open();
    await run.onEvent({ type: 'discovered', facts });
    expect(readdirSync(join(stateDir, 'cli', 'episodes'))).toEqual(['cli-1.json']);
    expect((await new Journal(stateDir).load()).episodes).toEqual([]);
    expect((await cliJournal(stateDir).load()).episodes[0]).toMatchObject({
      discovered: facts,
      closed: false,
    });
  });

  it('dry-run reads the record of an interrupted run and writes nothing', async () => {
    const first = await open();
    await first.onEvent({ type: 'discovered', facts });
    const before = JSON.stringify((await cliJournal(stateDir).load()).episodes);
    const dry = await open({ dryRun: true });
    expect(dry).toMatchObject({ episode: 'cli-2', resumed: false, remembered: facts });
    await dry.onEvent({ type: 'discovered', facts: { ...facts, ownEniIds: ['eni-other'] } });
    await dry.close({ path: '/r.json', outcome: 'dry-run', exitCode: 0 });
    expect(JSON.stringify((await cliJournal(stateDir).load()).episodes)).toBe(before);
  });

  it('memory mode (the state dir cannot be written): nothing is read or written, the run goes on', async () => {
    const first = await open();
    await first.onEvent({ type: 'discovered', facts });
    const before = JSON.stringify((await cliJournal(stateDir).load()).episodes);
    const run = await open({ persist: false });
    expect(run).toMatchObject({ episode: 'cli-2', resumed: false, remembered: undefined });
    await run.onEvent({ type: 'discovered', facts });
    await run.close({ path: '/r.json', outcome: 'clean', exitCode: 0 });
    expect(JSON.stringify((await cliJournal(stateDir).load()).episodes)).toBe(before);
  });

  it('a state dir that cannot be used does not stop the teardown', async () => {
    const file = join(stateDir, 'not-a-dir');
    writeFileSync(file, 'x');
    const run = await open({ stateDir: file });
    expect(run).toMatchObject({ episode: 'cli-1', resumed: false });
    await expect(run.onEvent({ type: 'discovered', facts })).resolves.toBeUndefined();
    await expect(run.close({ path: '/r.json', outcome: 'clean', exitCode: 0 })).resolves.toBeUndefined();
  });
});
