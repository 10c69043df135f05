import { Config } from '../lib/config/schema';
import { OwnershipMarker } from '../lib/sweeper/ownership';
import { sweepHostQueues } from '../lib/sweeper/queue-sweep';
import { startSweeper, sweepRegionList } from '../lib/sweeper/sweeper';
import { FirstSeenStore } from '../lib/sweeper/state';
import type { BackgroundService, RunContext } from './commands/run';
import { ClientPool } from './wiring';

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
  const regional = new ClientPool(config, { region: clients.region, ec2: clients.ec2 });
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
        ec2For: (region) => regional.ec2For(region),
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
