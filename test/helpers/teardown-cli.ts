import { readFileSync } from 'node:fs';

/** `teardownd teardown` arguments for one instance and scope (the shape every CLI e2e test uses). */
export function teardownArgs(configPath: string, instanceId: string, scope: string): string[] {
  return ['-c', configPath, 'teardown', '--instance-id', instanceId, '--scope', scope];
}

/** The JSON report a CLI run wrote, found through its `report: <path>` line. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function reportOf(stdout: string): any {
  const m = /^report: (.+)$/m.exec(stdout);
  if (!m) throw new Error(`no "report:" line in the CLI output:\n${stdout.slice(-2000)}`);
  return JSON.parse(readFileSync(m[1], 'utf8'));
}
