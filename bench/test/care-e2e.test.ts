import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Channel, DeviceKind, Event, KindSlug, Severity, WebhookHeader, deviceTopic, signWebhook } from '@yulan/protos';
import { getJson, registerDevices, startStack, type Stack } from '../src/stack.js';
import { WebhookReceiver } from '../src/webhook-receiver.js';

/**
 * Elderly alerts across real `yulan` processes (broker, edge, cloud): an SOS reaches the
 * first family member; the cloud is SIGKILLed mid-ladder and restarted, and the ladder goes
 * on to the second family member without paging anyone twice; an SOS raised while the
 * cloud is down arrives once it is back; the edge is SIGKILLed and a replayed event makes
 * no second alert; the broker is SIGKILLed and the next SOS is paged once; a signed claim
 * from the webhook stops the ladder and tells the others.
 */
describe('elderly alerts across process kills', () => {
  const f1 = new WebhookReceiver();
  const f2 = new WebhookReceiver();
  let stack: Stack;
  let devs: { id: string; site: string; kind: number; secret: string }[];
  const clients: MqttClient[] = [];

  const admin = async <T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${stack.cloudUrl}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${stack.adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return (text ? JSON.parse(text) : {}) as T;
  };
  const until = async <T>(probe: () => T | Promise<T>, what: string, ms = 60_000): Promise<NonNullable<T>> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = await probe();
      if (v) return v as NonNullable<T>;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  /** Connects as device i and publishes an SOS with `seq` (seq 0: connect only). */
  const sos = async (i: number, seq: number): Promise<void> => {
    const d = devs[i]!;
    const c = await mqtt.connectAsync(stack.mqttUrl, { clientId: d.id, username: d.id, password: d.secret, reconnectPeriod: 0, protocolVersion: 4 }).catch((err: unknown) => { throw new Error(`${String(err)}\n${stack.broker.tail()}\n${stack.cloud.tail()}`); });
    clients.push(c);
    const addr = { site: d.site, kind: DeviceKind.FALL_SENSOR, deviceId: d.id } as const;
    const bytes = Event.encode({ header: { deviceId: d.id, kind: DeviceKind.FALL_SENSOR, seq, tsMs: Date.now() }, type: 'sos.pressed', severity: Severity.CRITICAL, message: 'SOS', attributes: {} });
    if (seq > 0) await c.publishAsync(deviceTopic(addr, Channel.Event), Buffer.from(bytes), { qos: 1 });
    await c.endAsync();
  };
  /** Distinct deliveries, as a receiver sees them: a delivery in flight when the cloud was
   * killed is re-sent once with the same id, which receivers drop (docs/care.md §3). */
  const pages = (r: WebhookReceiver, deviceId: string, kind = 'page') =>
    [...new Map(r.received.filter((x) => x.deviceId === deviceId && x.kind === kind).map((x) => [x.deliveryId, x])).values()];
  const kill = async (svc: Stack['cloud']): Promise<void> => {
    const gone = new Promise((r) => svc.proc.once('exit', r));
    svc.proc.kill('SIGKILL');
    await gone;
  };

  beforeAll(async () => {
    await f1.start();
    await f2.start();
    stack = await startStack({});
    devs = await registerDevices(stack, [{ kind: DeviceKind.FALL_SENSOR, slug: KindSlug[DeviceKind.FALL_SENSOR] }], 3, 'care-e2e');
    await admin('POST', '/communities', { id: 'c1', name: 'Community 1' });
    const p1 = await admin<{ person: { id: string }; webhookSecrets: { secret: string }[] }>('POST', '/people', { login: 'daughter', name: 'Daughter', role: 'family', channels: [{ type: 'webhook', address: f1.url }] });
    const p2 = await admin<{ person: { id: string }; webhookSecrets: { secret: string }[] }>('POST', '/people', { login: 'son', name: 'Son', role: 'family', channels: [{ type: 'webhook', address: f2.url }] });
    f1.secret = p1.webhookSecrets[0]!.secret;
    f2.secret = p2.webhookSecrets[0]!.secret;
    for (const [i, d] of devs.entries()) {
      await admin('POST', '/residents', { id: `r${i}`, name: `Resident ${i}`, communityId: 'c1', ladder: { cancelWindowSec: 0, familyAckSec: 30, reminderSec: 600 } });
      await admin('PUT', `/residents/r${i}/devices`, { deviceIds: [d.id] });
      await admin('PUT', `/residents/r${i}/family`, { contacts: [{ userId: p1.person.id }, { userId: p2.person.id }] });
    }
  }, 120_000);

  afterAll(async () => {
    for (const c of clients) c.end(true);
    await stack?.stop();
    await f1.stop();
    await f2.stop();
  });

  it('keeps the ladder going across a cloud SIGKILL, pages nobody twice, and takes a signed claim', async () => {
    const [a, b] = [devs[0]!.id, devs[1]!.id];
    // Known to the broker before the cloud goes down (it keeps admitting known devices).
    await sos(1, 0);
    await sos(0, 1);
    await until(() => pages(f1, a).length === 1, 'the first family member paged for resident 0');
    expect(pages(f2, a)).toHaveLength(0);

    await kill(stack.cloud);
    // Raised while the cloud is down: the edge keeps it and delivers it later.
    await sos(1, 1);
    // The broker's PUBACK is not the edge's: wait for the edge to hold the alert, so it is
    // raised while the cloud is down rather than after it is back.
    const edgeAlerts = async (deviceId: string) => (await getJson<{ alerts: unknown[] }>(`${stack.edgeUrl}/v1/alerts?deviceId=${deviceId}`, stack.edgeToken)).alerts;
    const edgeAlertsPending = async () => (await getJson<{ alertsPending: number }>(`${stack.edgeUrl}/metrics`, stack.edgeToken)).alertsPending;
    await until(async () => (await edgeAlerts(b)).length > 0, 'the edge to raise resident 1\'s alert while the cloud is down');
    await stack.restartCloud();

    await until(() => pages(f1, b).length === 1, 'resident 1 alert delivered after the cloud came back');
    // familyAckSec 30 s after the first page, the ladder (restored from disk) pages family 2.
    const second = await until(() => pages(f2, a)[0], 'the second family member paged after the restart', 90_000);
    expect(pages(f1, a)).toHaveLength(1);
    // At most one re-send, and only of the delivery the kill interrupted.
    const ids = [...f1.received, ...f2.received].map((r) => r.deliveryId);
    expect(ids.length - new Set(ids).size).toBeLessThanOrEqual(1);
    expect([...f1.received, ...f2.received].every((r) => r.signatureOk)).toBe(true);

    // Edge SIGKILL, then the device replays the same event: no second alert.
    await kill(stack.edge!);
    await stack.restartEdge();
    const replayedAt = Date.now();
    await sos(0, 1);
    // Count once the new edge process has taken the press in and the cloud has whatever it made
    // of it, rather than after a fixed wait: the replay (same seq, a newer time) is stored over
    // the first press, in the batch that commits any alert revision it caused.
    await until(async () => (await getJson<{ events: unknown[] }>(`${stack.edgeUrl}/v1/events?deviceId=${a}&from=${replayedAt}`, stack.edgeToken)).events.length > 0, 'the restarted edge to store the replayed SOS');
    await until(async () => (await edgeAlertsPending()) === 0, 'the edge to have sent the cloud every alert revision');
    const list = await admin<{ items: { deviceId: string }[] }>('GET', '/alerts?limit=50');
    expect(list.items.filter((x) => x.deviceId === a)).toHaveLength(1);
    expect((await admin<{ items: unknown[] }>('GET', '/alerts?limit=50')).items).toHaveLength(2);

    // Broker SIGKILL: edge and cloud reconnect by themselves; the next SOS is paged once.
    await kill(stack.broker);
    await stack.restartBroker();
    const c = devs[2]!.id;
    await until(async () => { try { await sos(2, 1); return true; } catch { return false; } }, 'device 2 connected after the broker restart');
    await until(() => pages(f1, c).length === 1, 'resident 2 paged after the broker restart')
      .catch((err: unknown) => { throw new Error(`${String(err)}\nEDGE:\n${stack.edge!.tail()}\nBROKER:\n${stack.broker.tail()}\nCLOUD:\n${stack.cloud.tail()}`); });
    // A second page would come from a second alert: count once the edge has nothing left to
    // send the cloud (each alert's revisions answered), rather than after a fixed wait.
    await until(async () => (await edgeAlertsPending()) === 0, 'the edge to have sent the cloud every alert revision');
    expect(pages(f1, c)).toHaveLength(1);
    expect((await admin<{ items: unknown[] }>('GET', '/alerts?limit=50')).items).toHaveLength(3);

    // The son claims from his phone (a signed callback); the daughter is told who has it.
    const body = JSON.stringify({ deliveryId: second.deliveryId });
    const ts = Date.now();
    const res = await fetch(`${stack.cloudUrl}/api/v1/notifications/${second.deliveryId}/ack`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [WebhookHeader.Timestamp]: String(ts), [WebhookHeader.Signature]: signWebhook(f2.secret!, ts, body) },
      body,
    });
    expect(res.status).toBe(200);
    await until(() => pages(f1, a, 'claimed').length === 1, 'the daughter told who claimed');
    const detail = await admin<{ alert: { status: string }; metrics: Record<string, number | null> }>('GET', `/alerts/${second.alertId}`);
    expect(detail.alert.status).toBe('acknowledged');
    expect(detail.metrics.acknowledgedMs).toBeGreaterThan(0);
  }, 180_000);
});
