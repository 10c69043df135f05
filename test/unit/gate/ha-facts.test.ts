import {
  AutoScalingClient,
  DescribeAutoScalingGroupsCommand,
  DescribeAutoScalingInstancesCommand,
} from '@aws-sdk/client-auto-scaling';
import {
  DescribeInstancesCommand,
  DescribeSpotInstanceRequestsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { systemClock } from '../../../lib/clock';
import { parseConfig } from '../../../lib/config/load';
import { ConfigInput } from '../../../lib/config/schema';
import { gatherPeerFacts, HaFactsDeps } from '../../../lib/gate/ha-facts';
import { nullLogger } from '../../../lib/log';

/**
 * AWS's view of the peers, against mocked EC2 / Auto Scaling clients: which calls are made with which
 * filters, and what the gate gets back. Real EC2 wire shapes (SDK output types).
 */
const ec2 = mockClient(EC2Client);
const asg = mockClient(AutoScalingClient);
const ME = 'i-0aaaaaaaaaaaaaaa1';
const PEER = 'i-0bbbbbbbbbbbbbbb2';

function deps(config: ConfigInput = {}): HaFactsDeps {
  return {
    ec2: {
      ec2: new EC2Client({ region: 'us-east-1' }),
      clock: systemClock,
      config: parseConfig({ executor: { maxAttempts: 2, retryBaseDelayMs: 1 }, ...config }),
      logger: nullLogger(),
    },
    autoScaling: new AutoScalingClient({ region: 'us-east-1' }),
  };
}

const instance = (id: string, ip: string, state: string, spot?: string) => ({
  InstanceId: id,
  PrivateIpAddress: ip,
  State: { Name: state as 'running' },
  ...(spot ? { SpotInstanceRequestId: spot, InstanceLifecycle: 'spot' as const } : {}),
  NetworkInterfaces: [{ PrivateIpAddresses: [{ PrivateIpAddress: ip, Primary: true }] }],
});

beforeEach(() => {
  ec2.reset();
  asg.reset();
  ec2.on(DescribeSpotInstanceRequestsCommand).resolves({ SpotInstanceRequests: [] });
});

describe('peer facts by BFD peer IP', () => {
  it('maps each IP to its instance with state, ASG lifecycle state and spot status', async () => {
    ec2.on(DescribeInstancesCommand).resolves({
      Reservations: [{ Instances: [instance(PEER, '10.0.2.11', 'running', 'sir-1')] }],
    });
    asg.on(DescribeAutoScalingInstancesCommand).resolves({
      AutoScalingInstances: [
        {
          InstanceId: PEER,
          AutoScalingGroupName: 'lb',
          LifecycleState: 'InService',
          AvailabilityZone: 'us-east-1b',
          HealthStatus: 'HEALTHY',
          ProtectedFromScaleIn: false,
        },
      ],
    });
    ec2.on(DescribeSpotInstanceRequestsCommand).resolves({
      SpotInstanceRequests: [
        { SpotInstanceRequestId: 'sir-1', InstanceId: PEER, Status: { Code: 'marked-for-termination' } },
      ],
    });
    const view = await gatherPeerFacts(deps(), ME, { peerIps: ['10.0.2.11', '10.0.9.9'] });
    expect(view).toEqual({
      byIp: {
        '10.0.2.11': {
          instanceId: PEER,
          privateIp: '10.0.2.11',
          instanceState: 'running',
          asgLifecycleState: 'InService',
          spotStatusCode: 'marked-for-termination',
        },
        '10.0.9.9': null,
      },
    });
    const filters = ec2.commandCalls(DescribeInstancesCommand)[0].args[0].input.Filters;
    expect(filters).toEqual([
      { Name: 'private-ip-address', Values: ['10.0.2.11', '10.0.9.9'] },
      { Name: 'instance-state-name', Values: ['pending', 'running', 'shutting-down', 'stopping', 'stopped'] },
    ]);
    expect(ec2.commandCalls(DescribeSpotInstanceRequestsCommand)[0].args[0].input.Filters).toEqual([
      { Name: 'instance-id', Values: [PEER] },
    ]);
  });

  it('a failing call comes back as an error for the gate, never a throw', async () => {
    ec2
      .on(DescribeInstancesCommand)
      .rejects(
        Object.assign(new Error('You are not authorized'), { name: 'UnauthorizedOperation', $metadata: {} }),
      );
    const view = await gatherPeerFacts(deps(), ME, { peerIps: ['10.0.2.11'] });
    expect(view.byIp).toBeUndefined();
    expect(view.error).toMatch(/UnauthorizedOperation/);
    expect(view.errorCode).toBe('UnauthorizedOperation');
  });
});

describe('cluster members (BFD off)', () => {
  it('the Auto Scaling group: every other member with its lifecycle state', async () => {
    asg.on(DescribeAutoScalingInstancesCommand, { InstanceIds: [ME] }).resolves({
      AutoScalingInstances: [
        {
          InstanceId: ME,
          AutoScalingGroupName: 'lb',
          LifecycleState: 'Terminating:Wait',
          AvailabilityZone: 'us-east-1a',
          HealthStatus: 'HEALTHY',
          ProtectedFromScaleIn: false,
        },
      ],
    });
    asg.on(DescribeAutoScalingGroupsCommand).resolves({
      AutoScalingGroups: [
        {
          AutoScalingGroupName: 'lb',
          MinSize: 0,
          MaxSize: 2,
          DesiredCapacity: 1,
          DefaultCooldown: 300,
          AvailabilityZones: ['us-east-1a'],
          HealthCheckType: 'EC2',
          CreatedTime: new Date(0),
          Instances: [
            {
              InstanceId: ME,
              LifecycleState: 'Terminating:Wait',
              AvailabilityZone: 'a',
              HealthStatus: 'HEALTHY',
              ProtectedFromScaleIn: false,
            },
            {
              InstanceId: PEER,
              LifecycleState: 'InService',
              AvailabilityZone: 'b',
              HealthStatus: 'HEALTHY',
              ProtectedFromScaleIn: false,
            },
          ],
        },
      ],
    });
    ec2.on(DescribeInstancesCommand).resolves({
      Reservations: [{ Instances: [instance(PEER, '10.0.2.11', 'running')] }],
    });
    const view = await gatherPeerFacts(deps(), ME, { cluster: true });
    expect(view).toEqual({
      cluster: {
        source: 'Auto Scaling group lb',
        members: [
          {
            instanceId: PEER,
            privateIp: '10.0.2.11',
            instanceState: 'running',
            asgLifecycleState: 'InService',
          },
        ],
      },
    });
    expect(asg.commandCalls(DescribeAutoScalingGroupsCommand)[0].args[0].input).toEqual({
      AutoScalingGroupNames: ['lb'],
    });
  });

  it('not in a group and no gate.clusterTagKey → membership unknown', async () => {
    asg.on(DescribeAutoScalingInstancesCommand).resolves({ AutoScalingInstances: [] });
    const view = await gatherPeerFacts(deps(), ME, { cluster: true });
    expect(view.cluster).toBeUndefined();
    expect(view.error).toMatch(/in no Auto Scaling group; set gate.clusterTagKey/);
  });

  it('gate.clusterTagKey: the instances carrying my value of that tag', async () => {
    ec2
      .on(DescribeInstancesCommand, { Filters: [{ Name: 'instance-id', Values: [ME] }] })
      .resolves({
        Reservations: [
          {
            Instances: [
              { ...instance(ME, '10.0.1.11', 'running'), Tags: [{ Key: 'lb-cluster', Value: 'blue' }] },
            ],
          },
        ],
      })
      .on(DescribeInstancesCommand, {
        Filters: [
          { Name: 'tag:lb-cluster', Values: ['blue'] },
          {
            Name: 'instance-state-name',
            Values: ['pending', 'running', 'shutting-down', 'stopping', 'stopped'],
          },
        ],
      })
      .resolves({
        Reservations: [
          { Instances: [instance(ME, '10.0.1.11', 'running'), instance(PEER, '10.0.2.11', 'shutting-down')] },
        ],
      });
    asg.on(DescribeAutoScalingInstancesCommand).resolves({ AutoScalingInstances: [] });
    const view = await gatherPeerFacts(deps({ gate: { clusterTagKey: 'lb-cluster' } }), ME, {
      cluster: true,
    });
    expect(view).toEqual({
      cluster: {
        source: 'the instances tagged lb-cluster=blue',
        members: [{ instanceId: PEER, privateIp: '10.0.2.11', instanceState: 'shutting-down' }],
      },
    });
  });
});
