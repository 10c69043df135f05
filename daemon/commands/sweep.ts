import type { EC2Client } from '@aws-sdk/client-ec2';
import { Command, Option } from 'commander';
import { REGION_PATTERN } from '../../lib/config/schema';
import { errorCodeOf } from '../../lib/aws/errors';
import { markOwnedResources } from '../../lib/sweeper/ownership';
import { sweepExitCode, summarizeSweep } from '../../lib/sweeper/report';
import { nextCronRun } from '../../lib/sweeper/scheduler';
import { FirstSeenStore } from '../../lib/sweeper/state';
import { sweepHostQueues } from '../../lib/sweeper/queue-sweep';
import { sweepRegionList, sweepRegions, SweepMode } from '../../lib/sweeper/sweeper';
import { EXIT_LEFT_BEHIND, UsageError } from '../cli';
import { checkInstanceId, ClientPool, createRuntime, GlobalOptions, Runtime, stopOnSignals } from '../wiring';

interface SweepCliOptions {
  apply?: boolean;
  region?: string;
  json?: boolean;
  forMember?: string;
  mark?: boolean;
  markOnly?: boolean;
  nextSweep?: boolean;
  dryRun?: boolean;
}

function checkRegion(region: string, where: string): string {
  if (!REGION_PATTERN.test(region))
    throw new UsageError(`${where} "${region}" is not an AWS region name (e.g. us-east-1)`);
  return region;
}

async function ownRegionClients(runtime: Runtime): Promise<{ region: string; ec2: EC2Client }> {
  try {
    const c = await runtime.aws();
    return { region: c.region, ec2: c.ec2 };
  } catch (err) {
    throw new UsageError(
      `cannot tell the AWS region (${(err as Error).message}); set sweeper.regions, cloud.region or AWS_REGION, or pass --region`,
    );
  }
}

/**
 * `teardownd sweep [--apply] [--region R] [--json]`: one sweep by hand for loxilb resources whose
 * owner is gone (lib/sweeper/sweeper.ts), in --region, else sweeper.regions, else this host's region. Report
 * mode (the default, and always under dryRun) makes zero mutating calls. One report per region in
 * reports.dir. Exit 0 when nothing orphaned is left, 1 when orphans remain (report mode) or could not
 * be removed (or a sweep failed), 2 on bad input. The hand-run sweep is not a cluster member: its
 * host keeps nothing alive (unlike the daemon's sweeper, see daemon/sweeper-service.ts).
 */
export function registerSweep(program: Command): void {
  program
    .command('sweep')
    .description(
      'sweep once for loxilb resources whose owner is gone: report them, or remove them with --apply',
    )
    .option('--apply', 'remove the orphans (default: report only, zero mutating calls)')
    .option('--region <region>', "sweep this region only (default: sweeper.regions, else this host's region)")
    .option('--json', 'print the sweep reports as one JSON document on stdout (logs go to stderr)')
    // How `teardownd run` sweeps and marks its own ENIs: in a short-lived child (daemon/sweeper-service.ts).
    .addOption(
      new Option('--for-member <instance-id>', "the daemon's sweep: as this live cluster member").hideHelp(),
    )
    .addOption(new Option('--mark', "with --for-member: mark the member's loxilb ENIs first").hideHelp())
    .addOption(
      new Option('--mark-only', "with --for-member: mark the member's loxilb ENIs, no sweep").hideHelp(),
    )
    .addOption(
      new Option(
        '--next-sweep',
        'with --for-member: only tell the daemon when the next sweep is due',
      ).hideHelp(),
    )
    .addOption(new Option('--dry-run', 'with --for-member: the daemon runs with --dry-run').hideHelp())
    .action(async (opts: SweepCliOptions, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      if (opts.forMember !== undefined) {
        const runtime = createRuntime(globals);
        process.exitCode = opts.nextSweep ? 0 : await memberSweep(runtime, opts.forMember, opts);
        if (!opts.markOnly) await tellNextSweep(runtime);
        return;
      }
      const runtime = createRuntime(globals, opts.json ? { logStream: process.stderr } : {});
      const { config, logger } = runtime;
      if (opts.region !== undefined) checkRegion(opts.region, '--region');
      const stop = stopOnSignals();
      let clients: ClientPool | undefined;
      try {
        const needOwn = opts.region === undefined && config.sweeper.regions.length === 0;
        const own = needOwn ? await ownRegionClients(runtime) : undefined;
        const regions = opts.region ? [opts.region] : sweepRegionList(config, own?.region ?? '');
        let mode: SweepMode = opts.apply ? 'apply' : 'report';
        if (mode === 'apply' && config.dryRun) {
          logger.warn('dryRun is set in the config: sweeping in report mode, nothing is removed', {
            stage: 'sweep',
          });
          mode = 'report';
        }
        clients = new ClientPool(config, own);
        const results = await sweepRegions(
          {
            config,
            clock: runtime.clock,
            logger,
            firstSeen: new FirstSeenStore(config.stateDir),
            pacer: runtime.pacer,
            ec2For: (region) => clients!.ec2For(region),
          },
          { regions, mode, signal: stop.signal },
        );
        const reports = results.map((r) => r.report);
        let code: number = sweepExitCode(reports);
        // Per-host queues of gone hosts (standard topology), in the topic's region (its ARN says).
        let hostQueues: Awaited<ReturnType<typeof sweepHostQueues>> | undefined;
        const topicArn = config.sources.sqs.topicArn;
        if (topicArn) {
          const aws = clients.clients(topicArn.split(':')[3]);
          hostQueues = await sweepHostQueues(
            { sqs: aws.sqs, sns: aws.sns, ec2: aws.ec2, config, clock: runtime.clock, logger },
            { mode, signal: stop.signal },
          );
          const q = hostQueues;
          if (q.errors.length || (mode === 'report' && q.orphans.length)) code = EXIT_LEFT_BEHIND;
          if (!opts.json) {
            process.stdout.write(
              `per-host queues of gone instances: ${q.orphans.length} (${mode === 'apply' ? `${q.orphans.filter((o) => o.removed).length} removed` : 'report only'}), ${q.kept.length} kept, ${q.errors.length} error(s)\n`,
            );
          }
        }
        if (results.some((r) => r.writeError)) code = EXIT_LEFT_BEHIND;
        if (opts.json) {
          const doc = { exitCode: code, files: results.map((r) => r.path ?? null), reports, hostQueues };
          process.stdout.write(JSON.stringify(doc, null, 2) + '\n');
        } else {
          for (const r of results) {
            process.stdout.write(summarizeSweep(r.report) + '\n');
            if (r.path) process.stdout.write(`report: ${r.path}\n`);
          }
        }
        for (const r of results) if (r.writeError) process.stderr.write(`teardownd: ${r.writeError}\n`);
        process.exitCode = code;
      } finally {
        stop.dispose();
        clients?.close();
        runtime.close();
      }
    });
}

/**
 * The daemon's sweep, run as a child of `teardownd run` (daemon/sweeper-service.ts): mark this
 * member's loxilb ENIs (with --mark / --mark-only; never under dry-run), sweep as a live member of
 * the cluster (its shared subnet, route table and CIDR are never removed), then the per-host queues of
 * gone hosts. Log lines only (the daemon passes them on); the reports go to reports.dir. Exit 0 clean,
 * 1 orphans found, left behind or a marking failed.
 */
async function memberSweep(runtime: Runtime, member: string, opts: SweepCliOptions): Promise<number> {
  const { config, logger, clock, pacer } = runtime;
  const instanceId = checkInstanceId(member, '--for-member');
  const dryRun = Boolean(opts.dryRun) || config.dryRun;
  const mode: SweepMode = dryRun ? 'report' : config.sweeper.mode;
  const stop = stopOnSignals();
  let pool: ClientPool | undefined;
  try {
    const clients = await runtime.aws();
    let code = 0;
    if (!dryRun && (opts.mark || opts.markOnly)) {
      try {
        await markOwnedResources(
          { ec2: clients.ec2, clock, config, logger, pacer, signal: stop.signal },
          instanceId,
        );
      } catch (err) {
        if (stop.signal.aborted) return 1;
        logger.warn('ownership marking failed (the daemon retries it)', {
          instanceId,
          stage: 'ownership',
          errorCode: errorCodeOf((err as Error).cause ?? err),
          error: (err as Error).message,
        });
        code = 1;
      }
    }
    if (opts.markOnly) return code;
    pool = new ClientPool(config, { region: clients.region, ec2: clients.ec2 });
    const results = await sweepRegions(
      {
        config,
        clock,
        logger,
        firstSeen: new FirstSeenStore(config.stateDir),
        pacer,
        ec2For: (region) => pool!.ec2For(region),
      },
      {
        regions: sweepRegionList(config, clients.region),
        mode,
        memberInstanceId: instanceId,
        sweeperInstanceId: instanceId,
        signal: stop.signal,
      },
    );
    for (const r of results) {
      logger.debug(summarizeSweep(r.report), { stage: 'sweep', region: r.report.region, path: r.path });
    }
    if (config.sources.sqs.topicArn && !stop.signal.aborted) {
      const q = await sweepHostQueues(
        { sqs: clients.sqs, sns: clients.sns, ec2: clients.ec2, config, clock, logger },
        { mode, selfInstanceId: instanceId, signal: stop.signal },
      );
      if (q.errors.length || (mode === 'report' && q.orphans.length)) code = EXIT_LEFT_BEHIND;
    }
    if (sweepExitCode(results.map((r) => r.report)) || results.some((r) => r.writeError))
      code = EXIT_LEFT_BEHIND;
    return code;
  } finally {
    stop.dispose();
    pool?.close();
    runtime.close();
  }
}

/**
 * Tells the daemon that started this child (over its IPC channel) when the next sweep is due: node-cron
 * runs here, so the daemon at rest never holds the ICU data it reads the local time with.
 */
async function tellNextSweep(runtime: Runtime): Promise<void> {
  if (!process.send) return;
  const nextSweepAt = nextCronRun(runtime.config.sweeper.schedule).toISOString();
  await new Promise<void>((resolve) => process.send!({ nextSweepAt }, undefined, {}, () => resolve()));
  process.disconnect();
}
