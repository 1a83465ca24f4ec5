import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOcppGatewayConfig, startOcppGateway, type OcppGatewayHandle } from '../src/index.js';
import { CloudIdTags } from '../src/ocpp/cloud-id-tags.js';
import { freePort, logger, RawChargePoint, startPlatform, waitFor, type Platform } from './harness.js';

/** The id tag list lives in the cloud (API), the gateway answers Authorize and
 * StartTransaction from its synced copy; chargers are raw OCPP-J frames. */
let p: Platform;
let gw: OcppGatewayHandle;
let cp: RawChargePoint;
let cpPudong: RawChargePoint;
const now = () => new Date().toISOString();
type TagView = { tag: string; site: string | null; status: string; effectiveStatus: string; expiryDate: string | null; parentIdTag: string | null };

const authorize = async (c: RawChargePoint, idTag: string): Promise<Record<string, unknown>> =>
  ((await c.call('Authorize', { idTag }))[2] as { idTagInfo: Record<string, unknown> }).idTagInfo;

beforeAll(async () => {
  p = await startPlatform();
  expect((await p.api('/api/v1/sites', { method: 'POST', json: { id: 'pudong', nameZh: '浦东', nameEn: 'Pudong', lat: 31.22, lon: 121.54 } })).status).toBe(201);
  gw = await startOcppGateway(loadOcppGatewayConfig(p.env), logger);
  const [k1, k2] = [await p.addCharger('CP-X1', 'xuhui'), await p.addCharger('CP-P1', 'pudong')];
  cp = await RawChargePoint.connect(gw.url, 'CP-X1', k1);
  cpPudong = await RawChargePoint.connect(gw.url, 'CP-P1', k2);
  for (const c of [cp, cpPudong]) expect((await c.call('BootNotification', { chargePointVendor: 'Acme', chargePointModel: 'AC22' }))[2]).toMatchObject({ status: 'Accepted' });
});
afterAll(async () => {
  cp?.close();
  cpPudong?.close();
  await gw?.close();
  await p?.close();
});

describe('id tags managed in the cloud', () => {
  it('the API validates, refuses duplicates and audits; the sync feed takes the gateway token only', async () => {
    const add = await p.api<TagView>('/api/v1/id-tags', { method: 'POST', json: { tag: 'card-1', parentIdTag: 'fleet-a', expiryDate: '2099-01-01T00:00:00Z' } });
    expect(add.status).toBe(201);
    expect(add.body).toMatchObject({ tag: 'CARD-1', site: null, status: 'Accepted', effectiveStatus: 'Accepted', parentIdTag: 'FLEET-A', expiryDate: '2099-01-01T00:00:00.000Z' });
    expect((await p.api('/api/v1/id-tags', { method: 'POST', json: { tag: 'Card-1' } })).status).toBe(409);
    expect((await p.api<{ code: string }>('/api/v1/id-tags', { method: 'POST', json: { tag: 'x', site: 'nowhere' } })).body.code).toBe('E_VALIDATION');
    expect((await p.api('/api/v1/id-tags', { method: 'POST', json: { tag: 'has/slash' } })).status).toBe(400);
    expect((await p.api('/api/v1/id-tags', { method: 'POST', json: { tag: '123456789012345678901' } })).status).toBe(400);
    expect((await p.api('/api/v1/id-tags', { method: 'POST', json: { tag: 'bad-date', expiryDate: 'tomorrow' } })).status).toBe(400);
    expect((await p.api('/api/v1/id-tags/NOPE', { method: 'PATCH', json: { status: 'Blocked' } })).status).toBe(404);
    const audit = await p.api<{ items: { action: string; actor: string }[] }>('/api/v1/id-tags/card-1/audit');
    expect(audit.body.items).toEqual([expect.objectContaining({ action: 'add', actor: 'admin-token' })]);

    const feed = (token: string) => fetch(`${p.cloudUrl}/api/v1/internal/ocpp/id-tags?since=0`, { headers: { authorization: `Bearer ${token}` } });
    expect((await feed(p.adminToken)).status).toBe(401);
    expect((await feed(p.env.YULAN_BROKER_TOKEN!)).status).toBe(401);
    const ok = await feed(p.env.YULAN_GATEWAY_TOKEN!);
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { items: { tag: string }[] }).items.map((i) => i.tag)).toContain('CARD-1');
    // and the list itself is not for the gateway token
    expect((await fetch(`${p.cloudUrl}/api/v1/id-tags`, { headers: { authorization: `Bearer ${p.env.YULAN_GATEWAY_TOKEN}` } })).status).toBe(401);
  });

  it('Authorize and StartTransaction answer Accepted / Blocked / Expired / Invalid from the cloud list, with parent and expiry', async () => {
    expect(await gw.idTags.sync()).toBe(true);
    expect(await authorize(cp, 'card-1')).toEqual({ status: 'Accepted', parentIdTag: 'FLEET-A', expiryDate: '2099-01-01T00:00:00.000Z' });
    expect(await authorize(cp, 'never-listed')).toEqual({ status: 'Invalid' });

    expect((await p.api('/api/v1/id-tags/card-1', { method: 'PATCH', json: { status: 'Blocked' } })).status).toBe(200);
    await gw.idTags.sync();
    expect(await authorize(cp, 'CARD-1')).toMatchObject({ status: 'Blocked' });
    await cp.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Preparing', timestamp: now() });
    const start = await cp.call('StartTransaction', { connectorId: 1, idTag: 'card-1', meterStart: 0, timestamp: now() });
    expect((start[2] as { idTagInfo: { status: string } }).idTagInfo.status).toBe('Blocked');

    // unblocked, then expired by date
    await p.api('/api/v1/id-tags/card-1', { method: 'PATCH', json: { status: 'Accepted', expiryDate: '2001-01-01T00:00:00Z' } });
    await gw.idTags.sync();
    expect(await authorize(cp, 'card-1')).toMatchObject({ status: 'Expired', expiryDate: '2001-01-01T00:00:00.000Z' });
    const listed = await p.api<{ items: TagView[] }>('/api/v1/id-tags?status=Accepted');
    expect(listed.body.items.find((t) => t.tag === 'CARD-1')?.effectiveStatus).toBe('Expired');
  });

  it('a site entry applies at that site only and wins over the every-site entry', async () => {
    await p.api('/api/v1/id-tags', { method: 'POST', json: { tag: 'pd-only', site: 'pudong' } });
    await p.api('/api/v1/id-tags', { method: 'POST', json: { tag: 'staff-9' } });
    await p.api('/api/v1/id-tags', { method: 'POST', json: { tag: 'staff-9', site: 'pudong', status: 'Blocked' } });
    await gw.idTags.sync();
    expect(await authorize(cpPudong, 'pd-only')).toEqual({ status: 'Accepted' });
    expect(await authorize(cp, 'pd-only')).toEqual({ status: 'Invalid' });
    expect(await authorize(cp, 'staff-9')).toEqual({ status: 'Accepted' });
    expect(await authorize(cpPudong, 'staff-9')).toEqual({ status: 'Blocked' });
    const pd = await p.api<{ items: TagView[] }>('/api/v1/id-tags?site=pudong');
    expect(pd.body.items.map((t) => t.tag).sort()).toEqual(['PD-ONLY', 'STAFF-9']);
  });

  it('a removed tag is Invalid after the next sync; a new card works at once (Authorize pulls the list on a miss)', async () => {
    expect((await p.api('/api/v1/id-tags/pd-only?site=pudong', { method: 'DELETE' })).status).toBe(204);
    expect((await p.api('/api/v1/id-tags/pd-only?site=pudong', { method: 'DELETE' })).status).toBe(404);
    await gw.idTags.sync();
    expect(await authorize(cpPudong, 'pd-only')).toEqual({ status: 'Invalid' });
    // added again after the removal: no explicit sync, the charger's Authorize triggers one
    expect((await p.api('/api/v1/id-tags', { method: 'POST', json: { tag: 'pd-only', site: 'pudong' } })).status).toBe(201);
    await waitFor(async () => ((await authorize(cpPudong, 'pd-only')).status === 'Accepted' ? true : undefined), 'new card accepted');
  });

  it('with the cloud unreachable the gateway answers from its last list, also after a restart', async () => {
    const state = gw.idTags.state();
    expect(state.version).toBeGreaterThan(0);
    await p.cloud.close();
    expect(await gw.idTags.sync()).toBe(false);
    expect(gw.idTags.state().lastError).toMatch(/fetch failed|ECONNREFUSED|answered/);
    expect(await authorize(cp, 'staff-9')).toEqual({ status: 'Accepted' });
    expect(await authorize(cpPudong, 'staff-9')).toEqual({ status: 'Blocked' });
    expect(await authorize(cp, 'not-known')).toEqual({ status: 'Invalid' });

    // a fresh process on the same data dir, cloud still away: the copy on disk answers
    {
      const cfg = loadOcppGatewayConfig(p.env);
      const copy = new CloudIdTags({ dir: cfg.dataDir, cloudUrl: `http://127.0.0.1:${await freePort()}`, token: 'x'.repeat(32), syncMs: 60_000, logger });
      // the running gateway holds the same file; a reader beside it is what a restart sees
      expect(copy.state().version).toBe(state.version);
      expect(await copy.sync()).toBe(false);
      expect(copy.info('staff-9', 'xuhui')).toEqual({ status: 'Accepted' });
      expect(copy.info('pd-only', 'pudong')).toEqual({ status: 'Accepted' });
      await copy.close();
    }
  });
});
