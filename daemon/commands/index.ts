import type { Command } from 'commander';
import { registerCheck } from './check';
import { registerPlan } from './plan';
import { registerReport } from './report';
import { registerRun } from './run';
import { registerSweep } from './sweep';
import { registerTeardown } from './teardown';

/**
 * Each CLI verb lives in its own module under daemon/commands/ and registers itself here.
 * A command sets `process.exitCode` (0 done, 1 left behind, 2 bad input) rather than exiting.
 */
export type RegisterCommand = (program: Command) => void;

export const commandModules: RegisterCommand[] = [
  (program) => registerRun(program),
  registerCheck,
  registerPlan,
  registerReport,
  registerTeardown,
  registerSweep,
];
