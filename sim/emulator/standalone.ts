/**
 * `npm run emulator` — the AWS emulator as a standalone process on 127.0.0.1, seeded with one
 * loxilb cluster, for running the daemon by hand or from scripts.
 *
 *   node dist/sim/emulator/standalone.js [--port N] [--detach-delay-ms N] [--latency-ms N] [--no-seed]
 */
import { seedLoxilbCluster } from '../loxilb/footprint';
import { AwsEmulator } from './server';

interface StandaloneArgs {
  port: number;
  detachDelayMs: number;
  latencyMs: number;
  seed: boolean;
}

const USAGE = 'usage: standalone [--port N] [--detach-delay-ms N] [--latency-ms N] [--no-seed]';

export function parseArgs(argv: string[]): StandaloneArgs {
  const args: StandaloneArgs = { port: 0, detachDelayMs: 100, latencyMs: 0, seed: true };
  const number = (flag: string, value: string | undefined): number => {
    const n = Number(value);
    if (value === undefined || !/^\d+$/.test(value) || !Number.isSafeInteger(n))
      throw new Error(`${flag} needs a non-negative integer, got ${value ?? 'nothing'}\n${USAGE}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    switch (flag) {
      case '--port':
        args.port = number(flag, argv[++i]);
        if (args.port > 65535) throw new Error(`--port must be at most 65535\n${USAGE}`);
        break;
      case '--detach-delay-ms':
        args.detachDelayMs = number(flag, argv[++i]);
        break;
      case '--latency-ms':
        args.latencyMs = number(flag, argv[++i]);
        break;
      case '--no-seed':
        args.seed = false;
        break;
      case '--help':
      case '-h':
        throw new Error(USAGE);
      default:
        throw new Error(`unknown argument ${flag}\n${USAGE}`);
    }
  }
  return args;
}

async function main(): Promise<void> {
  let args: StandaloneArgs;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exitCode = 2;
    return;
  }
  const emulator = await AwsEmulator.start({
    port: args.port,
    ec2: { detachDelayMs: args.detachDelayMs, cidrDisassociateDelayMs: args.detachDelayMs },
  });
  emulator.faults.baseLatencyMs = args.latencyMs;
  const out: string[] = [`AWS emulator listening on ${emulator.url}`, ''];
  if (args.seed) {
    const ids = seedLoxilbCluster(emulator);
    out.push(
      'Seeded one loxilb cluster:',
      `  VPC ${ids.vpcId} (${ids.vpcCidr}), cloud CIDR ${ids.cloudCidr} (${ids.cidrAssociationId})`,
      `  master ${ids.masterInstanceId}, peer ${ids.peerInstanceId ?? '-'}`,
      `  loxilb subnet ${ids.subnetId}, route table ${ids.routeTableId}`,
      ...ids.enis.map(
        (e) =>
          `  ENI ${e.eniId} (${e.attachmentId}) VIPs ${e.vips.join(', ')} EIPs ${e.publicIps.join(', ')}`,
      ),
      '',
    );
  }
  // The group topic of the standard topology: set sources.sqs.topicArn to it; each daemon makes its queue.
  const topicArn = emulator.sns.createTopic('teardownd');
  out.push(
    `SNS topic for sources.sqs.topicArn: ${topicArn}`,
    '',
    'Export these to point the daemon (or the AWS CLI) at it:',
    ...Object.entries(emulator.env()).map(([k, v]) => `  export ${k}=${v}`),
    '',
    'Control API:',
    `  GET  ${emulator.url}/_emulator/state         resource state (JSON)`,
    `  GET  ${emulator.url}/_emulator/calls         every call received`,
    `  POST ${emulator.url}/_emulator/imds          configure IMDS (JSON body)`,
    `  POST ${emulator.url}/_emulator/faults        add a fault rule (JSON body)`,
    `  POST ${emulator.url}/_emulator/faults/clear  remove all fault rules`,
    '',
    'Ctrl-C stops it.',
  );
  process.stdout.write(`${out.join('\n')}\n`);
  const stop = (): void => {
    void emulator.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (require.main === module) void main();
