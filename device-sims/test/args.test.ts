import { describe, expect, it } from 'vitest';
import { SimErrorCode, isHelpRequest, parseSimArgs, simUsage, type SimError } from '../src/index.js';

const error = (argv: string[], env: Record<string, string> = {}): SimError | undefined => {
  try {
    parseSimArgs(argv, env);
    return undefined;
  } catch (e) {
    return e as SimError;
  }
};

describe('parseSimArgs', () => {
  it('has sensible defaults', () => {
    expect(parseSimArgs([])).toEqual({
      kinds: ['ev-charger', 'parcel-locker', 'fall-sensor', 'env-monitor'], countPerKind: 1, sites: ['site-1'],
      ratePerDevice: 1, qos: 0, mqttUrl: 'mqtt://127.0.0.1:1883', seed: 1,
    });
  });

  it('parses every flag, repeatable and comma-separated kinds, and --flag=value', () => {
    const o = parseSimArgs(['--kind', 'ev-charger,fall-sensor', '--kind=env-monitor', '--count', '250', '--rate', '0.2',
      '--sites', 'a,b,c', '--qos', '1', '--seed', '7', '--mqtt', 'mqtt://broker:1883', '--cloud', 'http://cloud:8080',
      '--token', 'T', '--credentials', '/tmp/c.json', '--connect-concurrency', '20', '--time-scale', '60']);
    expect(o).toEqual({
      kinds: ['ev-charger', 'fall-sensor', 'env-monitor'], countPerKind: 250, sites: ['a', 'b', 'c'], ratePerDevice: 0.2, qos: 1,
      mqttUrl: 'mqtt://broker:1883', seed: 7, cloud: { url: 'http://cloud:8080', adminToken: 'T' }, credentialsFile: '/tmp/c.json',
      connectConcurrency: 20, timeScale: 60,
    });
  });

  it('parses --scenario, --device and --scenario-after into fleet scenarios', () => {
    expect(parseSimArgs(['--kind', 'fall-sensor', '--scenario', 'confirmed-fall', '--device', 'fall-site-1-0001', '--scenario-after', '2.5']).scenarios)
      .toEqual([{ scenario: 'confirmed-fall', deviceId: 'fall-site-1-0001', afterMs: 2500 }]);
    expect(parseSimArgs(['--scenario=silent']).scenarios).toEqual([{ scenario: 'silent' }]);
    expect(simUsage).toMatch(/--scenario NAME .*confirmed-fall, cancelled-fall, unconfirmed-fall, sos, low-battery, silent, inactive/);
  });

  it('generates sites from --site-count and reads env fallbacks', () => {
    const o = parseSimArgs(['--site-count', '3', '--cloud', 'http://c:8080'], { YULAN_ADMIN_TOKEN: 'envtok', YULAN_MQTT_URL: 'mqtt://m:1' });
    expect(o.sites).toEqual(['site-001', 'site-002', 'site-003']);
    expect(o.cloud).toEqual({ url: 'http://c:8080', adminToken: 'envtok' });
    expect(o.mqttUrl).toBe('mqtt://m:1');
    expect(parseSimArgs(['--kind', 'all']).kinds).toHaveLength(4);
  });

  it.each([
    [['--kind', 'toaster'], /unknown --kind "toaster"/],
    [['--count', '0'], /--count must be at least 1/],
    [['--count', '1.5'], /integer/],
    [['--rate', 'fast'], /--rate expects a number/],
    [['--rate', '0'], /greater than 0/],
    [['--qos', '2'], /--qos must be 0 or 1/],
    [['--sites', 'a/b'], /invalid site/],
    [['--sites', 'a', '--site-count', '2'], /either --sites or --site-count/],
    [['--mqtt', 'http://x'], /--mqtt must use/],
    [['--cloud', 'http://c'], /needs an admin token/],
    [['--token', 'x'], /only used with --cloud/],
    [['--count'], /--count needs a value/],
    [['--count', '--rate', '2'], /--count needs a value/],
    [['--bogus'], /unknown argument "--bogus"/],
    [['--scenario', 'nap'], /unknown --scenario "nap"/],
    [['--scenario', 'sos', '--device', 'a/b'], /invalid --device/],
    [['--device', 'fall-1'], /only used with --scenario/],
    [['--scenario', 'sos', '--scenario-after', '-1'], /at least 0/],
  ])('rejects %j', (argv, pattern) => {
    const err = error(argv as string[]);
    expect(err?.code).toBe(SimErrorCode.BadArgs);
    expect(err?.message).toMatch(pattern);
    expect(err?.message).toContain('Usage: yulan sim');
  });

  it('parses --claim with its secret from the flag or $YULAN_CLAIM_SECRET, and refuses it without one or with --cloud', () => {
    expect(parseSimArgs(['--claim', 'env-batch-1', '--claim-secret', 's3cret']).claim).toEqual({ id: 'env-batch-1', secret: 's3cret' });
    expect(parseSimArgs(['--claim', 'env-batch-1'], { YULAN_CLAIM_SECRET: 'from-env' }).claim).toEqual({ id: 'env-batch-1', secret: 'from-env' });
    expect(parseSimArgs([]).claim).toBeUndefined();
    expect(error(['--claim', 'env-batch-1'])?.message).toMatch(/--claim needs its secret/);
    expect(error(['--claim', 'Bad/Id', '--claim-secret', 's'])?.message).toMatch(/invalid --claim/);
    expect(error(['--claim', 'b', '--claim-secret', 's', '--cloud', 'http://c', '--token', 't'])?.message).toMatch(/use one/);
  });

  it('reports --help as a help request carrying the usage text', () => {
    const err = error(['--count', '3', '--help']);
    expect(isHelpRequest(err)).toBe(true);
    expect(err?.message).toBe(simUsage);
    expect(isHelpRequest(error(['--bogus']))).toBe(false);
  });
});

describe('--command-failures', () => {
  it('parses into fleet options and refuses bad specs', async () => {
    const { parseSimArgs } = await import('../src/args.js');
    expect(parseSimArgs(['--command-failures', 'refuse=0.05,timeout=0.05,no-effect=0.05']).commandFailures).toEqual({ refuse: 0.05, timeout: 0.05, noEffect: 0.05 });
    expect(() => parseSimArgs(['--command-failures=bogus=1'])).toThrow(/unknown failure/);
  });
});

describe('--by-certificate and --ca', () => {
  it('reads the CA for mqtts:// and takes N or all devices by certificate with a cloud and a data dir', async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'sim-args-'));
    try {
      writeFileSync(join(dir, 'ca.pem'), 'PEM');
      const base = ['--mqtt', 'mqtts://b:8883', '--cloud', 'https://c:8443', '--token', 'T', '--data-dir', dir];
      expect(parseSimArgs([...base, '--by-certificate', '2', '--ca', join(dir, 'ca.pem')])).toMatchObject({ byCertificate: 2, ca: 'PEM' });
      expect(parseSimArgs([...base, '--by-certificate=all'], { YULAN_TLS_CA_FILE: join(dir, 'ca.pem') })).toMatchObject({ byCertificate: 'all', ca: 'PEM' });
      expect(error([...base, '--ca', join(dir, 'missing.pem')])?.message).toMatch(/--ca .*missing\.pem/);
      expect(error([...base, '--by-certificate', '0'])?.message).toMatch(/at least 1/);
      expect(error(['--mqtt', 'mqtt://b:1883', '--cloud', 'http://c', '--token', 'T', '--data-dir', dir, '--by-certificate', '1'])?.message).toMatch(/mqtts:\/\//);
      expect(error(['--mqtt', 'mqtts://b:8883', '--by-certificate', '1'])?.message).toMatch(/needs --cloud .* --data-dir/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
