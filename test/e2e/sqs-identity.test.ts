import { withFields } from '../fixtures/events';
import { DaemonProcess } from '../helpers/daemon-process';
import { leftovers } from '../../sim/loxilb/footprint';
import { closed, ready, RunHarness } from '../helpers/run-harness';

/**
 * A message that names this instance but comes from another account or region is foreign: instance
 * ids are unique per account and region only, and a forged message must not tear a host down.
 * The daemon checks EventBridge `account`/`region` and Auto Scaling `AccountId` (also inside SNS)
 * against its IMDS identity document (the emulator's: 123456789012, us-east-1).
 */
describe('teardownd run: SQS messages from another account or region', () => {
  let h: RunHarness;
  beforeEach(async () => {
    h = await RunHarness.start();
  });
  afterEach(() => h.stop());

  const spot = (self: string, fields: Record<string, unknown>) =>
    withFields('eventbridge-spot-interruption.json', {
      time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      account: '123456789012',
      region: 'us-east-1',
      'detail.instance-id': self,
      'detail.instance-action': 'terminate',
      ...fields,
    });

  const asgDirect = (self: string, accountId: string) =>
    withFields('asg-direct-terminate.json', { EC2InstanceId: self, AccountId: accountId });

  it('are deleted as foreign with the reason, and tear nothing down; the right one still does', async () => {
    const { emulator, ids, queueUrl } = h;
    const self = ids.masterInstanceId;
    // IMDS is left without notices: only SQS can start a teardown here.
    const d = h.start({
      sources: {
        imds: { enabled: true, pollIntervalMs: 100 },
        sqs: { queueUrl, waitTimeSeconds: 1, foreignMessages: 'delete' },
      },
    });
    await ready(d);
    const foreign = [
      spot(self, { account: '999999999999' }),
      spot(self, { region: 'eu-west-1' }),
      asgDirect(self, '999999999999'),
      JSON.stringify({
        Type: 'Notification',
        MessageId: '5b3c3c5e-0000-4000-8000-000000000001',
        TopicArn: 'arn:aws:sns:us-east-1:123456789012:teardownd',
        Message: asgDirect(self, '210987654321'),
        Timestamp: new Date().toISOString(),
      }),
    ];
    for (const body of foreign) emulator.sqs.send(queueUrl, body);
    // Both sides of each deletion: the emulator's record and the daemon's log line, which reaches
    // this process through a pipe some time after the DeleteMessage call did.
    const decisions = () => d.logs.filter((l) => l.message === 'sqs message delete');
    await DaemonProcess.until(
      () => emulator.sqs.deletedCount(queueUrl) === foreign.length && decisions().length === foreign.length,
      15000,
      'the foreign messages to be deleted and logged',
    );
    expect(decisions().map((l) => l.category)).toEqual(['foreign', 'foreign', 'foreign', 'foreign']);
    expect(
      decisions()
        .map((l) => String(l.reason).split(':')[0])
        .sort(),
    ).toEqual([
      'account "210987654321" is not this host\'s 123456789012',
      'account "999999999999" is not this host\'s 123456789012',
      'account "999999999999" is not this host\'s 123456789012',
      'region "eu-west-1" is not this host\'s us-east-1',
    ]);
    expect(d.logs.filter((l) => l.message === 'episode opened')).toEqual([]);
    expect(emulator.calls.mutating('ec2').filter((c) => c.action !== 'CreateTags')).toEqual([]);

    // The same message from this host's account and region is a teardown: the check is not a wall.
    emulator.sqs.send(queueUrl, spot(self, {}));
    const done = await closed(d);
    expect(done.outcome).toBe('clean');
    expect(leftovers(emulator, ids)).toEqual([]);
  });
});
