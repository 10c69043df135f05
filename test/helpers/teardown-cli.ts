import { readFileSync } from 'node:fs';

/** `teardownd teardown` arguments for one instance and scope (the shape every CLI e2e test uses). */
export function teardownArgs(configPath: string, instanceId: string, scope: string): string[] {
  return ['-c', configPath, 'teardown', '--instance-id', instanceId, '--scope', scope];
}

/** The path in a CLI run's `report: <path>` line (teardown, sweep). */
export function reportPathOf(stdout: string): string {
  const m = /^report: (.+)$/m.exec(stdout);
  if (!m) throw new Error(`no "report:" line in the CLI output:\n${stdout.slice(-2000)}`);
  return m[1];
}

/** The JSON report a CLI run wrote, found through its `report: <path>` line. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function reportOf(stdout: string): any {
  return JSON.parse(readFileSync(reportPathOf(stdout), 'utf8'));
}
