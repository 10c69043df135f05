import { ConfigError, loadConfig, parseConfig } from '../../../lib/config/load';
import { cloudInstanceOf } from '../../../lib/config/schema';

describe('config', () => {
  it('a missing default file means the stock loxilb defaults', () => {
    const config = loadConfig({
      readFile: () => {
        throw Object.assign(new Error('nope'), { code: 'ENOENT' });
      },
    });
    expect(config.ownership.tagKey).toBe('loxiType');
    expect(cloudInstanceOf(config)).toBe('');
    expect(config.gate.mode).toBe('loxilb-api');
    expect(config.eip.policy).toBe('disassociate');
  });

  it('a missing explicit --config path is an error naming the path', () => {
    expect(() =>
      loadConfig({
        path: '/nope/config.json',
        readFile: () => {
          throw Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' });
        },
      }),
    ).toThrow(/\/nope\/config\.json/);
  });

  it('reports every bad field at once, with the allowed values', () => {
    let error: ConfigError | undefined;
    try {
      parseConfig({
        gate: { mode: 'bogus' },
        eip: { policy: 'keep' },
        executor: { concurrency: 0 },
        colour: 'red',
      });
    } catch (e) {
      error = e as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error!.problems).toEqual(
      expect.arrayContaining([
        'gate.mode: must be one of "loxilb-api", "static", "override"',
        'eip.policy: must be one of "disassociate", "release-owned"',
        expect.stringMatching(/^executor\.concurrency: /),
        expect.stringMatching(/^colour: unknown key/),
      ]),
    );
  });

  it('rejects JSON that does not parse, naming the file', () => {
    expect(() => loadConfig({ path: '/etc/x.json', readFile: () => '{ "gate": ' })).toThrow(
      /\/etc\/x\.json is not valid JSON/,
    );
  });

  it('requires gate.override when gate.mode is override', () => {
    expect(() => parseConfig({ gate: { mode: 'override' } })).toThrow(/gate\.override: required/);
  });

  it('the old scope "instance" is an error that says "use handover"; other bad scopes list the values', () => {
    expect(() => parseConfig({ gate: { mode: 'override', override: 'instance' } })).toThrow(
      /gate\.override: scope "instance" no longer exists: use handover/,
    );
    expect(() => parseConfig({ gate: { mode: 'override', override: 'all' } })).toThrow(
      /gate\.override: must be one of "full", "handover", "none"/,
    );
    expect(parseConfig({ gate: { mode: 'override', override: 'handover' } }).gate.override).toBe('handover');
  });

  it('a file holding null (or an array) is an error naming the file, never "all defaults"', () => {
    for (const text of ['null', '[]', '42']) {
      expect(() => loadConfig({ path: '/etc/t.json', readFile: () => text })).toThrow(
        /config file \/etc\/t\.json:\n {2}\(top level\): must be a JSON object/,
      );
    }
  });

  it('sweeper.schedule, sweeper.regions and --log-level are checked by the schema, all reported together', () => {
    let error: ConfigError | undefined;
    try {
      parseConfig(
        { sweeper: { schedule: '*/10 * * *  * * *', regions: ['us-east-1', 'US-EAST-1', ''] } },
        'config',
        { logLevel: 'bogus' },
      );
    } catch (e) {
      error = e as ConfigError;
    }
    expect(error!.problems).toEqual([
      'sweeper.schedule: "*/10 * * *  * * *" is not a valid cron expression (e.g. "*/10 * * * *")',
      'sweeper.regions[1]: "US-EAST-1" is not an AWS region name (e.g. us-east-1)',
      'sweeper.regions[2]: "" is not an AWS region name (e.g. us-east-1)',
      '--log-level (log.level): must be one of "error", "warn", "info", "debug"',
    ]);
  });

  it('cloud.region is checked by the schema like sweeper.regions, naming the field', () => {
    expect(parseConfig({ cloud: { region: 'eu-central-1' } }).cloud.region).toBe('eu-central-1');
    for (const region of ['us-east', 'US-EAST-1', '']) {
      let error: ConfigError | undefined;
      try {
        parseConfig({ cloud: { region } });
      } catch (e) {
        error = e as ConfigError;
      }
      expect(error!.problems).toEqual([
        `cloud.region: ${JSON.stringify(region)} is not an AWS region name (e.g. us-east-1)`,
      ]);
    }
  });

  it('--log-level overrides log.level when valid', () => {
    expect(parseConfig({ log: { level: 'warn' } }, 'config', { logLevel: 'debug' }).log.level).toBe('debug');
    expect(
      parseConfig({ sweeper: { regions: ['eu-west-1', 'ap-southeast-2'] } }).sweeper.regions,
    ).toHaveLength(2);
  });
});
