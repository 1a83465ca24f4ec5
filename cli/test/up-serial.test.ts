import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runUp, type UpHandle } from '../src/up.js';
import { socatAvailable } from './serial-support.js';
import { api, eventually, quietLogger, tempDir } from './support.js';

interface DeviceView { id: string; kind: string; status: string; lastValues: { fields: Record<string, number> } | null }

// `yulan up` runs an emulated PMS5003 and MR60FDA1 on socat ptys through the serial gateway.
describe.skipIf(!socatAvailable())('yulan up: the serial demo', () => {
  const tmp = tempDir('yulan-up-serial-');
  const lines: string[] = [];
  let up: UpHandle;
  beforeAll(async () => {
    up = await runUp({
      YULAN_DATA_DIR: tmp.dir, YULAN_MQTT_PORT: '0', YULAN_WS_PORT: '0', YULAN_HTTP_PORT: '0', YULAN_EDGE_HTTP_PORT: '0',
      YULAN_MQTT_HOST: '127.0.0.1', YULAN_HTTP_HOST: '127.0.0.1', YULAN_SIM_DEVICES: '1', YULAN_SIM_RATE: '0.2', YULAN_SIM_SITES: 'jingan',
      YULAN_CARE_DEMO: '0', YULAN_DEMO_PAGER_PORT: '0',
    }, quietLogger, (l) => lines.push(l));
  }, 120_000);
  afterAll(async () => {
    await up?.close();
    tmp.cleanup();
  });

  it('registers env-serial-1 and fall-serial-1, which come online with values read from their ptys, and says so in the banner', async () => {
    expect(lines.join('\n')).toMatch(/Serial demo {4}env-serial-1 \(PMS5003\) and fall-serial-1 \(MR60FDA1\)/);
    const devs = await eventually(async () => {
      const r = await api<{ items: DeviceView[] }>(`http://127.0.0.1:${up.httpPort}`, up.adminToken!, '/api/v1/devices?site=jingan&limit=100');
      const env = r.body.items.find((d) => d.id === 'env-serial-1');
      const fall = r.body.items.find((d) => d.id === 'fall-serial-1');
      return env?.status === 'online' && env.lastValues && fall?.status === 'online' && fall.lastValues ? { env, fall } : undefined;
    }, 'serial demo devices online with values', 60_000);
    expect(devs.env.kind).toBe('env-monitor');
    expect(devs.env.lastValues!.fields.pm25_ugm3).toBeGreaterThan(0);
    expect(devs.fall.kind).toBe('fall-sensor');
    expect(devs.fall.lastValues!.fields).toHaveProperty('presence');
  });
});
