import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { connectAsync, type MqttClient } from 'mqtt';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, logLines } from '@yulan/testkit';
import { startBroker, type BrokerHandle } from '../../broker/src/index.js';
import { BROKER_TOKEN, CLOUD_PASSWORD, testConfig } from '../../broker/test/helpers.js';
import { loadCloudConfig } from '../src/config.js';
import { startCloud, type CloudHandle } from '../src/start.js';
import { silentLogger, startEdgeStub, tempDir, waitFor, type EdgeStub } from './helpers.js';
import { usePostgres } from './pg-support.js';
import { PostgresDatabase } from '../src/db/postgres.js';

/**
 * Two cloud processes (two startCloud, each with its own data directory and its own pool)
 * on ONE real PostgreSQL database, behind one real broker that asks cloud B about device
 * logins: what one cloud writes, the other acts on.
 */
const pgs = usePostgres();

describe.skipIf(pgs.skip)('two clouds on one PostgreSQL database behind one broker', () => {
  const dirA = tempDir('yulan-cloud-a-');
  const dirB = tempDir('yulan-cloud-b-');
  const brokerDir = tempDir('yulan-broker-');
  let edge: EdgeStub;
  let broker: BrokerHandle;
  let a: CloudHandle;
  let b: CloudHandle;
  let token = '';
  let mqttUrl = '';
  let dbUrl = '';
  const clients: MqttClient[] = [];
  // Cloud A's log lines, to read what its start says about the database.
  const { stream: logStreamA, lines: logA } = logLines<{ msg: string; database?: string; sqliteStores?: string[] }>();
  const loggerA = pino({ level: 'info' }, logStreamA);

  const env = (dir: string, port: number, url: string): Record<string, string> => ({
    YULAN_DATA_DIR: dir, YULAN_HTTP_HOST: '127.0.0.1', YULAN_HTTP_PORT: String(port), YULAN_MQTT_URL: mqttUrl,
    YULAN_CLOUD_MQTT_PASSWORD: CLOUD_PASSWORD, YULAN_BROKER_TOKEN: BROKER_TOKEN, YULAN_EDGE_URL: edge.url,
    YULAN_EDGE_TOKEN: edge.token, YULAN_DATABASE_URL: url,
  });
  const api = async (cloud: CloudHandle, path: string, init: RequestInit = {}): Promise<Response> =>
    fetch(cloud.url + path, { ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...init.headers } });
  const device = async (cloud: CloudHandle, id: string): Promise<{ status: string; lastSeen: string | null }> =>
    (await (await api(cloud, `/api/v1/devices/${id}`)).json()) as never;

  beforeAll(async () => {
    const url = await pgs.server().createDatabase(`two_clouds_${process.pid}`);
    dbUrl = url;
    edge = await startEdgeStub();
    // The broker asks cloud B (a port picked now) about every device login.
    const portB = await freePort();
    broker = await startBroker(await testConfig(brokerDir.dir, { YULAN_CLOUD_URL: `http://127.0.0.1:${portB}` }), silentLogger);
    mqttUrl = `mqtt://127.0.0.1:${broker.mqttPort}`;
    a = await startCloud(loadCloudConfig(env(dirA.dir, 0, url)), loggerA, { dashboardDir: null });
    // Clouds on one database share the first one's key files (docs/deploy.md); a cloud with its
    // own complaints.key is refused at start (two-clouds-integrations.test.ts).
    mkdirSync(join(dirB.dir, 'cloud'), { recursive: true, mode: 0o700 });
    copyFileSync(join(dirA.dir, 'cloud', 'complaints.key'), join(dirB.dir, 'cloud', 'complaints.key'));
    b = await startCloud(loadCloudConfig(env(dirB.dir, portB, url)), silentLogger, { dashboardDir: null });
    token = a.adminToken ?? '';
    for (const c of [a, b]) await waitFor(async () => ((await (await fetch(`${c.url}/healthz`)).json()) as { mqtt: boolean }).mqtt, 'cloud mqtt connected');
  }, 60_000);
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    await a?.close();
    await b?.close();
    await broker?.close();
    await edge?.close();
    for (const d of [dirA, dirB, brokerDir]) d.cleanup();
  });

  it('the registry is in PostgreSQL, not a file, and the start log names the database and every store still in SQLite', async () => {
    for (const d of [dirA, dirB]) expect(existsSync(join(d.dir, 'cloud', 'registry.sqlite'))).toBe(false);
    const listening = logA.find((l) => l.msg.startsWith('cloud listening'));
    expect(listening?.msg).toMatch(/^cloud listening \(database: postgresql:\/\/yulan@127\.0\.0\.1:\d+\/two_clouds_\d+\)$/);
    expect(JSON.stringify(listening)).not.toContain(new URL(dbUrl).password);
    const stores = listening?.sqliteStores ?? [];
    expect(stores).not.toContain('registry.sqlite');
    for (const f of stores) expect(existsSync(join(dirA.dir, 'cloud', f))).toBe(true);
    if (stores.length > 0) expect(logA.some((l) => l.msg.includes('these stores are SQLite files'))).toBe(true);
  });

  it('the admin token made at the first cloud\'s start is the token of both, and only one was generated', async () => {
    expect(token.length).toBeGreaterThanOrEqual(40);
    expect(b.adminToken).toBeUndefined();
    expect((await api(b, '/api/v1/devices')).status).toBe(200);
    expect((await fetch(`${b.url}/api/v1/devices`)).status).toBe(401);
  });

  it('a device registered through cloud A logs in through the broker asking cloud B, and its presence lands once in the shared registry', async () => {
    const r = await api(a, '/api/v1/devices', { method: 'POST', body: JSON.stringify({ id: 'fall-9', site: 'hongkou', kind: 'fall-sensor' }) });
    expect(r.status).toBe(201);
    const { secret } = (await r.json()) as { secret: string };
    expect((await device(b, 'fall-9')).status).toBe('offline');
    const dev = await connectAsync(mqttUrl, { clientId: 'fall-9', username: 'fall-9', password: secret, reconnectPeriod: 0 });
    clients.push(dev);
    // Both clouds receive the broker's presence message and both apply it: one state, the
    // same seen from either cloud (the newer-wins rule makes the second write a no-op).
    const onA = await waitFor(async () => { const d = await device(a, 'fall-9'); return d.status === 'online' ? d : undefined; }, 'online through A');
    const onB = await waitFor(async () => { const d = await device(b, 'fall-9'); return d.status === 'online' ? d : undefined; }, 'online through B');
    expect(onB.lastSeen).toBe(onA.lastSeen);
    const counts = (await (await api(b, '/api/v1/fleet/counts')).json()) as { bySiteKind: { online: number; total: number }[]; lastHour: { wentOnline: number; registered: number } };
    expect(counts.bySiteKind).toEqual([expect.objectContaining({ site: 'hongkou', kind: 'fall-sensor', online: 1, total: 1 })]);
    expect(counts.lastHour).toMatchObject({ wentOnline: 1, registered: 1 });
  });

  it('disabling on cloud B cuts the device off; re-enabled on cloud A, it logs in again through B', async () => {
    const r = await api(a, '/api/v1/devices', { method: 'POST', body: JSON.stringify({ id: 'fall-10', site: 'hongkou', kind: 'fall-sensor' }) });
    const { secret } = (await r.json()) as { secret: string };
    const dev = await connectAsync(mqttUrl, { clientId: 'fall-10', username: 'fall-10', password: secret, reconnectPeriod: 0 });
    clients.push(dev);
    const closed = new Promise<void>((resolve) => dev.once('close', () => resolve()));
    const off = await api(b, '/api/v1/devices/fall-10/disable', { method: 'POST' });
    expect(off.status).toBe(200);
    await closed;
    expect((await device(a, 'fall-10')).status).toBe('disabled');
    const refused = await connectAsync(mqttUrl, { clientId: 'fall-10', username: 'fall-10', password: secret, reconnectPeriod: 0 }).then((c) => { clients.push(c); return 'connected'; }, (err: Error) => err.message);
    expect(refused).toMatch(/Not authorized|Bad username or password/i);
    expect((await api(a, '/api/v1/devices/fall-10/enable', { method: 'POST' })).status).toBe(200);
    const again = await connectAsync(mqttUrl, { clientId: 'fall-10', username: 'fall-10', password: secret, reconnectPeriod: 0 });
    clients.push(again);
    expect(again.connected).toBe(true);
  });

  it('an admin token rotated on cloud A stops working on cloud B once B re-reads it', async () => {
    const r = await api(a, '/api/v1/admin/token/rotate', { method: 'POST' });
    expect(r.status).toBe(200);
    const fresh = ((await r.json()) as { token: string }).token;
    const old = token;
    token = fresh;
    expect((await api(a, '/api/v1/devices')).status).toBe(200);
    // B re-reads the stored digest every 5 s; until then the old token still works there.
    // Polled with the old token (one refusal at the end, below the failed-login limit).
    await waitFor(async () => (await fetch(`${b.url}/api/v1/devices`, { headers: { authorization: `Bearer ${old}` } })).status === 401, 'the old token refused by B', 20_000);
    expect((await api(b, '/api/v1/devices')).status).toBe(200);
  });

  it('care retention runs on one cloud only: one holder of its lease, the other takes over when it stops', async () => {
    const db = new PostgresDatabase({ url: dbUrl, logger: silentLogger });
    try {
      const holders = async (): Promise<string[]> => (await db.query<{ holder: string }>('read', "SELECT holder FROM public.yulan_leases WHERE name = 'care-retention' AND expires_at > now()")).rows.map((r) => r.holder);
      const first = await waitFor(async () => { const h = await holders(); return h.length === 1 ? h[0] : undefined; }, 'one retention lease holder');
      // Cloud A took it during its start, before B existed; A stops, B takes it over.
      await a.close();
      await waitFor(async () => { const h = await holders(); return h.length === 1 && h[0] !== first ? h : undefined; }, 'the retention lease taken over', 30_000);
      expect((await api(b, '/api/v1/devices')).status).toBe(200);
    } finally { await db.close(); }
  });
});
