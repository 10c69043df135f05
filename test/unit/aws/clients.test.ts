import { SQSClient } from '@aws-sdk/client-sqs';
import { createAwsClients, destroyAwsClients } from '../../../lib/aws/clients';

/**
 * Clients are built the first time they are read: at rest the daemon reads only SQS (and SNS), so
 * EC2, Auto Scaling, S3 and CloudWatch Logs are never built (and, bundled, never loaded).
 */
describe('createAwsClients', () => {
  it('builds each client on first read, once, and destroys only those built', () => {
    const clients = createAwsClients({ region: 'us-east-1' });
    const sqs = clients.sqs;
    expect(clients.sqs).toBe(sqs);
    expect(clients.region).toBe('us-east-1');
    const destroySqs = jest.spyOn(sqs, 'destroy');
    destroyAwsClients(clients);
    expect(destroySqs).toHaveBeenCalledTimes(1);
    // Reading after destroy builds a fresh one (a pool may hand the set out again).
    expect(clients.sqs).not.toBe(sqs);
    destroyAwsClients(clients);
  });

  it('reading one client builds no other', async () => {
    // Every SDK client's destroy() is the one of the SDK's Client base class.
    const destroy = jest.spyOn(Object.getPrototypeOf(SQSClient.prototype), 'destroy');
    try {
      const clients = createAwsClients({ region: 'eu-west-1' });
      expect(await clients.ec2.config.region()).toBe('eu-west-1');
      destroyAwsClients(clients);
      expect(destroy).toHaveBeenCalledTimes(1);
    } finally {
      destroy.mockRestore();
    }
  });
});
