import { errorCodeOf } from '../aws/errors';
import { CheckResult, CheckDeps, messageOf } from './common';
import { checkLoxilbFlags, checkStateDirs, checkLoxilbApi } from './host';
import { discover, checkMutatingEc2 } from './ec2';
import { checkHaCluster, checkAutoScaling } from './autoscaling';
import { checkQueue, checkTopic } from './queue';

/**
 * `teardownd check`: verifies the host's set-up without changing anything. Every check becomes one
 * line an operator can act on (`OK|WARN|FAIL <what> — <fix>`). Side effects (IMDS, AWS clients,
 * HTTP, filesystem) are passed in.
 *
 * Mutating EC2 permissions are verified with DryRun=true against the real loxilb resources this
 * host can see: AWS answers DryRunOperation when the call would be allowed and
 * UnauthorizedOperation when it would not, evaluating the same tag conditions a real call would.
 *
 * This file runs the groups in order; each group is one file: ./host.ts (loxilb flags, state dirs,
 * loxilb API), ./ec2.ts (discovery and DryRun permissions), ./autoscaling.ts (HA cluster, lifecycle
 * hook), ./queue.ts (shared queue or topic); ./common.ts holds the result line and IAM statement names.
 */

export async function runChecks(deps: CheckDeps): Promise<CheckResult[]> {
  const { config } = deps;
  const results: CheckResult[] = [];
  const add = (r: CheckResult) => results.push(r);

  add(
    deps.configFile.found
      ? { status: 'OK', check: 'config', what: `config ${deps.configFile.path} parses` }
      : {
          status: 'WARN',
          check: 'config',
          what: `no config at ${deps.configFile.path}; running on built-in defaults`,
          fix: 'install one (scripts/install.sh writes the default) or pass --config',
        },
  );

  // IMDS: IMDSv2 only here, whatever the config says, so a silent v1 fallback cannot hide a problem.
  let instanceId = deps.instanceId;
  try {
    const fromImds = await deps.imds.require('meta-data/instance-id');
    instanceId ??= fromImds;
    add({
      status: 'OK',
      check: 'imds',
      what: `IMDSv2 at ${deps.imds.endpoint}: token and metadata read work (instance ${fromImds})`,
    });
  } catch (err) {
    const code = errorCodeOf(err);
    const status = (err as { status?: number }).status;
    const tokenRefused = status === 403 || status === 405 || /token/i.test(messageOf(err));
    add({
      status: config.sources.imds.enabled || !instanceId ? 'FAIL' : 'WARN',
      check: 'imds',
      what: `IMDS at ${deps.imds.endpoint}: ${messageOf(err)}`,
      fix: tokenRefused
        ? 'IMDSv2 tokens are refused: enable the metadata service with HttpTokens=required (or optional); in a container raise HttpPutResponseHopLimit to 2'
        : 'IMDS unreachable: run on an EC2 instance with HttpEndpoint=enabled, and in a container raise HttpPutResponseHopLimit to 2 (or set sources.imds.endpoint)',
      errorCode: code,
    });
  }
  if (config.sources.imds.allowV1Fallback) {
    add({
      status: 'WARN',
      check: 'imds-v1',
      what: 'sources.imds.allowV1Fallback is true: the daemon may fall back to IMDSv1',
      fix: 'set sources.imds.allowV1Fallback to false and require IMDSv2 on the instance (HttpTokens=required)',
    });
  }

  // Region.
  let region = config.cloud.region;
  let regionFrom = 'config cloud.region';
  if (!region && (deps.env.AWS_REGION || deps.env.AWS_DEFAULT_REGION)) {
    region = deps.env.AWS_REGION || deps.env.AWS_DEFAULT_REGION;
    regionFrom = 'environment';
  }
  if (!region) {
    try {
      region = await deps.imds.require('meta-data/placement/region');
      regionFrom = 'IMDS placement/region';
    } catch {
      /* reported below */
    }
  }
  if (!region) {
    add({
      status: 'FAIL',
      check: 'region',
      what: 'no AWS region: not in config, environment or IMDS',
      fix: 'set cloud.region in the config or AWS_REGION in /etc/default/teardownd',
    });
  } else {
    add({ status: 'OK', check: 'region', what: `region ${region} (from ${regionFrom})` });
  }

  add(await checkStateDirs(deps));
  checkLoxilbFlags(deps).forEach(add);
  add(await checkLoxilbApi(deps));

  if (!region) {
    add({
      status: 'FAIL',
      check: 'aws',
      what: 'AWS checks skipped: no region',
      fix: 'fix the region first',
    });
    return results;
  }

  const clients = deps.createClients(region);
  const discovery = await discover(deps, clients, instanceId, add);
  await checkMutatingEc2(deps, clients, discovery, add);
  await checkAutoScaling(deps, clients, discovery.instanceId, add);
  const cluster = await checkHaCluster(deps, clients, discovery.instanceId);
  if (cluster) add(cluster);
  add(
    deps.config.sources.sqs.topicArn
      ? await checkTopic(deps, clients, discovery.instanceId)
      : await checkQueue(deps, clients),
  );
  return results;
}
