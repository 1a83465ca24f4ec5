import fs from 'node:fs';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type BrokerHandle } from '../src/index.js';
import { BROKER_TOKEN, FakeDeviceAuth, logger, mqttClient, tempDir, testConfig } from './helpers.js';

// GET /admin/events against a real broker: the console's broker view is pushed, not polled.
describe('broker admin event stream', () => {
  const dir = tempDir('admin-events');
  const auth = new FakeDeviceAuth();
  let broker: BrokerHandle;
  let base: string;
  let mqttUrl: string;
  const open: MqttClient[] = [];

  beforeAll(async () => {
    auth.add('dev-e1');
    broker = await startBroker(await testConfig(dir), logger, { deviceAuth: auth });
    base = `http://127.0.0.1:${broker.wsPort}`;
    mqttUrl = `mqtt://127.0.0.1:${broker.mqttPort}`;
  });
  afterAll(async () => {
    for (const c of open) await c.endAsync(true).catch(() => undefined);
    await broker?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('refuses without the broker token', async () => {
    expect((await fetch(`${base}/admin/events`)).status).toBe(401);
  });

  it('sends the counters, then a batch when a client connects and another when it leaves', async () => {
    const abort = new AbortController();
    const res = await fetch(`${base}/admin/events`, { headers: { authorization: `Bearer ${BROKER_TOKEN}` }, signal: abort.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const until = async (pattern: RegExp): Promise<string> => {
      while (!pattern.test(text)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended before ${pattern}`);
        text += decoder.decode(value, { stream: true });
      }
      return text;
    };
    await until(/event: counters\ndata: \{.*"connections"/);
    const c = await mqttClient(mqttUrl, { clientId: 'dev-e1', username: 'dev-e1', password: 'secret-dev-e1' });
    open.push(c);
    await until(/event: clients\ndata: \[\{"id":"dev-e1","connected":true\}\]/);
    await c.endAsync();
    await until(/event: clients\ndata: \[\{"id":"dev-e1","connected":false\}\]/);
    abort.abort();
  });
});
