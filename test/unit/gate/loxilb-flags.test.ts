import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkLoxilbFlags } from '../../../lib/check/host';
import { parseConfig } from '../../../lib/config/load';
import {
  findLoxilbProcesses,
  flagMismatches,
  loadConfigWithLoxilbFlags,
  parseLoxilbArgs,
} from '../../../lib/gate/loxilb-flags';

/** A fake /proc: one directory per pid with its NUL-separated cmdline. */
function fakeProc(root: string, procs: Record<number, string[]>): void {
  for (const [pid, argv] of Object.entries(procs)) {
    mkdirSync(join(root, pid), { recursive: true });
    writeFileSync(join(root, pid, 'cmdline'), argv.join('\0') + '\0');
  }
  mkdirSync(join(root, 'self'), { recursive: true });
  writeFileSync(join(root, 'uptime'), '1.0 1.0\n');
}

describe("loxilb's own flags", () => {
  let dir: string;
  let proc: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'loxilb-flags-'));
    proc = join(dir, 'proc');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('parses go-flags forms: --name=value, --name value, -k value, -kvalue; ka defaults to none', () => {
    expect(
      parseLoxilbArgs([
        '/root/loxilb-io/loxilb/loxilb',
        '--cloud=aws',
        '--cloudcidrblock',
        '123.123.123.0/28',
        '--cloudinstance=blue',
        '-k',
        '10.0.2.12:10.0.1.11',
        '--blacklist=cni.|veth.',
      ]),
    ).toEqual({
      program: '/root/loxilb-io/loxilb/loxilb',
      cloud: 'aws',
      cloudCidrBlock: '123.123.123.0/28',
      cloudInstance: 'blue',
      ka: '10.0.2.12:10.0.1.11',
    });
    expect(parseLoxilbArgs(['loxilb', '-k10.0.0.2:10.0.0.1:100'])).toMatchObject({
      ka: '10.0.0.2:10.0.0.1:100',
    });
    expect(parseLoxilbArgs(['loxilb', '--ka', 'none'])).toMatchObject({ ka: 'none' });
    expect(parseLoxilbArgs(['loxilb'])).toEqual({ program: 'loxilb' });
  });

  it('finds the loxilb process in /proc (also one in a container), not kube-loxilb nor others', () => {
    fakeProc(proc, {
      1: ['/sbin/init'],
      77: ['/usr/local/bin/kube-loxilb', '--cloudinstance=wrong'],
      812: ['/root/loxilb-io/loxilb/loxilb', '--cloud=aws', '--cloudcidrblock=123.123.123.0/28'],
      900: ['node', '/opt/teardownd/dist/daemon/main.js', 'run'],
    });
    expect(findLoxilbProcesses(proc)).toEqual([
      {
        pid: 812,
        program: '/root/loxilb-io/loxilb/loxilb',
        cloud: 'aws',
        cloudCidrBlock: '123.123.123.0/28',
      },
    ]);
    expect(findLoxilbProcesses(join(dir, 'no-such-proc'))).toEqual([]);
  });

  it('flags are defaults: the config overrides them, and check reports where they disagree', () => {
    fakeProc(proc, {
      812: ['loxilb', '--cloud=aws', '--cloudcidrblock=123.123.123.0/28', '--cloudinstance=blue'],
    });
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ loxilbFlags: { procRoot: proc } }));
    const { config, loxilb } = loadConfigWithLoxilbFlags({ path: file });
    expect(config.cloud.cidrBlock).toBe('123.123.123.0/28');
    expect(config.ownership.cloudInstance).toBe('blue');
    expect(loxilb).toMatchObject({ pid: 812 });
    expect(flagMismatches(config, loxilb!)).toEqual([]);
    expect(checkLoxilbFlags({ config, loxilb })).toEqual([
      expect.objectContaining({ status: 'OK', what: expect.stringContaining('--cloudinstance=blue') }),
    ]);

    writeFileSync(
      file,
      JSON.stringify({
        loxilbFlags: { procRoot: proc },
        ownership: { cloudInstance: '' },
        cloud: { cidrBlock: '10.9.0.0/28' },
      }),
    );
    const overridden = loadConfigWithLoxilbFlags({ path: file });
    expect(overridden.config.ownership.cloudInstance).toBe('');
    expect(overridden.config.cloud.cidrBlock).toBe('10.9.0.0/28');
    const lines = checkLoxilbFlags(overridden);
    expect(lines.map((l) => [l.status, l.what])).toEqual([
      [
        'FAIL',
        expect.stringMatching(
          /ownership.cloudInstance is "" but loxilb \(pid 812\) runs with --cloudinstance=blue/,
        ),
      ],
      [
        'FAIL',
        expect.stringMatching(/cloud.cidrBlock is "10.9.0.0\/28" but .* --cloudcidrblock=123.123.123.0\/28/),
      ],
    ]);
  });

  it("a config copied from the shipped example keeps loxilb's own flags (--ka, --cloudinstance, --cloudcidrblock)", () => {
    fakeProc(proc, {
      9: [
        'loxilb',
        '--cloud=aws',
        '--ka=10.0.2.12:10.0.1.11',
        '--cloudinstance=blue',
        '--cloudcidrblock=123.123.123.0/28',
      ],
    });
    const example = JSON.parse(readFileSync(join(__dirname, '../../../scripts/config.example.json'), 'utf8'));
    const file = join(dir, 'config.json');
    writeFileSync(
      file,
      JSON.stringify({
        ...example,
        loxilbFlags: { ...example.loxilbFlags, procRoot: proc },
        gate: { ...example.gate, mode: 'static' },
      }),
    );
    const { config, loxilb } = loadConfigWithLoxilbFlags({ path: file });
    expect(config.gate.static.bfd).toBe(true);
    expect(config.ownership.cloudInstance).toBe('blue');
    expect(config.cloud.cidrBlock).toBe('123.123.123.0/28');
    expect(flagMismatches(config, loxilb!)).toEqual([]);
  });

  it('--ka is the BFD default for the static gate; a malformed flag value is not taken', () => {
    fakeProc(proc, { 5: ['loxilb', '--cloud=aws', '--ka=10.0.2.12:10.0.1.11', '--cloudcidrblock=bogus'] });
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ loxilbFlags: { procRoot: proc }, gate: { mode: 'static' } }));
    const { config } = loadConfigWithLoxilbFlags({ path: file });
    expect(config.gate.static.bfd).toBe(true);
    expect(config.cloud.cidrBlock).toBeUndefined();
  });

  it('no loxilb running, or reading turned off: the config as it is, and check says so', () => {
    fakeProc(proc, { 1: ['/sbin/init'] });
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ loxilbFlags: { procRoot: proc } }));
    const { config, loxilb } = loadConfigWithLoxilbFlags({ path: file });
    expect(loxilb).toBeUndefined();
    expect(checkLoxilbFlags({ config, loxilb })[0]).toMatchObject({ status: 'WARN' });
    const off = parseConfig({ loxilbFlags: { enabled: false } });
    expect(checkLoxilbFlags({ config: off })[0]).toMatchObject({ status: 'OK' });
  });
});
