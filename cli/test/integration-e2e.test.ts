import { spawn, spawnSync } from 'node:child_process';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceKind, Telemetry } from '@yulan/protos';
import { runUp, type UpHandle } from '../src/up.js';
import { runInProcess } from './serial-support.js';
import { skipWithout } from '@yulan/testkit';
import { api, connect, eventually, quietLogger, subackCodes, tempDir } from './support.js';

/** mosquitto_sub, as the README tells a new user to run it; resolves with its stdout. */
function mosquittoSub(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('mosquitto_sub', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const payload = (kind: DeviceKind, id: string): Buffer => Buffer.from(Telemetry.encode({
  header: { deviceId: id, kind, seq: 1, tsMs: Date.now() },
  ...(kind === DeviceKind.FALL_SENSOR ? { fallSensor: { presence: true, batteryPct: 80 } } : { envMonitor: { pm25Ugm3: 12, pm10Ugm3: 20 } }),
}));

// Debian's mosquitto-clients; .ci/run installs it (CI=true: missing fails instead of skipping)
const noMosquittoSub = skipWithout(spawnSync('mosquitto_sub', ['--help']).error === undefined, 'mosquitto_sub', 'apt-get install mosquitto-clients');

// The whole platform as `yulan up` starts it: the broker asks the real cloud about
// integration accounts, and the cloud tells the broker about changes over MQTT.
describe.skipIf(noMosquittoSub)('integration accounts end to end (yulan up, CLI, real MQTT clients)', () => {
  const tmp = tempDir('yulan-integrations-');
  let up: UpHandle;
  let env: NodeJS.ProcessEnv;
  let mqttUrl: string;
  const clients: MqttClient[] = [];
  const add = async (args: string[]): Promise<string> => {
    const r = await runInProcess(['integration', 'add', ...args, '--json'], env);
    expect(r.stderr).toBe('');
    return (JSON.parse(r.stdout) as { secret: string }).secret;
  };
  const device = async (id: string, kind: string): Promise<MqttClient> => {
    const r = await api<{ secret: string }>(env.YULAN_CLOUD_URL!, env.YULAN_ADMIN_TOKEN!, '/api/v1/devices', { method: 'POST', body: JSON.stringify({ id, site: 'lab', kind }) });
    expect(r.status).toBe(201);
    const c = await connect(mqttUrl, { clientId: id, username: id, password: r.body.secret });
    clients.push(c);
    return c;
  };
  const integration = async (name: string, secret: string, suffix = '1'): Promise<MqttClient> => {
    const c = await connect(mqttUrl, { clientId: `int:${name}:${suffix}`, username: `int:${name}`, password: secret });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    up = await runUp({
      YULAN_DATA_DIR: tmp.dir, YULAN_MQTT_PORT: '0', YULAN_WS_PORT: '0', YULAN_HTTP_PORT: '0', YULAN_EDGE_HTTP_PORT: '0',
      YULAN_MQTT_HOST: '127.0.0.1', YULAN_HTTP_HOST: '127.0.0.1', YULAN_SIM_DEVICES: '1', YULAN_SIM_RATE: '4', YULAN_SIM_SITES: 'xuhui',
      YULAN_CARE_DEMO: '0',
    }, quietLogger, () => {});
    env = { YULAN_CLOUD_URL: `http://127.0.0.1:${up.httpPort}`, YULAN_ADMIN_TOKEN: up.adminToken! };
    mqttUrl = `mqtt://127.0.0.1:${up.mqttPort}`;
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true)));
    await up?.close();
    tmp.cleanup();
  });

  it('yulan integration add, then mosquitto_sub sees a site\'s telemetry as decodable protobuf', async () => {
    const text = await runInProcess(['integration', 'add', 'grafana', '--read', 'yulan/v1/xuhui/env-monitor/+/telemetry', '--namespace'], env);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('mqtt username: int:grafana');
    const secret = /secret: (\S+)/.exec(text.stdout)![1]!;
    const sub = await mosquittoSub(['-h', '127.0.0.1', '-p', String(up.mqttPort), '-u', 'int:grafana', '-P', secret, '-I', 'int:grafana:',
      '-t', 'yulan/v1/xuhui/env-monitor/+/telemetry', '-C', '1', '-W', '60', '-F', '%t %x']);
    expect(sub.stderr).toBe('');
    const [topic, hex] = sub.stdout.trim().split(' ');
    expect(topic).toMatch(/^yulan\/v1\/xuhui\/env-monitor\/[^/]+\/telemetry$/);
    const t = Telemetry.decode(Buffer.from(hex!, 'hex'));
    expect(t.envMonitor?.pm25Ugm3).toEqual(expect.any(Number));
    // The same account may not widen its subscription beyond the rule.
    const c = await integration('grafana', secret);
    expect(await subackCodes(c, ['yulan/v1/+/env-monitor/+/telemetry', 'yulan/v1/xuhui/ev-charger/+/telemetry', 'ext/grafana/#'])).toEqual([128, 128, 1]);
    // A wrong secret is refused (CONNACK 4).
    await expect(connect(mqttUrl, { clientId: 'int:grafana:x', username: 'int:grafana', password: 'wrong' })).rejects.toThrow(/Bad username or password/i);
  });

  it('withholds fall-sensor data until the health grant, applies it to the live session, and audits it', async () => {
    const secret = await add(['ops', '--read', 'yulan/v1/lab/+/+/+']);
    const ops = await integration('ops', secret);
    const got: string[] = [];
    ops.on('message', (t) => got.push(t));
    expect(await subackCodes(ops, ['yulan/v1/lab/+/+/telemetry', 'yulan/v1/lab/fall-sensor/+/telemetry'])).toEqual([1, 128]);
    const fall = await device('fs-lab-1', 'fall-sensor');
    const env1 = await device('em-lab-1', 'env-monitor');
    await fall.publishAsync('yulan/v1/lab/fall-sensor/fs-lab-1/telemetry', payload(DeviceKind.FALL_SENSOR, 'fs-lab-1'), { qos: 1 });
    await env1.publishAsync('yulan/v1/lab/env-monitor/em-lab-1/telemetry', payload(DeviceKind.ENV_MONITOR, 'em-lab-1'), { qos: 1 });
    await eventually(() => got.includes('yulan/v1/lab/env-monitor/em-lab-1/telemetry'), 'env telemetry at ops');
    expect(got).not.toContain('yulan/v1/lab/fall-sensor/fs-lab-1/telemetry');

    const set = await runInProcess(['integration', 'set', 'ops', '--health'], env);
    expect(set.stdout).toBe('ops: updated (live sessions updated)\n');
    // The notice reaches the broker over MQTT: poll by publishing until one arrives.
    await eventually(async () => {
      await fall.publishAsync('yulan/v1/lab/fall-sensor/fs-lab-1/telemetry', payload(DeviceKind.FALL_SENSOR, 'fs-lab-1'), { qos: 1 });
      return got.includes('yulan/v1/lab/fall-sensor/fs-lab-1/telemetry');
    }, 'fall telemetry after the grant');
    // A new connection with the grant is audited as access to health data.
    await integration('ops', secret, '2');
    const audit = JSON.parse((await runInProcess(['integration', 'audit', 'ops', '--json'], env)).stdout) as { items: { action: string; actor: string }[] };
    expect(audit.items.map((e) => e.action)).toEqual(['integration.health-connect', 'integration.health-grant', 'integration.create']);
  });

  it('disable cuts live sessions and refuses reconnects; enable and rotate', async () => {
    const secret = await add(['tele', '--rw', 'ext/tele/#']);
    const a = await integration('tele', secret);
    const closed = new Promise<void>((r) => a.once('close', () => r()));
    const dis = await runInProcess(['integration', 'disable', 'tele'], env);
    expect(dis.stdout).toBe('tele: disabled (sessions cut: yes)\n');
    await closed;
    await expect(connect(mqttUrl, { clientId: 'int:tele:2', username: 'int:tele', password: secret })).rejects.toThrow(/Not authorized/i);
    expect((await runInProcess(['integration', 'enable', 'tele'], env)).code).toBe(0);
    const b = await integration('tele', secret, '3');
    const cut = new Promise<void>((r) => b.once('close', () => r()));
    const rot = JSON.parse((await runInProcess(['integration', 'rotate', 'tele', '--json'], env)).stdout) as { secret: string };
    await cut;
    await expect(connect(mqttUrl, { clientId: 'int:tele:4', username: 'int:tele', password: secret })).rejects.toThrow(/Bad username or password/i);
    const c = await integration('tele', rot.secret, '5');
    expect(c.connected).toBe(true);
    const list = await runInProcess(['integration', 'list'], env);
    expect(list.stdout).toMatch(/tele\s+int:tele\s+active\s+rw ext\/tele\/#/);
  });

  it('refuses bad rules and names with the cloud\'s reason', async () => {
    const dollar = await runInProcess(['integration', 'add', 'bad1', '--read', '$SYS/#'], env);
    expect(dollar.code).toBe(4);
    expect(dollar.stderr).toContain('rules cannot name $ topics');
    const kind = await runInProcess(['integration', 'add', 'bad2', '--read', 'yulan/v1/+/toaster/+/telemetry'], env);
    expect(kind.stderr).toContain('"toaster" is not a device kind');
    const dup = await runInProcess(['integration', 'add', 'grafana', '--read', '#'], env);
    expect(dup.stderr).toMatch(/409.*E_DUPLICATE/);
    const name = await runInProcess(['integration', 'add', 'Bad Name', '--read', '#'], env);
    expect(name.code).toBe(4);
  });
});
