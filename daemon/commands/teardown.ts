import type { Command } from 'commander';
import { openCliEpisode } from '../../lib/episode/cli-episode';
import { runTeardown } from '../../lib/episode/engine';
import { TerminationNotice } from '../../lib/notice';
import { reportExitCode, summarizeReport, writeReport } from '../../lib/report/report';
import { openStateDir } from '../../lib/episode/state-dir';
import { EXIT_LEFT_BEHIND } from '../cli';
import { createRuntime, GlobalOptions, resolveInstanceId, stopOnSignals } from '../wiring';
import { readBootId } from './run';
import { awsClients, cliEngineDeps, newCliEpisode, parseScopeFlag, targetedCommand } from './teardown-common';

interface TeardownOptions {
  instanceId?: string;
  scope?: string;
  dryRun?: boolean;
}

/**
 * `teardownd teardown`: runs the teardown for this instance now (a manual trigger), writes the report
 * to reports.dir and prints a summary and its path. Exit 0 done, 1 something left behind, 2 bad input.
 * SIGINT/SIGTERM abort the run; what was not done is reported. While a `teardownd run` holds the
 * state dir, this refuses with exit 2 naming its pid (lib/episode/state-dir.ts). The run is journaled under
 * `<stateDir>/cli/` (lib/episode/cli-episode.ts), inside that lock: an interrupted run is finished by the next.
 */
export function registerTeardown(program: Command): void {
  targetedCommand(
    program,
    'teardown',
    "tear down this instance's loxilb resources now and write the report",
    'tear down for',
  )
    .option('--dry-run', 'plan and report only: zero mutating calls')
    .action(async (opts: TeardownOptions, cmd: Command) => {
      const scope = parseScopeFlag(opts.scope);
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      const runtime = createRuntime(globals);
      // A `teardownd run` on this host owns its teardowns: refuse (exit 2, naming its pid) rather
      // than race it. An unwritable state dir does not stop a manual teardown.
      const stateDir = await openStateDir(runtime.config.stateDir, {
        logger: runtime.logger,
        holder: 'teardown',
      }).catch((err: unknown) => {
        runtime.close();
        throw err;
      });
      const abort = stopOnSignals();
      try {
        const instanceId = await resolveInstanceId(runtime, opts.instanceId);
        const clients = await awsClients(runtime);
        const now = runtime.clock.now();
        const trigger: TerminationNotice = {
          instanceId,
          kind: 'manual',
          deadline: null,
          source: 'cli',
          receivedAt: new Date(now).toISOString(),
        };
        const dryRun = Boolean(opts.dryRun) || runtime.config.dryRun;
        // Inside the state-dir lock taken above; in memory mode nothing is journaled.
        const journal = await openCliEpisode({
          stateDir: runtime.config.stateDir,
          persist: stateDir.mode === 'disk',
          instanceId,
          bootId: readBootId(),
          notice: trigger,
          dryRun,
          newEpisode: () => newCliEpisode(new Date(now)),
          logger: runtime.logger,
          now: () => new Date(runtime.clock.now()).toISOString(),
        });
        const report = await runTeardown(cliEngineDeps(runtime, clients.ec2, clients.autoScaling), {
          instanceId,
          episode: journal.episode,
          trigger,
          scopeOverride: scope,
          remembered: journal.remembered,
          dryRun: Boolean(opts.dryRun),
          signal: abort.signal,
          onEvent: (e) => journal.onEvent(e),
        });
        process.stdout.write(summarizeReport(report) + '\n');
        let code: number = reportExitCode(report);
        try {
          const path = await writeReport(runtime.config.reports.dir, report);
          process.stdout.write(`report: ${path}\n`);
          // An aborted run (SIGINT/SIGTERM) stays open: the next run finishes it.
          if (!abort.signal.aborted)
            await journal.close({ path, outcome: report.outcome, exitCode: reportExitCode(report) });
        } catch (err) {
          process.stderr.write(
            `teardownd: could not write the report to ${runtime.config.reports.dir}: ${(err as Error).message}\n`,
          );
          code = EXIT_LEFT_BEHIND;
        }
        process.exitCode = code;
      } finally {
        abort.dispose();
        runtime.close();
        await stateDir.release();
      }
    });
}
