import { join } from 'node:path';
import { loadCloudConfig, startCloud } from '@yulan/cloud';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOcppGatewayConfig, startOcppGateway, type OcppGatewayHandle } from '../src/index.js';
import { wattsToAmps } from '../src/ocpp/site-cap.js';
import { runInProcess } from '../../cli/test/serial-support.js';
import { logger, RawChargePoint, startPlatform, waitFor, type Platform } from './harness.js';

/** The cloud's site power cap (docs/ocpp.md §4.1): set in W through the API, divided by the
 * cloud over the site's online chargers, which here sit on two different gateway processes
 * (each its own data dir), delivered as charger.set_site_limit and applied as a
 * ChargePointMaxProfile in A (3 phases × 220 V by default). */
let p: Platform;
let gw1: OcppGatewayHandle;
let gw2: OcppGatewayHandle;
const cps: RawChargePoint[] = [];
const SITE = 'pcap';

beforeAll(async () => {
  p = await startPlatform();
  gw1 = await startOcppGateway(loadOcppGatewayConfig(p.env), logger);
  gw2 = await startOcppGateway(loadOcppGatewayConfig({ ...p.env, YULAN_DATA_DIR: join(p.dir, 'gw2') }), logger);
});
afterAll(async () => {
  for (const c of cps) c.close();
  await gw1?.close();
  await gw2?.close();
  await p?.cloud.close().catch(() => {}); // restarted below: the harness closes only its first
  await p?.close();
});

type Profile = { chargingProfilePurpose: string; chargingSchedule: { chargingRateUnit: string; chargingSchedulePeriod: { limit: number }[] } };
const maxProfiles = (cp: RawChargePoint): Profile[] => cp.calls
  .filter((f) => f[2] === 'SetChargingProfile')
  .map((f) => (f[3] as { csChargingProfiles: Profile }).csChargingProfiles)
  .filter((c) => c.chargingProfilePurpose === 'ChargePointMaxProfile');
const lastLimit = (cp: RawChargePoint): number | undefined => maxProfiles(cp).at(-1)?.chargingSchedule.chargingSchedulePeriod[0]!.limit;
const limitIs = (cp: RawChargePoint, a: number, what: string): Promise<true> => waitFor(() => lastLimit(cp) === a || undefined, what);

interface CapView { site: string; capW: number; generation: number; updatedBy: string; chargers: { deviceId: string; online: boolean; limitW: number | null; commandStatus: string | null }[] }
const putCap = (capW: unknown, site = SITE) => p.api<CapView & { message?: string; code?: string }>(`/api/v1/sites/${site}/power-cap`, { method: 'PUT', json: { capW } });
const getCap = () => p.api<CapView>(`/api/v1/sites/${SITE}/power-cap`);
const shareOf = (v: CapView, id: string) => v.chargers.find((c) => c.deviceId === id);

const keys = new Map<string, string>();
/** the newest connection of each charger */
const live = new Map<string, RawChargePoint>();
async function connect(gw: OcppGatewayHandle, id: string): Promise<RawChargePoint> {
  if (!keys.has(id)) keys.set(id, await p.addCharger(id, SITE));
  const cp = await RawChargePoint.connect(gw.url, id, keys.get(id));
  cps.push(cp);
  live.set(id, cp);
  expect((await cp.call('BootNotification', { chargePointVendor: 'V', chargePointModel: 'M' }))[2]).toMatchObject({ status: 'Accepted' });
  await cp.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Available' });
  return cp;
}
const online = (id: string, want: boolean) => waitFor(async () => {
  const r = await p.api<{ status: string }>(`/api/v1/devices/${id}`);
  return (r.body.status === 'online') === want || undefined;
}, `${id} ${want ? 'online' : 'offline'} in the registry`);

describe('W → A', () => {
  it('divides by phases × nominal voltage and rounds down to 0.1 A', () => {
    expect(wattsToAmps(6600, 3, 220)).toBe(10);
    expect(wattsToAmps(7000, 1, 230)).toBe(30.4);
    expect(wattsToAmps(0, 3, 220)).toBe(0);
  });
  it('YULAN_OCPP_PHASES and YULAN_OCPP_NOMINAL_V are validated, naming the variable', () => {
    expect(loadOcppGatewayConfig({ ...p.env, YULAN_OCPP_PHASES: '1', YULAN_OCPP_NOMINAL_V: '230' }).siteLimitToAmps).toEqual({ phases: 1, voltageV: 230 });
    expect(loadOcppGatewayConfig(p.env).siteLimitToAmps).toEqual({ phases: 3, voltageV: 220 });
    expect(() => loadOcppGatewayConfig({ ...p.env, YULAN_OCPP_PHASES: '2' })).toThrow(/YULAN_OCPP_PHASES/);
    expect(() => loadOcppGatewayConfig({ ...p.env, YULAN_OCPP_NOMINAL_V: '-230' })).toThrow(/YULAN_OCPP_NOMINAL_V/);
  });
});

describe('site power cap from the cloud', () => {
  it('refuses bad caps with a clear error and changes nothing', async () => {
    await p.addCharger('PCAP-X', 'pcap-bad');
    for (const bad of [-5, 0, 1.5, 1e12, 'lots', null]) {
      const r = await putCap(bad, 'pcap-bad');
      expect(r.status, String(bad)).toBe(400);
      expect(r.body.message).toMatch(/capW/);
    }
    expect((await p.api('/api/v1/sites/pcap-bad/power-cap')).status).toBe(404);
    // Refused by the service and counted: every one but "lots", which the schema refuses
    // (null is coerced to 0 by the API's schema layer, then refused as 0).
    expect((await p.api<{ site_power_caps: { capsRefused: number } }>('/api/v1/metrics')).body.site_power_caps.capsRefused).toBe(5);
    const unknown = await putCap(10_000, 'no-such-site');
    expect(unknown.status).toBe(404);
    expect(unknown.body.message).toMatch(/no-such-site/);
    const anon = await fetch(`${p.cloudUrl}/api/v1/sites/${SITE}/power-cap`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"capW":1000}' });
    expect(anon.status).toBe(401);
  });

  it('two chargers on two gateways share the cap; a change re-sends; offline re-divides; back online re-divides', async () => {
    const a = await connect(gw1, 'PCAP-A');
    const b = await connect(gw2, 'PCAP-B');
    await online('PCAP-A', true);
    await online('PCAP-B', true);

    const set = await putCap(13_200);
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ site: SITE, capW: 13_200, updatedBy: 'admin-token' });
    // 13,200 W / 2 = 6,600 W each = 10 A per phase at 3 × 220 V, in A, on connector 0.
    await limitIs(a, 10, 'A: half the cap');
    await limitIs(b, 10, 'B: half the cap');
    expect(maxProfiles(a).at(-1)!.chargingSchedule.chargingRateUnit).toBe('A');
    const confirmed = await waitFor(async () => {
      const v = (await getCap()).body;
      return v.chargers.every((c) => c.commandStatus === 'succeeded') ? v : undefined;
    }, 'both shares confirmed by the chargers\' Accepted');
    expect(shareOf(confirmed, 'PCAP-A')).toMatchObject({ online: true, limitW: 6600 });
    expect(shareOf(confirmed, 'PCAP-B')).toMatchObject({ online: true, limitW: 6600 });

    // The share shows on the charger's events, as the gateway's own cap did.
    const ev = await waitFor(async () => {
      const r = await p.api<{ events: { type: string; attributes: Record<string, string> }[] }>('/api/v1/devices/PCAP-B/events?limit=100');
      return r.body.events.find((e) => e.type === 'charger.site_limit' && e.attributes.source === 'cloud');
    }, 'charger.site_limit event stored');
    expect(ev.attributes).toMatchObject({ limit_a: '10', limit_w: '6600', site_cap_w: '13200', chargers: '2' });

    // Changing the cap re-sends both profiles.
    expect((await putCap(26_400)).status).toBe(200);
    await limitIs(a, 20, 'A: half the new cap');
    await limitIs(b, 20, 'B: half the new cap');

    // B goes offline: A gets the whole cap.
    b.close();
    await online('PCAP-B', false);
    await limitIs(a, 40, 'A alone: the whole cap');
    const alone = (await getCap()).body;
    expect(shareOf(alone, 'PCAP-B')).toMatchObject({ online: false, limitW: null });

    // B back (through the other gateway this time): both halves again, B's sent afresh.
    const b2 = await connect(gw1, 'PCAP-B');
    await limitIs(b2, 20, 'B back: half');
    await limitIs(a, 20, 'A: half again');

    // A refuses its next profile: the command fails, and the next division sends it again
    // while B's unchanged share is not re-sent.
    a.answers.SetChargingProfile = () => ({ status: 'Rejected' });
    expect((await putCap(19_800)).status).toBe(200);
    await limitIs(b2, 15, 'B: half of 19,800 W');
    await waitFor(async () => shareOf((await getCap()).body, 'PCAP-A')?.commandStatus === 'failed' || undefined, 'A\'s refusal fails its command');
    a.answers.SetChargingProfile = () => ({ status: 'Accepted' });
    const bSent = maxProfiles(b2).length;
    expect((await putCap(19_800)).status).toBe(200);
    await limitIs(a, 15, 'A: sent again after its refusal');
    await waitFor(async () => shareOf((await getCap()).body, 'PCAP-A')?.commandStatus === 'succeeded' || undefined, 'A confirmed');
    expect(maxProfiles(b2).length).toBe(bSent);

    const audit = await p.api<{ items: { actor: string; detail: string }[] }>(`/api/v1/sites/${SITE}/power-cap/audit`);
    expect(audit.body.items.map((i) => JSON.parse(i.detail) as { capW: number }).map((d) => d.capW)).toEqual([19_800, 19_800, 26_400, 13_200]);
    expect(audit.body.items.every((i) => i.actor === 'admin-token')).toBe(true);

    // The same through the CLI: set re-divides, show lists the shares, a unit typo is refused.
    const env = { YULAN_CLOUD_URL: p.cloudUrl, YULAN_ADMIN_TOKEN: p.adminToken };
    const set2 = await runInProcess(['site', 'cap', 'set', SITE, '6600'], env);
    expect(set2.stdout).toContain(`site ${SITE}: cap 6600 W over 2 online chargers`);
    await limitIs(a, 5, 'A: half of 6,600 W');
    await limitIs(b2, 5, 'B: half of 6,600 W');
    const shown = await runInProcess(['site', 'cap', 'show', SITE, '--json'], env);
    expect((JSON.parse(shown.stdout) as CapView).chargers.map((c) => c.limitW)).toEqual([3300, 3300]);
    const typo = await runInProcess(['site', 'cap', 'set', SITE, '22kW'], env);
    expect(typo.code).not.toBe(0);
    expect(typo.stderr).toContain('whole number of watts');
    const neg = await runInProcess(['site', 'cap', 'set', SITE, '--', '-5'], env);
    expect(neg.code).not.toBe(0);
  });

  it('a share from an older division (a late delivery) is refused by the gateway and changes nothing', async () => {
    const a = live.get('PCAP-A')!;
    expect(lastLimit(a)).toBe(5);
    const before = maxProfiles(a).length;
    const { generation } = (await getCap()).body;
    const late = await p.api<{ id: string }>('/api/v1/devices/PCAP-A/commands', { method: 'POST',
      json: { name: 'charger.set_site_limit', args: { limit_w: 26_400, site_cap_w: 26_400, chargers: 1, generation: generation - 1 } } });
    expect(late.status).toBe(201);
    const done = await waitFor(async () => {
      const r = await p.api<{ status: string; message: string }>(`/api/v1/commands/${late.body.id}?wait=5`);
      return r.body.status === 'failed' ? r.body : undefined;
    }, 'late share refused');
    expect(done.message).toMatch(/superseded/);
    expect(maxProfiles(a).length).toBe(before);
    expect(lastLimit(a)).toBe(5);
  });

  it('a restarted cloud divides again and sends every online charger its share', async () => {
    const a = live.get('PCAP-A')!;
    const b = live.get('PCAP-B')!;
    const [na, nb] = [maxProfiles(a).length, maxProfiles(b).length];
    const { generation } = (await getCap()).body;
    await p.cloud.close();
    p.cloud = await startCloud(loadCloudConfig(p.env), logger, { dashboardDir: null });
    await waitFor(() => (maxProfiles(a).length > na && maxProfiles(b).length > nb) || undefined, 'both shares sent again');
    expect([lastLimit(a), lastLimit(b)]).toEqual([5, 5]);
    const after = await waitFor(async () => {
      const v = (await getCap()).body;
      return v.chargers.every((c) => c.commandStatus === 'succeeded') ? v : undefined;
    }, 'confirmed after the restart');
    expect(after.generation).toBeGreaterThan(generation);
    expect(after.capW).toBe(6600);
  });
  it('removing the cap clears every online charger\'s share profile, an offline one\'s when it returns; set again restores it', async () => {
    const a = live.get('PCAP-A')!;
    const b = live.get('PCAP-B')!;
    const clears = (cp: RawChargePoint): unknown[] => cp.calls.filter((f) => f[2] === 'ClearChargingProfile').map((f) => f[3]);
    // A is offline while the cap is removed: it keeps its share profile until it is back
    a.close();
    await online('PCAP-A', false);
    // B says it holds no such profile (rebooted meanwhile): as good as cleared
    b.answers.ClearChargingProfile = () => ({ status: 'Unknown' });
    const env = { YULAN_CLOUD_URL: p.cloudUrl, YULAN_ADMIN_TOKEN: p.adminToken };
    const cleared = await runInProcess(['site', 'cap', 'clear', SITE], env);
    expect(cleared.code, cleared.stderr).toBe(0);
    expect(cleared.stdout).toContain(`site ${SITE}: power cap removed`);
    await waitFor(() => clears(b).length > 0 || undefined, 'B asked to clear the site profile');
    expect(clears(b)).toEqual([{ id: 1002 }]);
    const done = await waitFor(async () => {
      const r = await p.api<{ items: { name: string; status: string; output: Record<string, string> }[] }>('/api/v1/devices/PCAP-B/commands?limit=5');
      return r.body.items.find((c) => c.name === 'charger.clear_site_limit' && c.status === 'succeeded');
    }, 'B\'s clear confirmed');
    expect(done.output.ocpp_status).toBe('Unknown');
    expect((await getCap()).status).toBe(404);
    // a second removal finds no cap; the audit names the removal and who did it
    expect((await p.api(`/api/v1/sites/${SITE}/power-cap`, { method: 'DELETE' })).status).toBe(404);
    const audit = await p.api<{ items: { action: string; actor: string; detail: string }[] }>(`/api/v1/sites/${SITE}/power-cap/audit`);
    expect(audit.body.items[0]).toMatchObject({ action: 'clear', actor: 'admin-token' });
    expect(JSON.parse(audit.body.items[0]!.detail)).toEqual({ previousW: 6600 });

    // A is back: its profile is cleared, and no share is sent
    const a2 = await connect(gw2, 'PCAP-A');
    await waitFor(() => clears(a2).length > 0 || undefined, 'A cleared after it came back');
    expect(clears(a2)).toEqual([{ id: 1002 }]);
    expect(maxProfiles(a2)).toEqual([]);

    // Setting a cap again divides it as before.
    expect((await putCap(13_200)).status).toBe(200);
    await limitIs(a2, 10, 'A: half the new cap');
    await limitIs(b, 10, 'B: half the new cap');
  });
});
