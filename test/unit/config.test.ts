import { ConfigError, loadConfig, parseConfig } from '../../lib/config/load';

describe('config', () => {
  it('a missing default file means the stock loxilb defaults', () => {
    const config = loadConfig({
      readFile: () => {
        throw Object.assign(new Error('nope'), { code: 'ENOENT' });
      },
    });
    expect(config.ownership.tagKey).toBe('loxiType');
    expect(config.ownership.cloudInstance).toBe('');
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
});
