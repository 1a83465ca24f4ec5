import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOcppGatewayConfig, startOcppGateway, type OcppGatewayHandle } from '../src/index.js';
import { splitSiteCap } from '../src/ocpp/site-cap.js';
import { logger, RawChargePoint, startPlatform, waitFor, type Platform } from './harness.js';

/** Site power cap (YULAN_OCPP_SITE_LIMITS_A): two chargers on one site share its limit through
 * ChargePointMaxProfile, re-split as sessions start and stop. */
let p: Platform;
let gw: OcppGatewayHandle;
const cps: RawChargePoint[] = [];

beforeAll(async () => {
  p = await startPlatform();
  gw = await startOcppGateway(loadOcppGatewayConfig({ ...p.env, YULAN_OCPP_SITE_LIMITS_A: 'capsite=32,other=100' }), logger);
});
afterAll(async () => {
  for (const c of cps) c.close();
  await gw?.close();
  await p?.close();
});

type Frame = unknown[];
const siteProfiles = (cp: RawChargePoint): number[] => cp.calls
  .filter((f) => f[2] === 'SetChargingProfile')
  .map((f) => (f[3] as { csChargingProfiles: { chargingProfilePurpose: string; chargingSchedule: { chargingSchedulePeriod: { limit: number }[] } } }).csChargingProfiles)
  .filter((c) => c.chargingProfilePurpose === 'ChargePointMaxProfile')
  .map((c) => c.chargingSchedule.chargingSchedulePeriod[0]!.limit);
const lastLimit = (cp: RawChargePoint): number | undefined => siteProfiles(cp).at(-1);
const limitIs = (cp: RawChargePoint, a: number, what: string): Promise<true> => waitFor(() => lastLimit(cp) === a || undefined, what);

async function boot(id: string): Promise<RawChargePoint> {
  const cp = await RawChargePoint.connect(gw.url, id, await p.addCharger(id, 'capsite'));
  cps.push(cp);
  expect((await cp.call('BootNotification', { chargePointVendor: 'V', chargePointModel: 'M' }))[2]).toMatchObject({ status: 'Accepted' });
  await cp.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Available' });
  return cp;
}
let t = Date.parse('2026-01-01T00:00:00Z');
const start = async (cp: RawChargePoint): Promise<number> =>
  ((await cp.call('StartTransaction', { connectorId: 1, idTag: 'CARD', meterStart: 1000, timestamp: new Date(t += 1000).toISOString() }))[2] as { transactionId: number }).transactionId;
const stop = async (cp: RawChargePoint, tx: number): Promise<Frame> =>
  cp.call('StopTransaction', { transactionId: tx, meterStop: 2000, timestamp: new Date(t += 1000).toISOString(), reason: 'Local' });

describe('splitSiteCap', () => {
  it('splits over active connectors, gives an idle charger one more session\'s share, never sums above the cap', () => {
    expect(splitSiteCap(32, new Map([['a', 0], ['b', 0]]))).toEqual(new Map([['a', 32], ['b', 32]]));
    expect(splitSiteCap(32, new Map([['a', 1], ['b', 0]]))).toEqual(new Map([['a', 32], ['b', 16]]));
    expect(splitSiteCap(32, new Map([['a', 2], ['b', 1], ['c', 0]]))).toEqual(new Map([['a', 21.3], ['b', 10.6], ['c', 8]]));
    expect(splitSiteCap(10, new Map([['a', 1], ['b', 1], ['c', 1]]))).toEqual(new Map([['a', 3.3], ['b', 3.3], ['c', 3.3]]));
  });
});

describe('YULAN_OCPP_SITE_LIMITS_A', () => {
  it('parses site=amps pairs and refuses anything else, naming the variable', () => {
    expect([...loadOcppGatewayConfig({ ...p.env, YULAN_OCPP_SITE_LIMITS_A: 'a=32,b-2=12.5' }).siteLimitsA]).toEqual([['a', 32], ['b-2', 12.5]]);
    expect(loadOcppGatewayConfig(p.env).siteLimitsA.size).toBe(0);
    for (const bad of ['a=', 'a=-3', 'a=32;b=4', '=5', 'a=1e3']) {
      expect(() => loadOcppGatewayConfig({ ...p.env, YULAN_OCPP_SITE_LIMITS_A: bad })).toThrow(/YULAN_OCPP_SITE_LIMITS_A/);
    }
  });
});

describe('site power cap across two chargers', () => {
  it('re-splits on boot, start and stop; a refused profile is counted and sent again at the next change', async () => {
    const a = await boot('CAP-A');
    await limitIs(a, 32, 'A alone gets the whole cap');
    const b = await boot('CAP-B');
    await limitIs(b, 32, 'B idle gets the whole cap too (no session yet)');

    const txA = await start(a);
    await limitIs(b, 16, 'B idle: half, the share a second session would get');
    expect(lastLimit(a)).toBe(32);
    const txB = await start(b);
    await limitIs(a, 16, 'A: half');
    await limitIs(b, 16, 'B: half');
    const sentBefore = gw.metrics.siteCapProfilesSent;
    await stop(a, txA);
    await limitIs(b, 32, 'B charging alone: the whole cap');
    // A idle keeps 16 A (what a second session would get): unchanged, so not sent again.
    expect(lastLimit(a)).toBe(16);
    expect(gw.metrics.siteCapProfilesSent).toBe(sentBefore + 1);
    // The charger's retry of the same StopTransaction is answered and changes no split.
    expect((await stop(a, txA))[0]).toBe(3);

    // The site cap shows up on the device in the platform.
    const ev = await waitFor(async () => {
      const r = await p.api<{ events: { type: string; attributes: Record<string, string> }[] }>('/api/v1/devices/CAP-B/events?limit=100');
      return r.body.events.find((e) => e.type === 'charger.site_limit' && e.attributes.limit_a === '32' && e.attributes.active_connectors === '1');
    }, 'charger.site_limit event stored');
    expect(ev.attributes.site_limit_a).toBe('32');

    // B refuses the next profile: counted, not remembered as applied, so the next change sends it again.
    b.answers.SetChargingProfile = () => ({ status: 'Rejected' });
    const rejectedBefore = gw.metrics.siteCapRejected;
    const txA2 = await start(a);
    await waitFor(() => gw.metrics.siteCapRejected > rejectedBefore || undefined, 'refusal counted');
    await limitIs(a, 16, 'A: half again');
    b.answers.SetChargingProfile = () => ({ status: 'Accepted' });
    await stop(b, txB);
    await limitIs(a, 32, 'A charging alone');
    await waitFor(() => (siteProfiles(b).filter((l) => l === 16).length >= 2 ? true : undefined), 'B sent its idle share again after the refusal');
    expect(lastLimit(b)).toBe(16);
    await stop(a, txA2);
  });
});

describe('a cloud cap for the site takes over', () => {
  it('once the cloud sends shares, YULAN_OCPP_SITE_LIMITS_A no longer re-splits that site', async () => {
    const c = await boot('CAP-C');
    const chargers = cps.filter((x) => !x.closed);
    expect(chargers).toHaveLength(3);
    const from = chargers.map((x) => siteProfiles(x).length);
    const put = async (capW: number) => expect((await p.api(`/api/v1/sites/capsite/power-cap`, { method: 'PUT', json: { capW } })).status).toBe(200);
    await put(19_800); // three online chargers: 6,600 W each = 10 A at 3 × 220 V
    for (const x of chargers) await limitIs(x, 10, 'the cloud share');
    const tx = await start(c); // the gateway's own split would now send 32 A / 16 A
    await put(39_600);
    for (const x of chargers) await limitIs(x, 20, 'the new cloud share');
    chargers.forEach((x, i) => {
      const since = siteProfiles(x).slice(from[i]);
      expect(since.slice(since.indexOf(10))).toEqual([10, 20]);
    });
    await stop(c, tx);
  });
});
