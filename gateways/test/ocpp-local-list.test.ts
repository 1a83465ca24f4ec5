import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOcppGatewayConfig, startOcppGateway, type OcppGatewayHandle } from '../src/index.js';
import { logger, RawChargePoint, startPlatform, waitFor, type Platform } from './harness.js';

/** The cloud's id tag list pushed to chargers as their local authorization list
 * (GetLocalListVersion, SendLocalList Full / Differential), chargers as raw OCPP-J frames. */
let p: Platform;
let gw: OcppGatewayHandle;
const cps: RawChargePoint[] = [];
type Entry = { idTag: string; idTagInfo?: { status: string; expiryDate?: string; parentIdTag?: string } };
type Send = { listVersion: number; updateType: 'Full' | 'Differential'; localAuthorizationList: Entry[] };

/** A charger keeping a local list as the spec says; `mismatch` answers VersionMismatch to differentials once. */
function localListCharger(cp: RawChargePoint, opts: { mismatch?: boolean } = {}): { version: () => number; list: Map<string, Entry>; sends: Send[] } {
  let version = 0;
  let mismatch = opts.mismatch ?? false;
  const list = new Map<string, Entry>();
  const sends: Send[] = [];
  cp.answers.GetLocalListVersion = () => ({ listVersion: version });
  cp.answers.SendLocalList = (payload) => {
    const s = payload as unknown as Send;
    sends.push(s);
    if (s.updateType === 'Differential' && mismatch) { mismatch = false; return { status: 'VersionMismatch' }; }
    if (s.updateType === 'Full') list.clear();
    for (const e of s.localAuthorizationList ?? []) {
      if (e.idTagInfo) list.set(e.idTag, e);
      else list.delete(e.idTag);
    }
    version = s.listVersion;
    return { status: 'Accepted' };
  };
  return { version: () => version, list, sends };
}

async function boot(id: string, site: string, opts: { mismatch?: boolean } = {}) {
  const cp = await RawChargePoint.connect(gw.url, id, await p.addCharger(id, site));
  cps.push(cp);
  const charger = localListCharger(cp, opts);
  expect((await cp.call('BootNotification', { chargePointVendor: 'Acme', chargePointModel: 'AC22' }))[2]).toMatchObject({ status: 'Accepted' });
  return { cp, ...charger };
}

const tag = async (json: Record<string, unknown>) => expect((await p.api('/api/v1/id-tags', { method: 'POST', json })).status).toBe(201);

beforeAll(async () => {
  p = await startPlatform({ YULAN_OCPP_LOCAL_LIST: '1' });
  gw = await startOcppGateway(loadOcppGatewayConfig(p.env), logger);
  expect([201, 409]).toContain((await p.api('/api/v1/sites', { method: 'POST', json: { id: 'xuhui', nameZh: '徐汇', nameEn: 'Xuhui', lat: 31.18, lon: 121.43 } })).status);
  await tag({ tag: 'all-1' });
  await tag({ tag: 'xh-1', site: 'xuhui', parentIdTag: 'fleet', expiryDate: '2099-01-01T00:00:00Z' });
  await tag({ tag: 'gone-1', status: 'Blocked' });
  expect(await gw.idTags.sync()).toBe(true);
});
afterAll(async () => {
  for (const c of cps) c.close();
  await gw?.close();
  await p?.close();
});

describe('local authorization list from the cloud list', () => {
  it('a booting charger gets the full list of its site; changes follow as differential updates', async () => {
    const c = await boot('CP-LL1', 'xuhui');
    await waitFor(() => (c.version() === gw.idTags.state().version ? true : undefined), 'full list pushed');
    expect(c.sends[0]!.updateType).toBe('Full');
    expect([...c.list.keys()].sort()).toEqual(['ALL-1', 'GONE-1', 'XH-1']);
    expect(c.list.get('XH-1')!.idTagInfo).toEqual({ status: 'Accepted', parentIdTag: 'FLEET', expiryDate: '2099-01-01T00:00:00.000Z' });
    expect(c.list.get('GONE-1')!.idTagInfo!.status).toBe('Blocked');

    await tag({ tag: 'new-1' });
    expect((await p.api('/api/v1/id-tags/all-1', { method: 'PATCH', json: { status: 'Blocked' } })).status).toBe(200);
    expect((await p.api('/api/v1/id-tags/gone-1', { method: 'DELETE' })).status).toBe(204);
    await gw.idTags.sync();
    await waitFor(() => (c.version() === gw.idTags.state().version ? true : undefined), 'differential pushed');
    const diff = c.sends.at(-1)!;
    expect(diff.updateType).toBe('Differential');
    expect(diff.localAuthorizationList.map((e) => e.idTag).sort()).toEqual(['ALL-1', 'GONE-1', 'NEW-1']);
    expect(diff.localAuthorizationList.find((e) => e.idTag === 'GONE-1')!.idTagInfo).toBeUndefined();
    expect([...c.list.keys()].sort()).toEqual(['ALL-1', 'NEW-1', 'XH-1']);
    expect(c.list.get('ALL-1')!.idTagInfo!.status).toBe('Blocked');
  });

  it('another site gets only its own and every-site tags; a charger already current gets nothing', async () => {
    expect((await p.api('/api/v1/sites', { method: 'POST', json: { id: 'pudong', nameZh: '浦东', nameEn: 'Pudong', lat: 31.22, lon: 121.54 } })).status).toBe(201);
    await tag({ tag: 'pd-1', site: 'pudong' });
    await gw.idTags.sync();
    const c = await boot('CP-LL2', 'pudong');
    await waitFor(() => (c.version() === gw.idTags.state().version ? true : undefined), 'pudong list pushed');
    expect([...c.list.keys()].sort()).toEqual(['ALL-1', 'NEW-1', 'PD-1']);
    // booting again while current: GetLocalListVersion only
    const sendsBefore = c.sends.length;
    const current = gw.metrics.localListSent.current ?? 0;
    await c.cp.call('BootNotification', { chargePointVendor: 'Acme', chargePointModel: 'AC22' });
    await waitFor(() => ((gw.metrics.localListSent.current ?? 0) > current ? true : undefined), 'found current');
    expect(c.sends.length).toBe(sendsBefore);
  });

  it('VersionMismatch on a differential is followed by a full update', async () => {
    const c = await boot('CP-LL3', 'xuhui', { mismatch: true });
    await waitFor(() => (c.version() === gw.idTags.state().version ? true : undefined), 'first full');
    await tag({ tag: 'late-1' });
    await gw.idTags.sync();
    await waitFor(() => (c.version() === gw.idTags.state().version ? true : undefined), 'recovered');
    expect(c.sends.slice(-2).map((s) => s.updateType)).toEqual(['Differential', 'Full']);
    expect(c.list.has('LATE-1')).toBe(true);
    expect(c.list.has('XH-1')).toBe(true);
  });

  it('a charger without a local list (-1) is left alone', async () => {
    const cp = await RawChargePoint.connect(gw.url, 'CP-LL4', await p.addCharger('CP-LL4', 'xuhui'));
    cps.push(cp);
    cp.answers.GetLocalListVersion = () => ({ listVersion: -1 });
    await cp.call('BootNotification', { chargePointVendor: 'Acme', chargePointModel: 'AC22' });
    await waitFor(() => ((gw.metrics.localListSent.unsupported ?? 0) > 0 ? true : undefined), 'found unsupported');
    await tag({ tag: 'after-1' });
    await gw.idTags.sync();
    // the other chargers got the change; this one was asked nothing more
    await waitFor(() => (cps[0]!.calls.some((f) => f[2] === 'SendLocalList' && JSON.stringify(f[3]).includes('AFTER-1')) ? true : undefined), 'others updated');
    expect(cp.calls.filter((f) => f[2] === 'SendLocalList')).toEqual([]);
    expect(cp.calls.filter((f) => f[2] === 'GetLocalListVersion')).toHaveLength(1);
  });
});
