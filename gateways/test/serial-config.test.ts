import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SerialConfigError, configProblems, loadSerialGatewayConfig } from '../src/serial/index.js';
import { tempDir } from './serial-support.js';

const good = {
  mqttUrl: 'mqtt://127.0.0.1:1883', credentialsFile: 'creds.json',
  devices: [
    { id: 'env-1', site: 'xuhui', kind: 'env-monitor', sensor: 'pms5003', port: '/dev/yulan-pm-1', mode: 'passive', intervalS: 60 },
    { id: 'fall-1', site: 'xuhui', kind: 'fall-sensor', sensor: 'mr60fda1', port: '/dev/yulan-radar-1', sensitivity: 5 },
    { id: 'lock-1', site: 'xuhui', kind: 'parcel-locker', sensor: 'lock-board', port: '/dev/yulan-lock-1', address: 1, doors: 12 },
  ],
};

describe('serial gateway config', () => {
  const tmp = tempDir('yulan-serial-cfg-');
  afterAll(() => tmp.cleanup());

  it('accepts a valid config', () => {
    expect(configProblems(good)).toEqual([]);
  });

  it('reports every problem at once, with its place in the file', () => {
    const bad = {
      mqttUrl: 'http://x', credentialsFile: 'c.json', extra: 1,
      devices: [
        { id: 'env 1', site: 'xuhui', kind: 'env-monitor', sensor: 'mr60fda1', port: '/dev/a', doors: 3 },
        { id: 'fall-1', site: 'xuhui', kind: 'fall-sensor', sensor: 'mr60fda1', port: '/dev/a', mode: 'passive' },
        { id: 'fall-1', site: 'x/y', kind: 'parcel-locker', sensor: 'lock-board', port: '/dev/b' },
        { id: 'p', site: 's', kind: 'toaster', sensor: 'pms5003', port: '/dev/c', intervalS: 0 },
      ],
    };
    const p = configProblems(bad);
    const expected = [
      /^mqttUrl: /, /^extra: unknown setting/, /^devices\[0\]\.id: "env 1" is not a valid device id/,
      /^devices\[0\]\.sensor: a env-monitor is built from pms5003 or sds011, not mr60fda1/, /^devices\[0\]: doors\/address apply to lock boards only/,
      /^devices\[1\]\.port: \/dev\/a is also used by devices\[0\]/, /^devices\[1\]: mode\/dutyCycle\/settleS apply to particulate sensors only/,
      /^devices\[2\]\.id: "fall-1" is also devices\[1\]/, /^devices\[2\]\.site: "x\/y" is not a valid site id/, /^devices\[2\]\.doors: required for a lock board/,
      /^devices\[3\]\.kind: /, /^devices\[3\]\.intervalS: /,
    ];
    for (const re of expected) expect(p.some((x) => re.test(x)), `${re} in\n${p.join('\n')}`).toBe(true);
  });

  it('refuses a device without its own secret or registered as something else', async () => {
    const dir = tmp.dir;
    writeFileSync(join(dir, 'gw.json'), JSON.stringify(good));
    writeFileSync(join(dir, 'creds.json'), JSON.stringify({ version: 1, devices: {
      'env-1': { site: 'xuhui', kind: 'env-monitor', secret: 's1' },
      'fall-1': { site: 'pudong', kind: 'fall-sensor', secret: 's2' },
    } }));
    chmodSync(join(dir, 'creds.json'), 0o600);
    const err = await loadSerialGatewayConfig(join(dir, 'gw.json')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SerialConfigError);
    expect((err as SerialConfigError).problems).toEqual([
      'devices[1]: "fall-1" is registered as fall-sensor@pudong, the config says fall-sensor@xuhui',
      expect.stringMatching(/^devices\[2\]: no secret for "lock-1"/),
    ]);
    writeFileSync(join(dir, 'creds.json'), JSON.stringify({ version: 1, devices: {
      'env-1': { site: 'xuhui', kind: 'env-monitor', secret: 's1' }, 'fall-1': { site: 'xuhui', kind: 'fall-sensor', secret: 's2' },
      'lock-1': { site: 'xuhui', kind: 'parcel-locker', secret: 's3' },
    } }));
    const ok = await loadSerialGatewayConfig(join(dir, 'gw.json'));
    expect([...ok.secrets.keys()]).toEqual(['env-1', 'fall-1', 'lock-1']);
  });

  it('names an unreadable file or bad JSON', async () => {
    writeFileSync(join(tmp.dir, 'broken.json'), '{ "mqttUrl": ');
    await expect(loadSerialGatewayConfig(join(tmp.dir, 'broken.json'))).rejects.toThrow(/broken\.json: 1 problem\n {2}cannot read JSON/);
    await expect(loadSerialGatewayConfig(join(tmp.dir, 'missing.json'))).rejects.toThrow(/cannot read JSON: ENOENT/);
  });
});

describe('yulan gateway serial (arguments and config errors)', () => {
  const tmp = tempDir('yulan-serial-cli-');
  afterAll(() => tmp.cleanup());
  const run = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const { gatewaySerialCommand } = await import('../../cli/src/gateway-serial.js');
    let out = '';
    let err = '';
    const sink = (f: (s: string) => void) => ({ write: (s: string) => { f(s); return true; } }) as unknown as NodeJS.WriteStream;
    const code = await gatewaySerialCommand(args, env, sink((s) => { out += s; }), sink((s) => { err += s; }));
    return { code, out, err };
  };

  it('exits 2 listing every problem of a bad config, and 2 without --config', async () => {
    writeFileSync(join(tmp.dir, 'bad.json'), JSON.stringify({ mqttUrl: 'mqtt://x', credentialsFile: 'c.json', devices: [{ id: 'a', site: 's', kind: 'fall-sensor', sensor: 'pms5003', port: '/dev/x' }, { id: 'a', site: 's', kind: 'env-monitor', sensor: 'sds011', port: '/dev/y' }] }));
    const r = await run(['--config', join(tmp.dir, 'bad.json')]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('2 problems');
    expect(r.err).toContain('devices[0].sensor: a fall-sensor is built from mr60fda1, not pms5003');
    expect(r.err).toContain('devices[1].id: "a" is also devices[0]');
    const none = await run([]);
    expect(none.code).toBe(2);
    expect(none.err).toContain('--config FILE is required');
    expect((await run(['--help'])).out).toContain('usage: yulan gateway serial --config FILE');
  });

  it('exits 2 on bad YULAN_SERIAL_HTTP_* settings, listed together with the config file\'s problems', async () => {
    const env = { YULAN_SERIAL_HTTP_PORT: '99999', YULAN_SERIAL_HTTP_HOST: '0.0.0.0' };
    const both = await run(['--config', join(tmp.dir, 'bad.json')], env);
    expect(both.code).toBe(2);
    expect(both.err).toContain('devices[1].id: "a" is also devices[0]');
    expect(both.err).toContain('YULAN_SERIAL_HTTP_PORT: must be 0..65535');
    expect(both.err).toContain('YULAN_SERIAL_HTTP_HOST: 0.0.0.0 is not loopback; set YULAN_SERIAL_HTTP_TOKEN too');
    writeFileSync(join(tmp.dir, 'creds.json'), JSON.stringify({ version: 1, devices: { f1: { site: 's', kind: 'fall-sensor', secret: 'x'.repeat(32) } } }), { mode: 0o600 });
    writeFileSync(join(tmp.dir, 'good.json'), JSON.stringify({ mqttUrl: 'mqtt://127.0.0.1:9', credentialsFile: 'creds.json', devices: [{ id: 'f1', site: 's', kind: 'fall-sensor', sensor: 'mr60fda1', port: join(tmp.dir, 'no-such-port') }] }));
    const envOnly = await run(['--config', join(tmp.dir, 'good.json')], env);
    expect(envOnly.code).toBe(2);
    expect(envOnly.err).toContain('environment: 2 problems');
  });
});
