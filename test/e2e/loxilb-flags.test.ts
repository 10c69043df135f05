import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decoysIntact, leftovers } from '../../sim/loxilb/footprint';
import { TeardownHarness } from '../helpers/teardown-harness';

/**
 * loxilb's own flags (`--cloudinstance`, `--cloudcidrblock`) read from its process in /proc are the
 * defaults: a host whose loxilb runs with `--cloudinstance=blue` needs no config for it. A fake /proc
 * (config loxilbFlags.procRoot) stands in for the host's.
 */
describe("loxilb's own flags from /proc", () => {
  let h: TeardownHarness;

  beforeEach(async () => {
    h = await TeardownHarness.start({
      emulator: { ec2: { detachDelayMs: 50, cidrDisassociateDelayMs: 50 } },
      cluster: { cloudInstance: 'blue' },
    });
  });
  afterEach(() => h.stop());

  /** A /proc with loxilb running (as a container's process would look on the host) and unrelated ones. */
  const fakeProc = (loxilbArgs: string[]): string => {
    const root = h.ws.path('proc');
    const procs: Record<string, string[]> = {
      1: ['/sbin/init', 'splash'],
      4242: ['/root/loxilb-io/loxilb/loxilb', ...loxilbArgs],
      5151: ['/usr/local/bin/kube-loxilb', '--setRoles=0.0.0.0'],
    };
    for (const [pid, argv] of Object.entries(procs)) {
      mkdirSync(join(root, pid), { recursive: true });
      writeFileSync(join(root, pid, 'cmdline'), `${argv.join('\0')}\0`);
    }
    return root;
  };
  /** No cloud.cidrBlock and no ownership.cloudInstance in the config: both come from loxilb's flags. */
  const teardown = (config: Record<string, unknown>) =>
    h.teardown({ config: { cloud: undefined, ...config } });

  it('--cloudinstance and --cloudcidrblock of the running loxilb are used when the config does not set them', async () => {
    const { emulator, ids } = h;
    const procRoot = fakeProc(['--cloud=aws', `--cloudcidrblock=${ids.cloudCidr}`, '--cloudinstance=blue']);
    const res = await teardown({ loxilbFlags: { procRoot } });
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(leftovers(emulator, ids)).toEqual([]);
    expect(decoysIntact(emulator, ids)).toEqual([]);
    const report = res.report();
    expect(report.outcome).toBe('clean');
    expect(report.actions).toContainEqual(
      expect.objectContaining({
        action: 'DisassociateVpcCidrBlock',
        summary: expect.stringContaining('config cloud.cidrBlock'),
      }),
    );
  });

  it('resources only under another --cloudinstance suffix: a loud warning, not a silent nothing-to-do', async () => {
    // No loxilb process to read, and no ownership.cloudInstance: teardownd looks for `loxilb-eni`.
    const { emulator, ids } = h;
    const res = await teardown({ loxilbFlags: { procRoot: fakeProc([]) } });
    const report = res.report();
    expect(report.outcome).toBe('nothing-to-do');
    expect(emulator.calls.mutating('ec2')).toEqual([]);
    const warning = report.warnings.find((w: string) => /another|--cloudinstance/.test(w));
    expect(warning).toMatch(new RegExp(`${ids.enis[0].eniId} \\(loxiType=loxilb-eniblue\\)`));
    expect(warning).toMatch(/--cloudinstance "blue".*ownership\.cloudInstance ""/);
    expect(res.stdout).toMatch(/warning: this instance has loxilb ENI/);
    expect(res.logs.some((l) => l.level === 'warn' && /loxilb-eniblue/.test(String(l.message)))).toBe(true);
  });
});
