import { Command, CommanderError } from 'commander';
import { ConfigError } from '../lib/config/load';
import { StateDirError } from '../lib/episode/state-dir';
import { version } from '../package.json';
import { commandModules } from './commands';

/** Exit codes: 0 done, 1 something left behind (or failed), 2 bad input. */
export const EXIT_OK = 0;
export const EXIT_LEFT_BEHIND = 1;
export const EXIT_BAD_INPUT = 2;

/** Thrown by a command for bad input (unknown flag value, malformed id); exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function buildProgram(): Command {
  const program = new Command('teardownd')
    .description('Tears down the AWS resources loxilb created on this host before the host terminates')
    .option(
      '-c, --config <path>',
      'config file (default /etc/teardownd/config.json; missing default = all defaults)',
    )
    .option('--log-level <level>', 'error | warn | info | debug (overrides log.level)')
    .version(version, '-V, --version', 'print the version and exit')
    .exitOverride()
    .showHelpAfterError();
  for (const register of commandModules) register(program);
  return program;
}

export async function runCli(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT_OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0)
        return EXIT_OK;
      return EXIT_BAD_INPUT;
    }
    if (err instanceof ConfigError || err instanceof UsageError || err instanceof StateDirError) {
      process.stderr.write(`teardownd: ${err.message}\n`);
      return EXIT_BAD_INPUT;
    }
    process.stderr.write(`teardownd: ${(err as Error).stack ?? String(err)}\n`);
    return EXIT_LEFT_BEHIND;
  }
}
