import { writeFileSync } from 'node:fs';
import { AwsEmulator } from '../../sim/emulator/server';
import { runCli, TempWorkspace } from '../helpers/daemon-process';

/**
 * Every config problem is found when the config is loaded — before `ready`, before any request —
 * all of them reported together, and `check` says the same as `run`.
 */
describe('config problems are found at load', () => {
  let emulator: AwsEmulator;
  let ws: TempWorkspace;
  beforeEach(async () => {
    emulator = await AwsEmulator.start();
    ws = new TempWorkspace();
  });
  afterEach(async () => {
    await emulator.stop();
    ws.cleanup();
  });

  const cases: Array<[string, () => string[], string[]]> = [
    [
      'a config file holding null',
      () => {
        const file = ws.path('null.json');
        writeFileSync(file, 'null\n');
        return ['--config', file];
      },
      ['(top level): must be a JSON object with the config keys, got null'],
    ],
    [
      '--log-level bogus',
      () => ['--config', ws.writeConfig({}), '--log-level', 'bogus'],
      ['--log-level (log.level): must be one of "error", "warn", "info", "debug"'],
    ],
    [
      'a bad schedule, a bad region and a bad log level in one file',
      () => [
        '--config',
        ws.writeConfig({
          sweeper: { schedule: '61 * * * *', regions: ['us-east-1', 'atlantis'] },
          log: { level: 'loud' },
        }),
      ],
      [
        'sweeper.schedule: "61 * * * *" is not a valid cron expression',
        'sweeper.regions[1]: "atlantis" is not an AWS region name',
        'log.level: must be one of',
      ],
    ],
  ];

  it.each(cases)('%s: run exits 2 before `ready` and before any request', async (_what, args, problems) => {
    const res = await runCli([...args(), 'run'], emulator.env(), 15000);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(args()[1]!); // the file is named
    for (const p of problems) expect(res.stderr).toContain(p);
    expect(res.stderr).not.toMatch(/\n\s+at /);
    expect(res.logs.filter((l) => l.message === 'ready' || l.message === 'starting')).toEqual([]);
    expect(emulator.calls.all()).toEqual([]);
  });

  it.each(cases)('%s: check agrees (exit 2, a FAIL line per problem)', async (_what, args, problems) => {
    const res = await runCli([...args(), 'check'], emulator.env(), 15000);
    expect(res.code).toBe(2);
    for (const p of problems) expect(res.stdout).toContain(p);
    const fails = res.stdout.split('\n').filter((l) => l.startsWith('FAIL'));
    expect(fails).toHaveLength(problems.length);
  });
});
