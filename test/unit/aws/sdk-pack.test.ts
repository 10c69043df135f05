import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onSdkPackLoaded, SDK_PACK_FILE, sdkPackExports, SdkPackLoaded } from '../../../lib/aws/sdk-pack';

/**
 * The bundle's EC2/Auto Scaling/S3/Logs imports read through to the SDK pack, loaded on first use
 * from beside the bundle (here a stand-in pack in a temp dir; the real one is tested by
 * test/e2e/package.test.ts).
 */
describe('sdkPackExports', () => {
  const dir = mkdtempSync(join(tmpdir(), 'teardownd-pack-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loads the pack once, on first use, and says so', () => {
    writeFileSync(
      join(dir, SDK_PACK_FILE),
      `require('node:fs').appendFileSync(${JSON.stringify(join(dir, 'runs'))}, 'ran\\n');
       exports.ec2 = { EC2Client: class EC2Client {}, where: __filename, hasRequire: typeof require('node:path').join };
       exports.autoScaling = { AutoScalingClient: class AutoScalingClient {} };`,
    );
    const loaded: SdkPackLoaded[] = [];
    onSdkPackLoaded((l) => loaded.push(l));
    expect(loaded).toEqual([]);
    const ec2 = sdkPackExports('ec2', dir);
    expect((ec2.EC2Client as { name: string }).name).toBe('EC2Client');
    expect(ec2).toMatchObject({ where: join(dir, SDK_PACK_FILE), hasRequire: 'function' });
    expect((sdkPackExports('autoScaling', dir).AutoScalingClient as { name: string }).name).toBe(
      'AutoScalingClient',
    );
    expect(readFileSync(join(dir, 'runs'), 'utf8')).toBe('ran\n');
    expect(loaded).toEqual([
      { source: join(dir, SDK_PACK_FILE), durationMs: expect.any(Number), codeCache: 'none' },
    ]);
  });
});
