import { existsSync } from 'node:fs';
import { runCli, TempWorkspace } from '../helpers/daemon-process';

/**
 * Bad input to `teardownd plan` / `teardownd teardown` is refused with exit code 2 and a message that
 * names what is wrong — before anything is discovered, let alone deleted. No AWS endpoint is given to
 * the child, so any AWS call would fail loudly instead of passing silently.
 */
describe('teardownd plan/teardown: bad input', () => {
  let ws: TempWorkspace;
  beforeEach(() => {
    ws = new TempWorkspace();
  });
  afterEach(() => ws.cleanup());

  it('a bad --scope names the allowed values', async () => {
    const config = ws.writeConfig({});
    for (const verb of ['plan', 'teardown']) {
      const res = await runCli(
        ['-c', config, verb, '--instance-id', 'i-0123456789abcdef0', '--scope', 'everything'],
        {},
      );
      expect(res.code).toBe(2);
      expect(res.stderr).toContain('--scope: must be one of "full", "handover", "none" (got "everything")');
    }
  });

  it('a malformed instance id is refused', async () => {
    const config = ws.writeConfig({});
    const res = await runCli(['-c', config, 'teardown', '--instance-id', 'i-12345'], {});
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/--instance-id "i-12345" is not an EC2 instance id/);
    expect(existsSync(ws.path('reports'))).toBe(false);
  });

  it('a malformed config is rejected with every bad field named', async () => {
    const config = ws.writeConfig({
      gate: { mode: 'loxilb-api', static: { master: 'yes' } },
      executor: { concurrency: 0 },
      cloud: { cidrBlock: '123.123.123.0' },
    });
    const res = await runCli(['-c', config, 'teardown', '--instance-id', 'i-0123456789abcdef0'], {});
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/gate\.static\.master: /);
    expect(res.stderr).toMatch(/executor\.concurrency: /);
    expect(res.stderr).toMatch(/cloud\.cidrBlock: must be an IPv4 CIDR/);
    expect(existsSync(ws.path('reports'))).toBe(false);
  });

  it('gate.mode override without a scope is rejected', async () => {
    const config = ws.writeConfig({ gate: { mode: 'override' } });
    const res = await runCli(['-c', config, 'plan', '--instance-id', 'i-0123456789abcdef0'], {});
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/gate\.override: required when gate\.mode is "override"/);
  });
});
