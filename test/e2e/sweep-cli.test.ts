import { readdirSync } from 'node:fs';
import { AwsEmulator } from '../../sim/emulator/server';
import { runCli, TempWorkspace } from '../helpers/daemon-process';
import { LoxilbClusterIds, seedLoxilbCluster } from '../../sim/loxilb/footprint';

/** `teardownd sweep` as an operator types it: flags, config, exit codes, output. */
describe('teardownd sweep: command line', () => {
  let emulator: AwsEmulator;
  let ws: TempWorkspace;
  let ids: LoxilbClusterIds;

  beforeEach(async () => {
    emulator = await AwsEmulator.start();
    ws = new TempWorkspace();
    ids = seedLoxilbCluster(emulator, { peer: false });
    emulator.ec2.createTags([ids.enis[0].eniId], { 'teardownd:owner': ids.masterInstanceId });
    emulator.ec2.terminateInstance(ids.masterInstanceId);
  });
  afterEach(async () => {
    await emulator.stop();
    ws.cleanup();
  });

  it('prints a summary per region with the report path; --region picks the region', async () => {
    const res = await runCli(['-c', ws.writeConfig({}), 'sweep', '--region', 'eu-west-1'], emulator.env());
    expect(res.code).toBe(1);
    expect(res.stderr).toBe('');
    expect(res.stdout).toMatch(/^sweep eu-west-1 \(report\): orphans-found — 1 orphan/m);
    expect(res.stdout).toContain(`orphan eni ${ids.enis[0].eniId} → reported`);
    expect(res.stdout).toContain(
      `aws ec2 delete-network-interface --network-interface-id ${ids.enis[0].eniId}`,
    );
    expect(res.stdout).toMatch(/^report: .*\/reports\/sweep-eu-west-1-.*\.json$/m);
    expect(readdirSync(ws.path('reports'))).toHaveLength(1);
    expect(emulator.calls.mutating()).toEqual([]);
  });

  it('dryRun in the config wins over --apply: report mode, zero mutating calls', async () => {
    const res = await runCli(['-c', ws.writeConfig({ dryRun: true }), 'sweep', '--apply'], emulator.env());
    expect(res.code).toBe(1);
    expect(res.logs.some((l) => l.level === 'warn' && String(l.message).includes('report mode'))).toBe(true);
    expect(res.stdout).toMatch(/sweep us-east-1 \(report\)/);
    expect(emulator.calls.mutating()).toEqual([]);
  });

  it.each([
    ['--region mars', ['sweep', '--region', 'mars'], {}, '--region "mars" is not an AWS region name'],
    [
      'sweeper.regions',
      ['sweep'],
      { sweeper: { regions: ['us-east-1', 'moon-1'] } },
      'sweeper.regions[1]: "moon-1" is not an AWS region name',
    ],
    ['sweeper.mode', ['sweep'], { sweeper: { mode: 'delete' } }, 'sweeper.mode'],
  ])('bad %s exits 2 naming the field, before any AWS call', async (_what, args, config, message) => {
    const res = await runCli(['-c', ws.writeConfig(config), ...args], emulator.env());
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(message);
    expect(emulator.calls.all().filter((c) => c.service === 'ec2')).toEqual([]);
  });

  it('teardownd run refuses a bad sweeper.schedule at load: exit 2 naming it, never `ready`', async () => {
    const res = await runCli(
      [
        '-c',
        ws.writeConfig({ sweeper: { schedule: 'every ten minutes' } }),
        'run',
        '--instance-id',
        ids.masterInstanceId,
      ],
      emulator.env(),
      15000,
    );
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('sweeper.schedule: "every ten minutes" is not a valid cron expression');
    // Refused while loading the config: no `ready` (under systemd that would be a restart loop),
    // not a single AWS or IMDS request.
    expect(res.logs.filter((l) => l.message === 'ready' || l.message === 'starting')).toEqual([]);
    expect(emulator.calls.all()).toEqual([]);
  });
});
