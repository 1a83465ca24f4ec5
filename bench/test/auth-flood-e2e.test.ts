import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceKind, KindSlug } from '@yulan/protos';
import { registerDevices, startStack, type Stack } from '../src/stack.js';

/**
 * Issue 11 case 4 across real `yulan` processes: wrong bearer tokens sent to the cloud from
 * 127.0.0.1 — the address the broker calls device-auth from, as in `yulan up` — must not
 * shut the broker out. Before, 20 of them made the cloud answer the broker 429 and a
 * registered device got CONNACK 3 for a minute.
 */
describe('wrong bearer tokens from the services\' address', () => {
  let stack: Stack;
  let device: { id: string; secret: string };

  beforeAll(async () => {
    stack = await startStack(null);
    // Registered but never connected, so the broker has not cached its acceptance.
    const [registered] = await registerDevices(stack, [{ kind: DeviceKind.FALL_SENSOR, slug: KindSlug[DeviceKind.FALL_SENSOR] }], 1, 'auth-flood');
    device = registered!;
  }, 120_000);
  afterAll(async () => {
    await stack?.stop();
  });

  it('leave a registered device connecting with CONNACK 0 and the admin token working', async () => {
    const wrong = async (path: string, i: number, method = 'GET'): Promise<number> => {
      const res = await fetch(`${stack.cloudUrl}/api/v1${path}`, {
        method,
        headers: { authorization: `Bearer wrong-${i}`, 'content-type': 'application/json' },
        ...(method === 'POST' ? { body: JSON.stringify({ deviceId: device.id, secret: device.secret }) } : {}),
      });
      await res.arrayBuffer();
      return res.status;
    };
    const statuses: Record<string, number[]> = { admin: [], broker: [] };
    for (let i = 0; i < 25; i++) {
      statuses.admin!.push(await wrong('/devices', i));
      statuses.broker!.push(await wrong('/internal/device-auth', i, 'POST'));
    }

    const outcome = await mqtt
      .connectAsync(stack.mqttUrl, { clientId: device.id, username: device.id, password: device.secret, reconnectPeriod: 0, protocolVersion: 4 })
      .then(
        async (client) => {
          await client.endAsync();
          return { returnCode: 0 };
        },
        (err: { code?: number }) => ({ returnCode: err.code ?? -1 }),
      );
    expect(outcome, `${stack.broker.tail()}\n${stack.cloud.tail()}`).toEqual({ returnCode: 0 });

    // The wrong tokens were refused all along, and the attacker's own budget is spent.
    const refused = [...Array<number>(20).fill(401), ...Array<number>(5).fill(429)];
    expect(statuses).toEqual({ admin: refused, broker: refused });
    expect(await wrong('/devices', 99)).toBe(429);
    const admin = await fetch(`${stack.cloudUrl}/api/v1/devices/${device.id}`, { headers: { authorization: `Bearer ${stack.adminToken}` } });
    expect(admin.status).toBe(200);
  });
});
