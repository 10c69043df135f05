import { readFileSync } from 'node:fs';

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

/** The report's entry for the first action named `action` (e.g. `DeleteSubnet`), if any. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function actionOf(report: { actions: Array<{ action: string }> }, action: string): any {
  return report.actions.find((a) => a.action === action);
}
