import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Motion, verifyWebhook } from '@yulan/protos';
import { loadEdgeConfig, startEdge, type EdgeConfig, type EdgeHandle } from '../src/index.js';
import { startFakeCloud, startSmtp } from './support/fake-cloud.js';
import { FallDevice, Severity } from './support/fall-device.js';
import { EDGE_PASS, connectDevice, startBroker, waitFor } from './support/harness.js';

const TOKEN = 'alerts-integration-token-0123456789';
const HOOK_SECRET = 'fallback-webhook-secret-0123';
const logger = pino({ level: 'silent' });

describe('edge alerts end to end (aedes + MQTT + SQLite + fake cloud + webhook + SMTP)', () => {
  let broker: Awaited<ReturnType<typeof startBroker>>;
  let cloud: Awaited<ReturnType<typeof startFakeCloud>>;
  let smtp: Awaited<ReturnType<typeof startSmtp>>;
  const dirs: string[] = [];
  const edges: EdgeHandle[] = [];
  const devices: FallDevice[] = [];
  let n = 0;

  beforeAll(async () => {
    [broker, cloud, smtp] = await Promise.all([startBroker(), startFakeCloud(TOKEN), startSmtp()]);
  });
  afterEach(async () => {
    for (const d of devices.splice(0)) await d.end().catch(() => {});
    for (const e of edges.splice(0)) await e.close();
    cloud.answerAlert = () => 200;
  });
  afterAll(async () => {
    await Promise.all([broker?.close(), cloud?.close(), smtp?.close()]);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  function edgeConfig(extra: Record<string, string> = {}): EdgeConfig {
    const dir = mkdtempSync(join(tmpdir(), 'yulan-edge-alerts-'));
    dirs.push(dir);
    const c = loadEdgeConfig({
      YULAN_DATA_DIR: dir, YULAN_MQTT_URL: broker.url, YULAN_EDGE_MQTT_PASSWORD: EDGE_PASS, YULAN_EDGE_TOKEN: TOKEN,
      YULAN_EDGE_HTTP_PORT: '0', YULAN_EDGE_CLIENT_ID: `edge-alerts-${++n}`, YULAN_CLOUD_URL: cloud.url, ...extra,
    });
    c.alerting = {
      ...c.alerting, uplinkMinBackoffMs: 50, uplinkMaxBackoffMs: 300, httpTimeoutMs: 2000, fallbackRetryDelaysMs: [100, 200],
      fallbackCheckMs: 100, careRulesRefreshMs: 200, warmupMs: 0,
    };
    return c;
  }
  async function start(c: EdgeConfig): Promise<EdgeHandle> {
    const e = await startEdge(c, logger);
    edges.push(e);
    await waitFor('edge connected', () => e.metrics().mqttConnected);
    return e;
  }
  async function stop(e: EdgeHandle): Promise<void> {
    edges.splice(edges.indexOf(e), 1);
    await e.close();
  }
  async function device(id: string): Promise<FallDevice> {
    const d = new FallDevice(await connectDevice(broker.url, id), id);
    devices.push(d);
    return d;
  }
  const acceptedFor = (deviceId: string) => cloud.accepted().filter((r) => r.deviceId === deviceId);
  const postsFor = (deviceId: string) => cloud.alerts.filter((r) => r.json?.deviceId === deviceId);

  it('fall.detected + fall.long_lie reach the cloud as one urgent confirmed alert', async () => {
    const edge = await start(edgeConfig());
    const dev = await device('fall-it-1');
    await dev.event('fall.detected', Severity.WARNING, { fall_id: 'f1', source: 'radar' });
    await dev.event('fall.long_lie', Severity.CRITICAL, { fall_id: 'f1', lying_ms: '120000' });
    await waitFor('confirmed alert at the cloud', () => acceptedFor('fall-it-1').some((r) => r.confirmed));
    const got = acceptedFor('fall-it-1');
    expect(new Set(got.map((r) => r.id)).size).toBe(1);
    const revs = got.map((r) => r.revision);
    expect(revs).toEqual([...revs].sort((a, b) => a - b));
    expect(got.at(-1)).toMatchObject({
      type: 'fall', level: 'urgent', state: 'open', skipCancelWindow: true, confirmed: true, eventCount: 2, site: 'site-1',
      edgeNotifications: [],
    });
    expect(got.at(-1).id).toMatch(/^al_[A-Za-z0-9_-]{22}$/);
    await waitFor('delivered', () => edge.metrics().alertsPending === 0);
    const m = edge.metrics();
    expect(m.alertsRaised.fall).toMatchObject({ urgent: 1 });
    expect(m.alertsDelivered).toBeGreaterThanOrEqual(1);
    const res = await fetch(`http://127.0.0.1:${edge.httpPort}/v1/alerts?deviceId=fall-it-1`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(((await res.json()) as any).alerts).toMatchObject([{ id: got.at(-1).id, level: 'urgent' }]);
    expect((await fetch(`http://127.0.0.1:${edge.httpPort}/v1/alerts`)).status).toBe(401);
  });

  it('retries while the cloud answers 503 or drops connections; the alert arrives once', async () => {
    let failures = 0;
    cloud.answerAlert = (r) => (r.deviceId === 'fall-it-2' && failures < 4 ? (failures++ % 2 === 0 ? 503 : 'drop') : 200);
    const edge = await start(edgeConfig());
    const dev = await device('fall-it-2');
    await dev.event('sos.pressed', Severity.CRITICAL, { at_ms: String(Date.now()) });
    await waitFor('sos accepted', () => acceptedFor('fall-it-2').length === 1);
    expect(failures).toBe(4);
    expect(acceptedFor('fall-it-2')[0]).toMatchObject({ type: 'sos', level: 'urgent', skipCancelWindow: true, revision: 1 });
    await waitFor('nothing pending', () => edge.metrics().alertsPending === 0);
    expect(edge.metrics().alertUplinkErrors).toBeGreaterThanOrEqual(4);
    expect(acceptedFor('fall-it-2')).toHaveLength(1);
  });

  it('cloud down past fallback-after: pages webhook + email once (also across a restart), then the cloud gets the attempts', async () => {
    cloud.answerAlert = (r) => (r.deviceId === 'fall-it-3' ? 503 : 200);
    const config = edgeConfig({
      YULAN_EDGE_FALLBACK_AFTER_SEC: '1',
      YULAN_EDGE_FALLBACK_WEBHOOK_URL: `${cloud.url}/hook?team=callcentre`, YULAN_EDGE_FALLBACK_WEBHOOK_SECRET: HOOK_SECRET,
      YULAN_EDGE_FALLBACK_SMTP_URL: smtp.url, YULAN_EDGE_FALLBACK_EMAIL_TO: 'callcentre@example.org',
    });
    let edge = await start(config);
    const dev = await device('fall-it-3');
    await dev.event('fall.detected', Severity.WARNING, { fall_id: 'f7', source: 'wearable' });
    const hooks = () => cloud.webhooks.filter((w) => w.json?.alert?.deviceId === 'fall-it-3');
    const mails = () => smtp.mails.filter((m) => m.raw.includes('fall-it-3'));
    await waitFor('webhook page and email', () => hooks().length === 1 && mails().length === 1);
    const hook = hooks()[0]!;
    expect(verifyWebhook(HOOK_SECRET, hook.headers['x-yulan-timestamp'] as string, hook.headers['x-yulan-signature'] as string, hook.body))
      .toEqual({ ok: true });
    expect(hook.headers['x-yulan-delivery']).toBe(hook.json.deliveryId);
    expect(hook.json).toMatchObject({ kind: 'page', alert: { type: 'fall', level: 'urgent', deviceId: 'fall-it-3' } });
    expect(mails()[0]).toMatchObject({ to: ['callcentre@example.org'] });
    await waitFor('pages counted', () => edge.metrics().fallbackPages.ok === 2);

    // Restart while the cloud is still down, and the resident's sensor confirms the fall.
    await stop(edge);
    edge = await start(config);
    await dev.event('fall.long_lie', Severity.CRITICAL, { fall_id: 'f7', lying_ms: '90000' });
    await waitFor('long lie stored', async () => {
      const res = await fetch(`http://127.0.0.1:${edge.httpPort}/v1/alerts?deviceId=fall-it-3`, { headers: { authorization: `Bearer ${TOKEN}` } });
      return ((await res.json()) as any).alerts[0]?.confirmed === true;
    });
    cloud.answerAlert = () => 200;
    await waitFor('cloud adopts the alert with the edge attempts', () =>
      acceptedFor('fall-it-3').some((r) => r.confirmed && r.edgeNotifications.length === 2));
    const last = acceptedFor('fall-it-3').at(-1);
    expect(last.edgeNotifications).toEqual(expect.arrayContaining([
      expect.objectContaining({ channel: 'webhook', ok: true, target: `${cloud.url}/hook` }),
      expect.objectContaining({ channel: 'email', ok: true, target: 'callcentre@example.org' }),
    ]));
    expect(new Set(postsFor('fall-it-3').map((r) => r.json.id)).size).toBe(1);
    expect(hooks()).toHaveLength(1);
    expect(mails()).toHaveLength(1);
  });

  it('a 400 from the cloud is dead-lettered and counted, not retried', async () => {
    cloud.answerAlert = (r) => (r.deviceId === 'fall-it-4' ? 400 : 200);
    const edge = await start(edgeConfig());
    const bad = await device('fall-it-4');
    await bad.event('battery.low', Severity.WARNING, { battery_pct: '12.0' });
    await waitFor('rejected', () => edge.metrics().alertsRejected === 1);
    // Another alert goes through afterwards: the uplink has moved on, not looped.
    const good = await device('fall-it-4b');
    await good.event('battery.low', Severity.WARNING, { battery_pct: '15.0' });
    await waitFor('second delivered', () => acceptedFor('fall-it-4b').length === 1 && edge.metrics().alertsPending === 0);
    expect(postsFor('fall-it-4')).toHaveLength(1);
    expect(edge.metrics().alertsRejected).toBe(1);
  });

  it('uses the cloud care rules (device_silent on a short heartbeat) and keeps them when the cloud answers garbage', async () => {
    cloud.careRules = () => ({ status: 200, body: JSON.stringify({
      timezone: 'Asia/Shanghai', utcOffsetMin: 480,
      devices: [{ deviceId: 'fall-it-5', residentId: 'r1', heartbeatSec: 1, routine: { wakeBy: '10:00', quietHours: null, inactivityHours: 24 } }],
    }) });
    const edge = await start(edgeConfig());
    await waitFor('care rules fetched', () => edge.metrics().careRulesAgeMs >= 0);
    const dev = await device('fall-it-5');
    await dev.telemetry({ motion: Motion.MOVING, movementLevel: 60 });
    const silent = () => acceptedFor('fall-it-5').filter((r) => r.type === 'device_silent');
    await waitFor('device_silent raised', () => silent().some((r) => r.state === 'open'));
    expect(silent()[0]).toMatchObject({ level: 'wellness' });
    await dev.telemetry();
    await waitFor('device_silent cleared', () => silent().some((r) => r.state === 'cleared'));
    expect(new Set(silent().map((r) => r.id)).size).toBe(1);

    const errorsBefore = edge.metrics().careRulesErrors;
    cloud.careRules = () => ({ status: 200, body: '{"devices": "not a list"' });
    await waitFor('garbage counted', () => edge.metrics().careRulesErrors >= errorsBefore + 2);
    cloud.careRules = () => ({ status: 200, body: JSON.stringify({ utcOffsetMin: 480, devices: 'nope' }) });
    await waitFor('schema errors counted', () => edge.metrics().careRulesErrors >= errorsBefore + 4);
    // The 1 s heartbeat is still in force (the default would take 3 minutes).
    await waitFor('silent again', () => new Set(silent().map((r) => r.id)).size === 2);
  });
});
