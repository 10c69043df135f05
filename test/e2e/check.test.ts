import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AwsEmulator } from '../../sim/emulator/server';
import { runCli, TempWorkspace } from '../helpers/daemon-process';
import { LoxilbClusterIds, seedLoxilbCluster } from '../../sim/loxilb/footprint';

/**
 * `teardownd check` as an operator runs it on a loxilb MASTER, against the emulator: one line per
 * check, a missing IAM permission and a broken queue each named with what to do, and nothing in the
 * account changed (DryRun calls only, each refused by the service before it could act).
 */
describe('teardownd check', () => {
  let emulator: AwsEmulator;
  let ws: TempWorkspace;
  let ids: LoxilbClusterIds;
  let queueUrl: string;
  let topicArn: string;

  beforeEach(async () => {
    emulator = await AwsEmulator.start();
    ws = new TempWorkspace();
    ids = seedLoxilbCluster(emulator);
    emulator.imds.configure({ instanceId: ids.masterInstanceId, region: 'us-east-1' });
    queueUrl = emulator.sqs.createQueue('teardownd-events', {
      deadLetterQueue: 'teardownd-events-dlq',
      maxReceiveCount: 5,
    });
    topicArn = emulator.sns.createTopic('teardownd');
    emulator.autoscaling.putHook({
      asgName: 'loxilb-asg',
      hookName: 'teardownd-terminate',
      heartbeatTimeoutSeconds: 300,
      defaultResult: 'CONTINUE',
    });
    emulator.autoscaling.addInstance('loxilb-asg', ids.masterInstanceId);
    mkdirSync(ws.path('state'), { recursive: true });
    mkdirSync(ws.path('reports'), { recursive: true });
  });
  afterEach(async () => {
    await emulator.stop();
    ws.cleanup();
  });

  /** The host's /proc as teardownd sees it: loxilb running with `args` (a fake, config loxilbFlags.procRoot). */
  function fakeProc(args: string[]): string {
    const dir = ws.path('proc', '812');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'cmdline'), ['/usr/local/sbin/loxilb', ...args, ''].join('\0'));
    return ws.path('proc');
  }

  function writeConfig(overrides: Record<string, unknown> = {}): string {
    return ws.writeConfig({
      loxilbFlags: overrides.loxilbFlags ?? {
        procRoot: fakeProc(['--cloud=aws', `--cloudcidrblock=${ids.cloudCidr}`]),
      },
      cloud: { cidrBlock: ids.cloudCidr },
      gate: { mode: 'static', static: { bfd: false, setRoles: false, master: true } },
      sources: { sqs: { topicArn } },
      lifecycle: { autoScalingGroupName: 'loxilb-asg', hookName: 'teardownd-terminate' },
      ...overrides,
    });
  }

  /** Nothing changed: no mutating call without DryRun=true, and every DryRun call was refused. */
  function expectNothingChanged(): void {
    const real = emulator.calls.mutating().filter((r) => r.params.DryRun !== 'true');
    expect(real).toEqual([]);
    const dryRuns = emulator.calls.all().filter((r) => r.params.DryRun === 'true');
    expect(dryRuns.length).toBeGreaterThan(0);
    for (const r of dryRuns)
      expect([r.action, r.errorCode]).toEqual([
        r.action,
        expect.stringMatching(/^(DryRunOperation|UnauthorizedOperation)$/),
      ]);
  }

  it('all set: every line OK but the unverifiable, exit 0, nothing changed', async () => {
    const config = writeConfig();
    const before = JSON.stringify(emulator.ec2.snapshot());
    const res = await runCli(['-c', config, 'check'], emulator.env());
    const lines = res.stdout.trim().split('\n');
    expect(lines.filter((l) => !l.startsWith('OK   '))).toEqual([
      expect.stringMatching(
        /^WARN cannot be verified without changing something: ec2:DisassociateVpcCidrBlock/,
      ),
    ]);
    expect(res.code).toBe(0);
    expect(lines).toContain(`OK   ec2:DeleteSubnet allowed (DryRun on ${ids.subnetId})`);
    expect(lines).toContain(
      `OK   ec2:DetachNetworkInterface allowed (DryRun on ${ids.enis[0].attachmentId})`,
    );
    expect(lines).toContain(
      `OK   ec2:DisassociateRouteTable allowed (DryRun on ${ids.routeTableAssociationId})`,
    );
    expect(lines).toContain(
      `OK   IMDSv2 at ${emulator.url}: token and metadata read work (instance ${ids.masterInstanceId})`,
    );
    expect(lines).toContain(
      `OK   topic ${topicArn}: 0 host queue(s) subscribed; teardownd-${ids.masterInstanceId} is created when the daemon starts`,
    );
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^OK {3}lifecycle hook teardownd-terminate on loxilb-asg: terminating, heartbeat 300 s/,
      ),
    );
    expectNothingChanged();
    expect(JSON.stringify(emulator.ec2.snapshot())).toBe(before);
  });

  it("a config that overrides loxilb's own --cloudinstance is a FAIL naming both values", async () => {
    const config = writeConfig({
      loxilbFlags: {
        procRoot: fakeProc(['--cloud=aws', `--cloudcidrblock=${ids.cloudCidr}`, '--cloudinstance=blue']),
      },
      ownership: { cloudInstance: '' },
    });
    const res = await runCli(['-c', config, 'check'], emulator.env());
    expect(res.code).toBe(1);
    expect(res.stdout.split('\n').filter((l) => l.startsWith('FAIL'))).toEqual([
      'FAIL config ownership.cloudInstance is "" but loxilb (pid 812) runs with --cloudinstance=blue — ' +
        "remove ownership.cloudInstance from the config (loxilb's flag is the default) or make it match",
    ]);
  });

  it('reports a missing permission with the action, the resource and the statement to add', async () => {
    emulator.ec2.denyActions(['DeleteSubnet']);
    const config = writeConfig();
    const before = JSON.stringify(emulator.ec2.snapshot());
    const res = await runCli(['-c', config, 'check'], emulator.env());
    expect(res.code).toBe(1);
    const fails = res.stdout.split('\n').filter((l) => l.startsWith('FAIL'));
    expect(fails).toEqual([
      `FAIL ec2:DeleteSubnet denied on ${ids.subnetId} (UnauthorizedOperation) — allow ec2:DeleteSubnet on ` +
        `${ids.subnetId} for this instance's role: statement Ec2TearDownLoxilbSubnet of scripts/iam-policy.json ` +
        '(an encoded reason decodes with `aws sts decode-authorization-message`)',
    ]);
    // The check went on after the denial.
    expect(res.stdout).toContain(`OK   ec2:DeleteRouteTable allowed (DryRun on ${ids.routeTableId})`);
    expectNothingChanged();
    expect(JSON.stringify(emulator.ec2.snapshot())).toBe(before);
  });

  it('reports a queue that does not exist, and one that cannot be reached, each with its fix', async () => {
    const missingUrl = queueUrl.replace(/teardownd-events$/, 'no-such-queue');
    const missing = await runCli(
      ['-c', writeConfig({ sources: { sqs: { queueUrl: missingUrl } } }), 'check'],
      emulator.env(),
    );
    expect(missing.code).toBe(1);
    expect(missing.stdout.split('\n').filter((l) => l.startsWith('FAIL'))).toEqual([
      expect.stringMatching(
        new RegExp(
          `^FAIL queue ${missingUrl} does not exist \\((QueueDoesNotExist|AWS\\.SimpleQueueService\\.NonExistentQueue)\\) — fix sources\\.sqs\\.queueUrl`,
        ),
      ),
    ]);

    // A queue URL naming a host nobody listens on (the SDK sends to the queue URL's host).
    const deadUrl = 'http://127.0.0.1:9/123456789012/teardownd-events';
    const dead = await runCli(
      ['-c', writeConfig({ sources: { sqs: { queueUrl: deadUrl } } }), 'check', '--json'],
      emulator.env(),
    );
    expect(dead.code).toBe(1);
    const doc = JSON.parse(dead.stdout) as {
      ok: boolean;
      exitCode: number;
      checks: Array<{ status: string; check: string; what: string; fix?: string }>;
    };
    expect(doc).toMatchObject({ ok: false, exitCode: 1 });
    expect(doc.checks.filter((c) => c.status === 'FAIL')).toEqual([
      expect.objectContaining({
        check: 'sqs',
        what: expect.stringMatching(new RegExp(`^queue ${deadUrl} unreachable: ECONNREFUSED`)),
        fix: expect.stringMatching(/sources\.sqs\.queueUrl/),
      }),
    ]);
    expectNothingChanged();
  });

  it('a bad config is exit 2 with one FAIL line per field, and no AWS call', async () => {
    const config = ws.writeConfig({ gate: { mode: 'bogus' }, sources: { sqs: { queueUrl: 'not a url' } } });
    const res = await runCli(['-c', config, 'check'], emulator.env());
    expect(res.code).toBe(2);
    expect(res.stdout.trim().split('\n')).toEqual([
      `FAIL config ${config}: gate.mode: must be one of "loxilb-api", "static", "override" — fix the named field (scripts/config.example.md explains every key)`,
      expect.stringMatching(
        new RegExp(`^FAIL config ${config}: sources\\.sqs\\.queueUrl: .* — fix the named field`),
      ),
    ]);
    expect(emulator.calls.all()).toEqual([]);
  });
});
