import { EC2Client, EC2ClientConfig } from '@aws-sdk/client-ec2';
import { AwsEmulator } from '../../sim/emulator/server';

/**
 * The real SDK EC2 client pointed at an in-process emulator, signed with the daemon's credentials
 * and with the SDK's own retries off (teardownd's call path owns retries). `destroy()` it at the end.
 */
export function emulatorEc2Client(
  emulator: AwsEmulator,
  overrides: Partial<EC2ClientConfig> = {},
): EC2Client {
  const env = emulator.env();
  return new EC2Client({
    endpoint: emulator.url,
    region: env.AWS_REGION,
    credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY },
    maxAttempts: 1,
    ...overrides,
  });
}
