import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

/** `npm start` runs this script; it must work non-interactively and end in the promised state. */
const SIMULATE = resolve(__dirname, '../../dist/sim/simulate.js');

function simulate(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [SIMULATE, ...args], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE_NO_WARNINGS: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, out });
    });
  });
}

describe('npm start (the simulation)', () => {
  it('spot interruption, BFD last node standing: the whole loxilb footprint goes, decoys stay', async () => {
    const { code, out } = await simulate(['--plain', '--latency-ms', '5', '--detach-delay-ms', '100']);
    expect(out).toContain('gate: scope full');
    expect(out).toMatch(/\[cidr\] DisassociateVpcCidrBlock vpc-cidr-assoc-\S+: done/);
    expect(out).toMatch(/Outcome:\s+CLEAN/);
    expect(out).toContain('nothing of the loxilb cluster');
    expect(out).toContain('decoys and the peer: all intact');
    expect(code).toBe(0);
  });

  it('ASG scale-in with kube-loxilb --setRoles and a live peer: handover — nothing changed, the hook is completed and the message deleted', async () => {
    const { code, out } = await simulate([
      '--plain',
      '--scenario',
      'asg',
      '--gate',
      'setroles',
      '--latency-ms',
      '5',
      '--detach-delay-ms',
      '100',
    ]);
    expect(out).toContain('gate: scope handover');
    expect(out).toMatch(/Outcome:\s+HANDOVER/);
    expect(out).toMatch(/live member\(s\) of Auto Scaling group loxilb-asg: i-/);
    expect(out).toMatch(/lifecycle action: CONTINUE \(token [0-9a-f-]{36}\)/);
    expect(out).toContain('SQS messages deleted: 1');
    const left = out.slice(out.indexOf('left in the "cloud":'));
    expect(left).toMatch(/^ {2}subnet subnet-/m);
    expect(left).toMatch(/^ {2}cidr-association /m);
    expect(left).toMatch(/^ {2}eni /m);
    expect(out).toContain('result: as expected for gate setroles');
    expect(code).toBe(0);
  });

  it('rejects an unknown scenario naming the allowed values', async () => {
    const { code, out } = await simulate(['--scenario', 'meteor']);
    expect(out).toMatch(/spot, asg, scheduled/);
    expect(code).not.toBe(0);
  });
});
