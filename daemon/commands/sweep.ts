import type { EC2Client } from '@aws-sdk/client-ec2';
import type { Command } from 'commander';
import { clientOptions, createAwsClients, createEc2Client, destroyAwsClients } from '../../lib/aws/clients';
import { Config, REGION_PATTERN } from '../../lib/config/schema';
import { OwnershipMarker } from '../../lib/sweeper/ownership';
import { sweepExitCode, summarizeSweep } from '../../lib/sweeper/report';
import { FirstSeenStore } from '../../lib/sweeper/state';
import { sweepHostQueues } from '../../lib/sweeper/queue-sweep';
import { startSweeper, sweepRegionList, sweepRegions, SweepMode } from '../../lib/sweeper/sweeper';
import { EXIT_LEFT_BEHIND, UsageError } from '../cli';
import { createRuntime, GlobalOptions, Runtime } from '../runtime';
import type { BackgroundService, RunContext } from './run';

interface SweepCliOptions {
  apply?: boolean;
  region?: string;
  json?: boolean;
}

function checkRegion(region: string, where: string): string {
  if (!REGION_PATTERN.test(region))
    throw new UsageError(`${where} "${region}" is not an AWS region name (e.g. us-east-1)`);
  return region;
}

/** EC2 clients by region: the runtime's own for its region, one more per other region (closed by close()). */
function regionClients(config: Config, own: { region: string; ec2: EC2Client } | undefined) {
  const made = new Map<string, EC2Client>();
  return {
    ec2For(region: string): EC2Client {
      if (own && region === own.region) return own.ec2;
      let c = made.get(region);
      if (!c) made.set(region, (c = createEc2Client(clientOptions(config, region))));
      return c;
    },
    close(): void {
      for (const c of made.values()) c.destroy();
      made.clear();
    },
  };
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
 * host keeps nothing alive (unlike the daemon's sweeper, see sweeperBackground).
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
    .action(async (opts: SweepCliOptions, cmd: Command) => {
      const globals = cmd.optsWithGlobals<GlobalOptions>();
      const runtime = createRuntime(globals, opts.json ? { logStream: process.stderr } : {});
      const { config, logger } = runtime;
      if (opts.region !== undefined) checkRegion(opts.region, '--region');
      const abort = new AbortController();
      const onSignal = (sig: NodeJS.Signals) => abort.abort(new Error(`received ${sig}`));
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      let clients: ReturnType<typeof regionClients> | undefined;
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
        clients = regionClients(config, own);
        const results = await sweepRegions(
          {
            config,
            clock: runtime.clock,
            logger,
            firstSeen: new FirstSeenStore(config.stateDir),
            pacer: runtime.pacer,
            ec2For: clients.ec2For,
          },
          { regions, mode, signal: abort.signal },
        );
        const reports = results.map((r) => r.report);
        let code: number = sweepExitCode(reports);
        // Per-host queues of gone hosts (standard topology), in the topic's region (its ARN says).
        let hostQueues: Awaited<ReturnType<typeof sweepHostQueues>> | undefined;
        const topicArn = config.sources.sqs.topicArn;
        if (topicArn) {
          const aws = createAwsClients(clientOptions(config, topicArn.split(':')[3]));
          try {
            hostQueues = await sweepHostQueues(
              { sqs: aws.sqs, sns: aws.sns, ec2: aws.ec2, config, clock: runtime.clock, logger },
              { mode, signal: abort.signal },
            );
          } finally {
            destroyAwsClients(aws);
          }
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
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        clients?.close();
        runtime.close();
      }
    });
}

/**
 * The daemon's part (`teardownd run`, through RunDeps.background):
 *  - ownership marking of this host's loxilb ENIs at start-up and whenever its network interfaces
 *    change (IMDS `network/interfaces/macs`, polled at sources.imds.pollIntervalMs; without IMDS,
 *    before each sweep); never under dry-run (it is a CreateTags);
 *  - the sweeper on sweeper.schedule with jitter, when sweeper.enabled; in sweeper.mode, or report
 *    under dry-run. This host counts as a live member of the cluster: its sweeper removes orphan
 *    ENIs of dead hosts, but never the cluster's shared subnet, route table or CIDR while it runs
 *    (the rule "no instance of the cluster is running" cannot hold on a running member).
 */
export function sweeperBackground(ctx: RunContext): BackgroundService[] {
  const { config, clients, instanceId, dryRun, logger, runtime } = ctx;
  const services: BackgroundService[] = [];
  const ec2Ctx = { ec2: clients.ec2, clock: runtime.clock, config, logger, pacer: runtime.pacer };
  const marker = dryRun
    ? undefined
    : new OwnershipMarker({
        ctx: ec2Ctx,
        instanceId,
        fingerprint: config.sources.imds.enabled
          ? (signal) => runtime.imds.get('meta-data/network/interfaces/macs', signal)
          : undefined,
        intervalMs: config.sources.imds.pollIntervalMs,
        clock: runtime.clock,
        logger,
      });
  if (marker) {
    services.push({
      name: 'ownership',
      start: (signal) => marker.start(signal),
      stop: () => marker.stopped(),
    });
  }
  if (config.sweeper.enabled) {
    // sweeper.schedule and sweeper.regions were checked when the config was loaded.
    services.push(sweeperService(ctx, config, marker));
  }
  return services;
}

function sweeperService(
  ctx: RunContext,
  config: Config,
  marker: OwnershipMarker | undefined,
): BackgroundService {
  const { clients, instanceId, dryRun, logger, runtime } = ctx;
  const regional = regionClients(config, { region: clients.region, ec2: clients.ec2 });
  let running: ReturnType<typeof startSweeper> | undefined;
  return {
    name: 'sweep',
    start: () => {
      running = startSweeper({
        config,
        clock: runtime.clock,
        logger,
        firstSeen: new FirstSeenStore(config.stateDir),
        pacer: runtime.pacer,
        ec2For: regional.ec2For,
        regions: sweepRegionList(config, clients.region),
        mode: dryRun ? 'report' : config.sweeper.mode,
        memberInstanceId: instanceId,
        sweeperInstanceId: instanceId,
        beforeSweep: marker && !config.sources.imds.enabled ? () => marker.markNow() : undefined,
        afterSweep: config.sources.sqs.topicArn
          ? async (signal) => {
              await sweepHostQueues(
                {
                  sqs: clients.sqs,
                  sns: clients.sns,
                  ec2: clients.ec2,
                  config,
                  clock: runtime.clock,
                  logger,
                },
                { mode: dryRun ? 'report' : config.sweeper.mode, selfInstanceId: instanceId, signal },
              );
            }
          : undefined,
      });
    },
    stop: async () => {
      await running?.stop();
      regional.close();
    },
  };
}
