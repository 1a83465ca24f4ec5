import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runUp, type UpHandle } from '../src/up.js';
import { EXIT_CODES, ExitCode } from '../src/commands/errors.js';
import { runInProcess } from './serial-support.js';
import { api, eventually, quietLogger, readSecrets, tempDir } from './support.js';

// Issue 15's CLI/API bugs, each checked the way an engineer meets it.

describe('engineer command help and local checks (no cloud needed)', () => {
  const env = { YULAN_CLOUD_URL: 'http://127.0.0.1:9', YULAN_ADMIN_TOKEN: 'x'.repeat(40) };

  it('device add with a bad kind lists the valid kinds, before any network call', async () => {
    const r = await runInProcess(['device', 'add', '--site', 'xuhui', '--kind', 'toaster'], env);
    expect(r.code).toBe(ExitCode.Usage);
    expect(r.stderr).toContain('--kind must be one of ev-charger, parcel-locker, fall-sensor, env-monitor; got "toaster"');
    expect(r.stderr).not.toMatch(/anyOf|constant|cannot reach/);
  });

  it('a subcommand\'s --help shows that subcommand\'s usage, not the group\'s', async () => {
    const add = await runInProcess(['device', 'add', '--help'], env);
    expect(add.code).toBe(0);
    expect(add.stdout).toContain('yulan device add --site SITE --kind KIND');
    expect(add.stdout).not.toContain('yulan device list');
    const get = await runInProcess(['twin', 'get', '--help'], env);
    expect(get.stdout).toContain('yulan twin get <device>');
    expect(get.stdout).not.toContain('yulan twin set');
    const create = await runInProcess(['fw', 'campaign', 'create', '--help'], env);
    expect(create.stdout).toContain('yulan fw campaign create --firmware ID');
    expect(create.stdout).not.toContain('yulan fw upload');
  });

  it('cmd --help lists every kind\'s commands with their arguments; twin --help every kind\'s settings', async () => {
    const cmd = await runInProcess(['cmd', '--help'], env);
    expect(cmd.code).toBe(0);
    for (const kind of ['ev-charger', 'parcel-locker', 'fall-sensor', 'env-monitor']) expect(cmd.stdout).toContain(kind);
    expect(cmd.stdout).toMatch(/charger\.set_current_limit\s+limit_a=6\.\.80 A/);
    expect(cmd.stdout).toMatch(/charger\.reset\s+type=soft\|hard/);
    expect(cmd.stdout).toMatch(/env\.set_interval\s+interval_s=1\.\.86400 s/);
    expect(cmd.stdout).toContain('fall.test_alarm');
    expect(cmd.stdout).toMatch(/charger\.reserve_now\s+connector_id=0\.\.32 id_tag=text \(≤ 20 chars\) expiry=ISO-8601 date-time with a zone, in the future: when the reservation ends \[parent_id_tag=text \(≤ 20 chars\)\]\s+confirmed by: .*\(OCPP chargers only\)/);
    expect(cmd.stdout).toMatch(/charger\.cancel_reservation\s+reservation_id=1\.\.2147483647/);
    expect(cmd.stdout).toMatch(/charger\.clear_cache\s+confirmed by: the charger answers Accepted .*\(OCPP chargers only\)/);
    // what the platform sends is named with what sends it, not offered with its arguments
    expect(cmd.stdout).toMatch(/Sent by the platform, not by hand:\n\s+firmware\.update\s+by firmware campaigns/);
    expect(cmd.stdout).toMatch(/charger\.clear_site_limit\s+by the site power cap: yulan site cap clear/);
    expect(cmd.stdout).not.toMatch(/charger\.set_site_limit\s+limit_w=/);
    const twin = await runInProcess(['twin', 'set', '--help'], env);
    expect(twin.stdout).toContain('yulan twin set <device>');
    expect(twin.stdout).toMatch(/temp_min_c\s+-40\.\.60 °C/);
    expect(twin.stdout).toMatch(/noise_zone_class\s+0\.\.4/);
    expect(twin.stdout).toContain('cancel_window_s');
  });

  it('every exit code is distinct and documented; a device failure is not a bad request', () => {
    const codes = EXIT_CODES.map((e) => e.code);
    expect(new Set(codes).size).toBe(codes.length);
    expect(ExitCode.DeviceFailed).not.toBe(ExitCode.Refused);
    for (const e of EXIT_CODES) expect(e.meaning.length).toBeGreaterThan(10);
  });
});

describe('engineer commands against a running platform', () => {
  const tmp = tempDir('yulan-fixes-');
  let up: UpHandle;
  let env: NodeJS.ProcessEnv;
  const base = (): string => `http://127.0.0.1:${up.httpPort}`;

  beforeAll(async () => {
    up = await runUp({
      YULAN_DATA_DIR: tmp.dir, YULAN_MQTT_PORT: '0', YULAN_WS_PORT: '0', YULAN_HTTP_PORT: '0', YULAN_EDGE_HTTP_PORT: '0',
      YULAN_MQTT_HOST: '127.0.0.1', YULAN_HTTP_HOST: '127.0.0.1', YULAN_SIM_DEVICES: '1', YULAN_SIM_RATE: '2', YULAN_SIM_SITES: 'xuhui',
      YULAN_CARE_DEMO: '0',
    }, quietLogger, () => {});
    env = {
      YULAN_CLOUD_URL: base(), YULAN_ADMIN_TOKEN: up.adminToken!,
      YULAN_MQTT_URL: `mqtt://127.0.0.1:${up.mqttPort}`, YULAN_EDGE_MQTT_PASSWORD: readSecrets(tmp.dir).edgeMqttPassword!,
    };
  });
  afterAll(async () => {
    await up?.close();
    tmp.cleanup();
  });

  interface Twin { desired: { version: number; settings: Record<string, number> }; reported: { appliedVersion: number; settings: Record<string, number> } }
  const twin = async (id: string): Promise<Twin> => JSON.parse((await runInProcess(['twin', 'get', id, '--json'], env)).stdout) as Twin;

  it('twin set KEY=null releases the key: it leaves the desired state and the device keeps its own value', async () => {
    const dev = 'locker-xuhui-0001';
    const set = await runInProcess(['twin', 'set', dev, 'temp_min_c=3', 'temp_max_c=9', '--json'], env);
    expect(set.stderr).toBe('');
    const v1 = (JSON.parse(set.stdout) as Twin).desired.version;
    await eventually(async () => (await twin(dev)).reported.appliedVersion === v1, 'the locker applies the band');
    expect((await twin(dev)).reported.settings).toMatchObject({ temp_min_c: 3, temp_max_c: 9 });

    const released = await runInProcess(['twin', 'set', dev, 'temp_min_c=null', '--json'], env);
    expect(released.stderr).toBe('');
    const t = JSON.parse(released.stdout) as Twin;
    expect(t.desired.settings).not.toHaveProperty('temp_min_c');
    expect(t.desired.settings.temp_max_c).toBe(9);
    const applied = await eventually(async () => {
      const now = await twin(dev);
      return now.reported.appliedVersion === t.desired.version ? now : undefined;
    }, 'the locker applies the release');
    // Released, not zeroed: the device keeps the value it had.
    expect(applied.reported.settings.temp_min_c).toBe(3);

    // The API itself: a JSON null releases too (it was coerced to 0 before validation).
    const direct = await api<Twin>(base(), up.adminToken!, `/api/v1/devices/${dev}/twin/desired`, { method: 'PUT', body: JSON.stringify({ settings: { temp_max_c: null } }) });
    expect(direct.status).toBe(200);
    expect(direct.body.desired.settings).toEqual({});
  });

  it('the API names the valid kinds too, not one schema error per kind', async () => {
    const r = await api<{ message: string; code: string }>(base(), up.adminToken!, '/api/v1/devices', { method: 'POST', body: JSON.stringify({ site: 'xuhui', kind: 'toaster' }) });
    expect(r.status).toBe(400);
    expect(r.body.code).toBe('E_VALIDATION');
    expect(r.body.message).toBe('body/kind must be one of ev-charger, parcel-locker, fall-sensor, env-monitor');
  });

  it('cmd --wait prints the final state once; a device failure exits 7, a bad request 4', async () => {
    const ok = await runInProcess(['cmd', 'locker-xuhui-0001', 'locker.open', 'compartment=2', '--wait', '--timeout', '60'], env);
    expect(ok.code).toBe(0);
    const finals = `${ok.stdout}${ok.stderr}`.split('\n').filter((l) => / succeeded\b/.test(l));
    expect(finals).toHaveLength(1);
    expect(ok.stdout).toMatch(/^\S+ succeeded/);

    const failed = await runInProcess(['cmd', 'locker-xuhui-0001', 'locker.open', 'compartment=999', '--wait', '--timeout', '60'], env);
    expect(failed.stderr).toContain('E_COMMAND_FAILED');
    expect(failed.code).toBe(ExitCode.DeviceFailed);
    const bad = await runInProcess(['cmd', 'locker-xuhui-0001', 'locker.fly', '--wait'], env);
    expect(bad.code).toBe(ExitCode.Refused);
  }, 120_000);

  it('cmd --wait on an offline device keeps waiting across long polls until the command expires', async () => {
    expect((await runInProcess(['device', 'add', '--site', 'xuhui', '--kind', 'ev-charger', '--id', 'ch-offline-1'], env)).code).toBe(0);
    // 35 s: longer than one long poll, and longer than the 30 s a plain request may take.
    const r = await runInProcess(['cmd', 'ch-offline-1', 'reboot', '--wait', '--expires', '35', '--timeout', '5'], env);
    expect(r.stderr).not.toContain('cannot reach the cloud');
    expect(r.stdout).toMatch(/^\S+ expired/);
    expect(r.code).toBe(ExitCode.Timeout);
  }, 120_000);

  it('tail of an unknown device or site says so and exits 4; a known one still tails', async () => {
    const r = await runInProcess(['tail', 'no-such-device-9', '--count', '1'], env);
    expect(r.code).toBe(ExitCode.Refused);
    expect(r.stderr).toContain('no device or site "no-such-device-9" is registered');
    const known = await runInProcess(['tail', 'env-xuhui-0001', '--count', '1'], env);
    expect(known.code).toBe(0);
    expect(known.stdout).toMatch(/xuhui\/env-xuhui-0001/);
  }, 60_000);
});
