import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { access, constants, stat } from 'node:fs/promises';
import { runChecks } from '../../lib/check/check';
import { CheckResult, checkExitCode, formatCheckLine } from '../../lib/check/common';
import { ConfigError, DEFAULT_CONFIG_PATH } from '../../lib/config/load';
import { loadConfigWithLoxilbFlags, LoxilbFlags } from '../../lib/gate/loxilb-flags';
import { Config } from '../../lib/config/schema';
import { EXIT_BAD_INPUT } from '../cli';
import { checkWiring } from '../wiring';

interface CheckOptions {
  json?: boolean;
  logLevel?: string;
  instanceId?: string;
  config?: string;
}

function print(results: CheckResult[], exitCode: number, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify({ ok: exitCode === 0, exitCode, checks: results }, null, 2)}\n`);
  } else {
    process.stdout.write(`${results.map(formatCheckLine).join('\n')}\n`);
  }
}

async function httpGet(url: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, body: await res.text() };
}

/** `teardownd check`: verifies the set-up without changing anything. Exit 0 OK/WARN, 1 FAIL, 2 bad config. */
export function registerCheck(program: Command): void {
  program
    .command('check')
    .description(
      'verify config, IMDS, region, SQS queue, loxilb API and IAM permissions (DryRun) without changing anything',
    )
    .option('--json', 'print the results as one JSON document')
    .option('--instance-id <id>', 'instance to check (default: IMDS instance-id)')
    .action(async (_opts: CheckOptions, cmd: Command) => {
      const opts = cmd.optsWithGlobals<CheckOptions>();
      const path = opts.config ?? DEFAULT_CONFIG_PATH;
      let config: Config;
      let loxilb: LoxilbFlags | undefined;
      try {
        ({ config, loxilb } = loadConfigWithLoxilbFlags({
          path: opts.config,
          overrides: { logLevel: opts.logLevel },
        }));
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        const results: CheckResult[] = err.problems.map((problem) => ({
          status: 'FAIL',
          check: 'config',
          what: `config ${path}: ${problem}`,
          fix: 'fix the named field (scripts/config.example.md explains every key)',
        }));
        print(results, EXIT_BAD_INPUT, Boolean(opts.json));
        process.exitCode = EXIT_BAD_INPUT;
        return;
      }

      const { imds, env, clock, logger, pacer, clients } = checkWiring(config);
      try {
        const results = await runChecks({
          config,
          configFile: { path, found: opts.config !== undefined || existsSync(path) },
          imds,
          env,
          createClients: (region) => clients.clients(region),
          httpGet,
          checkWritable: async (dir) => {
            if (!(await stat(dir)).isDirectory())
              throw Object.assign(new Error(`${dir} is not a directory`), { code: 'ENOTDIR' });
            await access(dir, constants.W_OK);
          },
          instanceId: opts.instanceId,
          loxilb,
          clock,
          logger,
          pacer,
        });
        const code = checkExitCode(results);
        print(results, code, Boolean(opts.json));
        process.exitCode = code;
      } finally {
        clients.close();
      }
    });
}
