import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOcppSimChargers, type OcppFleet } from '@yulan/device-sims';
import { loadOcppGatewayConfig, startOcppGateway, type OcppGatewayHandle } from '../src/index.js';
import { logger, startPlatform, waitFor, type Platform } from './harness.js';

/** The simulated OCPP charger (device-sims) through the gateway: commands succeed only when
 * its own reports show the effect, as for the MQTT simulators. */
let p: Platform;
let gw: OcppGatewayHandle;
let fleet: OcppFleet;
type Cmd = { id: string; status: string; message: string | null };

beforeAll(async () => {
  p = await startPlatform();
  gw = await startOcppGateway(loadOcppGatewayConfig(p.env), logger);
  fleet = await startOcppSimChargers({ gatewayUrl: gw.url, cloud: { url: p.cloudUrl, adminToken: p.adminToken }, site: 'xuhui', rate: 4, scripted: true }, logger);
});
afterAll(async () => {
  await fleet?.close();
  await gw?.close();
  await p?.close();
});

async function settle(id: string): Promise<Cmd> {
  return waitFor(async () => {
    const c = (await p.api<Cmd>(`/api/v1/commands/${id}`)).body;
    return ['succeeded', 'failed', 'timed_out', 'expired'].includes(c.status) ? c : undefined;
  }, `command ${id} settled`, 60_000);
}

describe('simulated OCPP charger', () => {
  it('comes online, then a remote start and a remote stop are confirmed by its reports', async () => {
    const id = fleet.ids[0]!;
    await waitFor(async () => (await p.api<{ status: string; lastValues: unknown }>(`/api/v1/devices/${id}`)).body.lastValues || undefined, 'online with values');
    expect((await p.api('/api/v1/id-tags', { method: 'POST', json: { tag: 'OPS-1' } })).status).toBe(201);
    expect(await gw.idTags.sync()).toBe(true);
    // scripted: no driver of the model's own arrives, so only the commands below move it
    const charger = fleet.chargers[0]!;
    await waitFor(() => (charger.status === 'Available' ? true : undefined), 'charger free', 60_000);
    const start = await p.api<Cmd>(`/api/v1/devices/${id}/commands`, { method: 'POST', json: { name: 'charger.start_session', args: { connector_id: 1, id_tag: 'OPS-1' } } });
    expect(start.status).toBe(201);
    const started = await settle(start.body.id);
    expect(started.message ?? '').toBe('');
    expect(started.status).toBe('succeeded');
    const stop = await p.api<Cmd>(`/api/v1/devices/${id}/commands`, { method: 'POST', json: { name: 'charger.stop_session', args: { connector_id: 1 } } });
    expect(await settle(stop.body.id)).toMatchObject({ status: 'succeeded' });
    const ev = await waitFor(async () => {
      const r = await p.api<{ events: { type: string; attributes: Record<string, string> }[] }>(`/api/v1/devices/${id}/events`);
      return r.body.events.find((e) => e.type === 'charger.session_stopped' && e.attributes.reason === 'Remote');
    }, 'remote stop recorded');
    expect(Number(ev.attributes.energy_kwh)).toBeGreaterThanOrEqual(0);
  });

  it('takes a site power cap as a ChargePointMaxProfile and gives it up when the cap is removed', async () => {
    const id = fleet.ids[0]!;
    const charger = fleet.chargers[0]!;
    const cmdsNamed = async (name: string): Promise<Cmd[]> =>
      (await p.api<{ items: (Cmd & { name: string })[] }>(`/api/v1/devices/${id}/commands?limit=50`)).body.items.filter((c) => c.name === name);
    // 13,200 W over the one charger = 20 A per phase at 3 × 220 V
    expect((await p.api('/api/v1/sites/xuhui/power-cap', { method: 'PUT', json: { capW: 13_200 } })).status).toBe(200);
    const share = await waitFor(async () => (await cmdsNamed('charger.set_site_limit'))[0], 'share sent');
    expect(await settle(share.id)).toMatchObject({ status: 'succeeded' });
    expect(charger.currentLimitA).toBe(20);
    expect((await p.api('/api/v1/sites/xuhui/power-cap', { method: 'DELETE' })).status).toBe(200);
    const clear = await waitFor(async () => (await cmdsNamed('charger.clear_site_limit'))[0], 'clear sent');
    expect(await settle(clear.id)).toMatchObject({ status: 'succeeded' });
    // no profile left: its hardware maximum
    expect(charger.currentLimitA).toBe(80);
  });
});
