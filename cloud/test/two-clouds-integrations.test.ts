import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCloudConfig } from '../src/config.js';
import { startCloud, type CloudHandle } from '../src/start.js';
import { cloudEnv, silentLogger, startBroker, startEdgeStub, tempDir, type EdgeStub, type TestBroker } from './helpers.js';
import { usePostgres } from './pg-support.js';

const ADMIN = 'admin-token-0123456789-abcdefghijklmnop';
const GATEWAY = 'gateway-token-0123456789-abcdefghijkl';
const pgs = usePostgres();
const tmp = tempDir('yulan-two-clouds-int-');
let broker: TestBroker;
let edge: EdgeStub;
const clouds: CloudHandle[] = [];
let url = '';

const env = (dir: string) => loadCloudConfig(cloudEnv(dir, broker, edge, 'cloud-pw', {
  YULAN_ADMIN_TOKEN: ADMIN, YULAN_GATEWAY_TOKEN: GATEWAY, YULAN_DATABASE_URL: url,
}));
const admin = (base: string, path: string, body?: unknown) => fetch(`${base}${path}`, {
  method: body === undefined ? 'GET' : 'POST',
  headers: { authorization: `Bearer ${ADMIN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
  ...(body === undefined ? {} : { body: JSON.stringify(body) }),
});

beforeAll(async () => {
  if (pgs.skip) return;
  url = await pgs.server().createDatabase(`two_clouds_${process.pid}`);
  broker = await startBroker({ cloud: 'cloud-pw' });
  edge = await startEdgeStub();
  clouds.push(await startCloud(env(join(tmp.dir, 'a')), silentLogger, { dashboardDir: null }));
  // The second cloud shares the database and, as docs/deploy.md says, the first one's complaints.key.
  mkdirSync(join(tmp.dir, 'b', 'cloud'), { recursive: true, mode: 0o700 });
  copyFileSync(join(tmp.dir, 'a', 'cloud', 'complaints.key'), join(tmp.dir, 'b', 'cloud', 'complaints.key'));
  clouds.push(await startCloud(env(join(tmp.dir, 'b')), silentLogger, { dashboardDir: null }));
});
afterAll(async () => {
  for (const c of clouds) await c.close();
  await edge?.close();
  await broker?.close();
  tmp.cleanup();
});

describe.skipIf(pgs.skip)('two clouds on one PostgreSQL database (integrations, complaints, id tags)', () => {
  it('keeps API tokens, complaints and id tags in PostgreSQL, not in the data directory', () => {
    for (const f of ['integrations.sqlite', 'complaints.sqlite', 'ocpp-id-tags.sqlite']) expect(existsSync(join(tmp.dir, 'a', 'cloud', f))).toBe(false);
  });

  it('an API token made on cloud A works on cloud B, and once revoked on A is refused on B at the next request', async () => {
    const [a, b] = clouds as [CloudHandle, CloudHandle];
    const made = await admin(a.url, '/api/v1/api-tokens', { scopes: ['telemetry:read'] });
    expect(made.status).toBe(201);
    const { token, apiToken } = (await made.json()) as { token: string; apiToken: { id: string } };
    const use = () => fetch(`${b.url}/api/v1/devices/env-404/telemetry`, { headers: { authorization: `Bearer ${token}` } });
    expect((await use()).status).toBe(404); // authenticated; the device is unknown
    expect((await admin(a.url, `/api/v1/api-tokens/${apiToken.id}/revoke`, {})).status).toBe(200);
    const refused = await use();
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { message: string }).message).toBe('API token revoked');
  });

  it('an id tag added on cloud A is in the gateways\' feed on cloud B', async () => {
    const [a, b] = clouds as [CloudHandle, CloudHandle];
    expect((await admin(a.url, '/api/v1/id-tags', { tag: 'card-77' })).status).toBe(201);
    const feed = await fetch(`${b.url}/api/v1/internal/ocpp/id-tags?since=0`, { headers: { authorization: `Bearer ${GATEWAY}` } });
    const body = (await feed.json()) as { version: number; items: { tag: string }[] };
    expect(body.items.map((i) => i.tag)).toContain('CARD-77');
    expect(body.version).toBeGreaterThanOrEqual(1);
  });

  it('a third cloud with its own complaints.key is refused at start: it could not read the others\' contacts', async () => {
    await expect(startCloud(env(join(tmp.dir, 'c')), silentLogger, { dashboardDir: null })).rejects.toThrow(/same complaints\.key/);
  });
});
