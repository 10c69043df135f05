import type { Command } from 'commander';
import { renderReport } from '../../lib/report/render';
import { readReport, ReportSourceError } from '../../lib/report/source';
import { EXIT_OK, UsageError } from '../cli';
import { ClientPool, createRuntime, GlobalOptions } from '../wiring';

interface ReportOptions {
  json?: boolean;
  color?: boolean;
  region?: string;
}

/** Colour only for a person at a terminal: never in a pipe, a file, or with NO_COLOR set. */
function wantColor(flag: boolean | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  if (flag !== undefined) return flag;
  return Boolean(process.stdout.isTTY) && env.NO_COLOR === undefined && env.TERM !== 'dumb';
}

/**
 * `teardownd report [SOURCE]`: shows a teardown report to a person, from a file, a directory (its
 * newest report; default reports.dir) or the s3:// URL shipping put it at. Exit 2 when the source
 * cannot be read or is not a report.
 */
export function registerReport(program: Command): void {
  program
    .command('report')
    .description(
      'show a teardown report: FILE, DIR (its newest report; default reports.dir) or s3://BUCKET/KEY',
    )
    .argument('[source]', 'report file, report directory, or s3://bucket/key')
    .option('--json', 'print the raw report JSON instead of the text view')
    .option('--color', 'colour the text view even when stdout is not a terminal')
    .option('--no-color', 'never colour the text view')
    .option('--region <region>', 'AWS region of the S3 bucket (default: cloud.region, AWS_REGION, then IMDS)')
    .action(async (source: string | undefined, opts: ReportOptions, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      const runtime = createRuntime({ config: globals.config, logLevel: globals.logLevel });
      const other = new ClientPool(runtime.config);
      const location = source ?? runtime.config.reports.dir;
      try {
        const { report, raw } = await readReport(location, {
          call: { clock: runtime.clock, config: runtime.config, logger: runtime.logger },
          s3: async () => {
            if (opts.region) return other.clients(opts.region).s3;
            try {
              return (await runtime.aws()).s3;
            } catch (err) {
              throw new ReportSourceError(
                `${location}: cannot tell the AWS region (${(err as Error).message}); pass --region or set AWS_REGION`,
                location,
              );
            }
          },
        });
        process.stdout.write(
          opts.json
            ? JSON.stringify(raw, null, 2) + '\n'
            : renderReport(report, { color: wantColor(opts.color) }),
        );
        process.exitCode = EXIT_OK;
      } catch (err) {
        if (err instanceof ReportSourceError) throw new UsageError(err.message);
        throw err;
      } finally {
        other.close();
        runtime.close();
      }
    });
}
