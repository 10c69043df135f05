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
    expect(out).toMatch(/the peer i-\S+ was terminated before: its BFD session is Down/);
    expect(out).toContain('decoys: all intact');
    expect(code).toBe(0);
  });

  it('ASG scale-in with kube-loxilb --setRoles and a live peer: handover — nothing changed, the hook is completed, the message deleted from the per-host queue, and the peer takes over', async () => {
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
    expect(out).toMatch(/SQS messages deleted: 1 \(from this host's queue teardownd-i-[0-9a-f]+\)/);
    expect(out).toContain('per-host queue and subscription removed: this host is going');
    const peer =
      /the peer (i-[0-9a-f]+) became MASTER and took over: succeeded, its loxilb ENI (eni-[0-9a-f]+)/.exec(
        out,
      );
    expect(peer).not.toBeNull();
    // What is left is the peer's own VIP network: its new ENI carries every VIP and EIP.
    const left = out.slice(out.indexOf('left in the "cloud":'));
    expect(left).toContain(`  eni ${peer![2]} (in-use attached to ${peer![1]}#1, 5 IPs, EIPs 4)`);
    expect(left).toMatch(/^ {2}subnet subnet-/m);
    expect(left).toMatch(/^ {2}cidr-association /m);
    expect(out).toContain('decoys: all intact');
    expect(out).toContain('result: as expected for gate setroles');
    expect(code).toBe(0);
  });

  it('rejects an unknown scenario naming the allowed values', async () => {
    const { code, out } = await simulate(['--scenario', 'meteor']);
    expect(out).toMatch(/spot, asg, scheduled/);
    expect(code).not.toBe(0);
  });
});
