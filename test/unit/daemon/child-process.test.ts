import { PassThrough } from 'node:stream';
import { runChild } from '../../../daemon/child-process';
import { systemClock } from '../../../lib/clock';
import { captureLogger } from '../../helpers/log-capture';

/** The daemon's short-lived children (the sweep, the ownership marking): real processes here. */
describe('runChild', () => {
  const node = (script: string) => [process.execPath, '-e', script, '--'];

  function sink() {
    const out = new PassThrough();
    let text = '';
    out.on('data', (c: Buffer) => (text += c.toString()));
    return { out, text: () => text };
  }

  it("passes the child's lines on whole, delivers its messages, and reports its exit code", async () => {
    const { logger } = captureLogger();
    const s = sink();
    const messages: unknown[] = [];
    // Half a line, a pause, the rest: the daemon must never write a torn line.
    const script = `process.stdout.write('{"a":'); setTimeout(() => { process.stdout.write('1}\\n{"b":2}\\n'); process.send({ nextSweepAt: 'x' }, () => { process.disconnect(); process.exitCode = 3; }); }, 50);`;
    const exit = await runChild({
      command: node(script),
      args: [],
      logger,
      clock: systemClock,
      stage: 'sweep',
      stdout: s.out,
      onMessage: (m) => messages.push(m),
    });
    expect(exit.code).toBe(3);
    expect(s.text()).toBe('{"a":1}\n{"b":2}\n');
    expect(messages).toEqual([{ nextSweepAt: 'x' }]);
  });

  it('on abort the child gets SIGTERM (and SIGKILL if it ignores it)', async () => {
    const { logger } = captureLogger();
    const abort = new AbortController();
    const started = runChild({
      command: node(`process.on('SIGTERM', () => {}); console.log('up'); setInterval(() => {}, 1000);`),
      args: [],
      logger,
      clock: systemClock,
      stage: 'sweep',
      stdout: sink().out,
      signal: abort.signal,
      killAfterMs: 200,
    });
    await new Promise((r) => setTimeout(r, 300));
    abort.abort();
    const exit = await started;
    expect(exit).toMatchObject({ code: null, signal: 'SIGKILL' });
  });

  it('a child that cannot start is an error line and an exit without a code, never a throw', async () => {
    const { logger, lines } = captureLogger();
    const exit = await runChild({
      command: ['/nonexistent/teardownd'],
      args: ['sweep'],
      logger,
      clock: systemClock,
      stage: 'sweep',
      stdout: sink().out,
    });
    expect(exit).toMatchObject({ code: null, signal: null });
    expect(lines.find((l) => l.level === 'error')).toMatchObject({
      stage: 'sweep',
      command: '/nonexistent/teardownd',
    });
  });
});
