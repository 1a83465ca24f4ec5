import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AirIndexRecord, StoreRecord, TelemetryStore } from '../../src/index.js';

/** The ONE contract every TelemetryStore implementation must pass. */
export function storeContract(name: string, factory: () => Promise<{ store: TelemetryStore; cleanup(): Promise<void> }>, skip = false): void {
  describe.skipIf(skip)(`TelemetryStore contract: ${name}`, () => {
    let store: TelemetryStore;
    let cleanup: () => Promise<void>;
    const T0 = Date.UTC(2024, 4, 1, 12, 0, 0);
    const ref = { site: 'site-1', kind: 'env-monitor' as const };
    const reading = (deviceId: string, seq: number, tsMs: number, pm: number): StoreRecord => ({
      type: 'reading', deviceId, ...ref, seq, tsMs, fields: { pm25_ugm3: pm, noise_dba: 40 + seq }, text: { note: `s${seq}` },
    });

    beforeAll(async () => {
      ({ store, cleanup } = await factory());
      await store.init();
    });
    afterAll(async () => {
      await store?.close();
      await cleanup?.();
    });

    it('writes raw readings and reads them back in time order, filtered by range and fields', async () => {
      const recs = [3, 1, 2, 4].map((s) => reading('dev-a', s, T0 + s * 1000, s * 1.5));
      await store.write(recs);
      const all = await store.queryRaw({ deviceId: 'dev-a', fromMs: T0, toMs: T0 + 10_000, limit: 100 });
      expect(all.map((p) => p.seq)).toEqual([1, 2, 3, 4]);
      expect(all[0]).toEqual({ ts: T0 + 1000, seq: 1, fields: { pm25_ugm3: 1.5, noise_dba: 41 } });
      const some = await store.queryRaw({ deviceId: 'dev-a', fromMs: T0 + 2000, toMs: T0 + 4000, limit: 100, fields: ['pm25_ugm3'] });
      expect(some).toEqual([{ ts: T0 + 2000, seq: 2, fields: { pm25_ugm3: 3 } }, { ts: T0 + 3000, seq: 3, fields: { pm25_ugm3: 4.5 } }]);
      const limited = await store.queryRaw({ deviceId: 'dev-a', fromMs: T0, toMs: T0 + 10_000, limit: 2 });
      expect(limited.map((p) => p.seq)).toEqual([1, 2]);
      expect(await store.queryRaw({ deviceId: 'nobody', fromMs: T0, toMs: T0 + 10_000, limit: 10 })).toEqual([]);
    });

    it('is idempotent: replaying a batch does not duplicate', async () => {
      const recs = [1, 2, 3].map((s) => reading('dev-b', s, T0 + s, 10 + s));
      await store.write(recs);
      await store.write(recs);
      const pts = await store.queryRaw({ deviceId: 'dev-b', fromMs: T0, toMs: T0 + 1000, limit: 100 });
      expect(pts.map((p) => p.seq)).toEqual([1, 2, 3]);
    });

    it('keeps two readings of one device in the same millisecond apart by seq', async () => {
      await store.write([reading('dev-c', 7, T0, 1), reading('dev-c', 8, T0, 2)]);
      const pts = await store.queryRaw({ deviceId: 'dev-c', fromMs: T0, toMs: T0 + 1, limit: 10 });
      expect(pts.map((p) => [p.ts, p.seq, p.fields.pm25_ugm3])).toEqual([[T0, 7, 1], [T0, 8, 2]]);
    });

    it('upserts aggregates by (device, window): a re-emitted window overwrites', async () => {
      const agg = (count: number, last: number): StoreRecord => ({
        type: 'aggregate', deviceId: 'dev-d', ...ref, windowStartMs: T0,
        fields: { pm25_ugm3: { count, min: 1, max: 9, mean: 4.5, last } },
      });
      await store.write([agg(2, 3)]);
      await store.write([agg(5, 9)]);
      const pts = await store.queryAggregates({ deviceId: 'dev-d', fromMs: T0, toMs: T0 + 60_000, limit: 10 });
      expect(pts).toEqual([{ ts: T0, fields: { pm25_ugm3: { count: 5, min: 1, max: 9, mean: 4.5, last: 9 } } }]);
    });

    it('stores events (idempotently) and presence', async () => {
      const ev: StoreRecord = {
        type: 'event', deviceId: 'dev-e', site: 'site-1', kind: 'fall-sensor', seq: 42, tsMs: T0 + 5,
        eventType: 'fall.detected', severity: 'critical', message: 'fall in bathroom', attributes: { room: 'bath' },
      };
      const pres: StoreRecord = {
        type: 'presence', deviceId: 'dev-e', site: 'site-1', kind: 'fall-sensor', tsMs: T0, online: true, reason: 'birth', firmwareVersion: '1.2',
      };
      await store.write([ev, pres, ev]);
      const evs = await store.queryEvents({ deviceId: 'dev-e', fromMs: T0, toMs: T0 + 1000, limit: 10 });
      expect(evs).toEqual([{
        ts: T0 + 5, seq: 42, deviceId: 'dev-e', type: 'fall.detected', severity: 'critical', message: 'fall in bathroom', attributes: { room: 'bath' },
      }]);
    });

    it('reads presence back in a range, with the newest record before it', async () => {
      const p = (tsMs: number, online: boolean, fw: string): StoreRecord => ({
        type: 'presence', deviceId: 'dev-p', site: 'site-1', kind: 'ev-charger', tsMs, online, reason: online ? 'birth' : 'will', firmwareVersion: fw,
      });
      await store.write([p(T0, true, '1.0.0'), p(T0 + 100, false, ''), p(T0 + 200, true, '1.1.0'), p(T0 + 300, false, '')]);
      await store.write([p(T0 + 200, true, '1.1.0')]);
      const h = await store.queryPresence({ deviceId: 'dev-p', fromMs: T0 + 150, toMs: T0 + 1000, limit: 10 });
      expect(h.before).toEqual({ ts: T0 + 100, online: false, reason: 'will', firmware: '' });
      expect(h.points).toEqual([
        { ts: T0 + 200, online: true, reason: 'birth', firmware: '1.1.0' },
        { ts: T0 + 300, online: false, reason: 'will', firmware: '' },
      ]);
      const none = await store.queryPresence({ deviceId: 'dev-p', fromMs: T0 - 1000, toMs: T0, limit: 10 });
      expect(none).toEqual({ before: null, points: [] });
    });

    it('reports the latest reading per device', async () => {
      await store.write([reading('dev-f', 1, T0 + 10, 1), reading('dev-f', 2, T0 + 20, 2)]);
      const latest = await store.latest();
      const f = latest.find((l) => l.deviceId === 'dev-f');
      expect(f).toMatchObject({ deviceId: 'dev-f', site: 'site-1', kind: 'env-monitor', ts: T0 + 20, seq: 2, fields: { pm25_ugm3: 2 }, text: { note: 's2' } });
    });

    describe('air-quality indices and derived events', () => {
      const H = 3_600_000;
      const air = (o: Partial<AirIndexRecord> & Pick<AirIndexRecord, 'tsMs'>): AirIndexRecord => ({
        type: 'air-index', deviceId: 'env-9', site: 'site-9', kind: 'env-monitor', scope: 'device', measure: 'aqi',
        period: 'hour', endMs: o.tsMs + H, value: 75, values: { 'iaqi.pm25': 75, 'c.pm25': 55 },
        labels: { level: '2', category: '良', primary: 'pm25' }, ...o,
      });

      it('stores hourly and daily AQI and noise levels per device and per site, each read back by its key', async () => {
        await store.write([
          air({ tsMs: T0 }), air({ tsMs: T0 + H, value: null, values: {}, labels: { level: '', category: '', primary: '' } }),
          air({ tsMs: T0 + 2 * H, value: 120 }),
          air({ tsMs: T0, scope: 'site', deviceId: '', value: 80 }),
          air({ tsMs: T0, period: 'day', endMs: T0 + 24 * H, value: 99 }),
          air({ tsMs: T0, measure: 'noise', period: 'night', value: 51.5, values: { limit_dba: 50, minutes: 480 }, labels: { zone: '2', exceeded: 'true' } }),
        ]);
        const q = { scope: 'device' as const, id: 'env-9', measure: 'aqi' as const, period: 'hour' as const, fromMs: T0, toMs: T0 + 3 * H, limit: 10 };
        const hours = await store.queryAirIndex(q);
        expect(hours).toEqual([
          { ts: T0, endMs: T0 + H, site: 'site-9', value: 75, values: { 'iaqi.pm25': 75, 'c.pm25': 55 }, labels: { level: '2', category: '良', primary: 'pm25' } },
          { ts: T0 + H, endMs: T0 + 2 * H, site: 'site-9', value: null, values: {}, labels: { level: '', category: '', primary: '' } },
          { ts: T0 + 2 * H, endMs: T0 + 3 * H, site: 'site-9', value: 120, values: { 'iaqi.pm25': 75, 'c.pm25': 55 }, labels: { level: '2', category: '良', primary: 'pm25' } },
        ]);
        expect((await store.queryAirIndex({ ...q, fromMs: T0 + H, limit: 1 })).map((p) => p.ts)).toEqual([T0 + H]);
        expect((await store.queryAirIndex({ ...q, scope: 'site', id: 'site-9' })).map((p) => p.value)).toEqual([80]);
        expect((await store.queryAirIndex({ ...q, period: 'day' })).map((p) => [p.value, p.endMs])).toEqual([[99, T0 + 24 * H]]);
        const night = await store.queryAirIndex({ ...q, measure: 'noise', period: 'night' });
        expect(night).toEqual([{ ts: T0, endMs: T0 + H, site: 'site-9', value: 51.5, values: { limit_dba: 50, minutes: 480 }, labels: { zone: '2', exceeded: 'true' } }]);
        expect(await store.queryAirIndex({ ...q, id: 'nobody' })).toEqual([]);
      });

      it('a recomputed period overwrites, replaying a batch does not duplicate', async () => {
        const again = air({ tsMs: T0 + 5 * H, value: 60 });
        await store.write([again, again]);
        await store.write([air({ tsMs: T0 + 5 * H, value: 61 })]);
        const pts = await store.queryAirIndex({ scope: 'device', id: 'env-9', measure: 'aqi', period: 'hour', fromMs: T0 + 5 * H, toMs: T0 + 6 * H, limit: 10 });
        expect(pts.map((p) => p.value)).toEqual([61]);
      });

      it('keeps a derived event (negative seq) apart from a device event in the same millisecond, and updates it in place', async () => {
        const devEv: StoreRecord = {
          type: 'event', deviceId: 'env-9', ...ref, seq: 3, tsMs: T0, eventType: 'env.noise_exceeded', severity: 'warning', message: 'device', attributes: {},
        };
        const derived = (until: string): StoreRecord => ({
          type: 'event', deviceId: 'env-9', ...ref, seq: -1234, tsMs: T0, eventType: 'air.aqi_exceeded', severity: 'warning',
          message: 'AQI above 100', attributes: { since: new Date(T0).toISOString(), until },
        });
        await store.write([devEv, derived('')]);
        await store.write([derived(new Date(T0 + H).toISOString())]);
        const evs = await store.queryEvents({ deviceId: 'env-9', fromMs: T0, toMs: T0 + 1, limit: 10 });
        expect(evs.map((e) => [e.seq, e.type, e.attributes.until ?? null]).sort()).toEqual([
          [-1234, 'air.aqi_exceeded', new Date(T0 + H).toISOString()], [3, 'env.noise_exceeded', null],
        ]);
      });
    });

    describe('deleteRange (erasure)', () => {
      const D = 'dev-erase';
      const event = (seq: number, tsMs: number): StoreRecord => ({
        type: 'event', deviceId: D, site: 'site-1', kind: 'fall-sensor', seq, tsMs,
        eventType: 'fall.detected', severity: 'critical', message: `fall ${seq}`, attributes: {},
      });
      const agg = (deviceId: string, windowStartMs: number): StoreRecord => ({
        type: 'aggregate', deviceId, ...ref, windowStartMs, fields: { pm25_ugm3: { count: 1, min: 1, max: 1, mean: 1, last: 1 } },
      });
      const M = 60_000;
      // Linked period [T0 + 2 min + 30 s, T0 + 5 min): readings every 30 s from T0 to T0 + 7 min.
      const FROM = T0 + 2 * M + 30_000;
      const TO = T0 + 5 * M;
      const all = { deviceId: D, fromMs: T0 - M, toMs: T0 + 60 * M, limit: 1000 };

      beforeAll(async () => {
        const recs: StoreRecord[] = [];
        for (let i = 0; i <= 14; i++) recs.push(reading(D, i + 1, T0 + i * 30_000, i));
        for (let m = 0; m <= 7; m++) recs.push(agg(D, T0 + m * M));
        recs.push(event(100, T0 + M), event(101, FROM), event(102, TO - 1), event(103, TO));
        recs.push(reading('dev-other', 1, FROM + 1, 5), agg('dev-other', T0 + 3 * M));
        await store.write(recs);
      });

      it('removes readings and events in [from, to), the aggregates of overlapping windows, and keeps the rest', async () => {
        await store.deleteRange({ deviceId: D, fromMs: FROM, toMs: TO });
        const raw = await store.queryRaw(all);
        expect(raw.map((p) => p.ts)).toEqual([0, 1, 2, 3, 4, 10, 11, 12, 13, 14].map((i) => T0 + i * 30_000));
        const evs = await store.queryEvents(all);
        expect(evs.map((e) => e.seq)).toEqual([100, 103]);
        // windows 2 (straddles `from`), 3, 4 go; 5 starts at `to` and stays
        const aggs = await store.queryAggregates(all);
        expect(aggs.map((a) => (a.ts - T0) / M)).toEqual([0, 1, 5, 6, 7]);
        // another device's data in the same range is untouched
        expect((await store.queryRaw({ ...all, deviceId: 'dev-other' })).length).toBe(1);
        expect((await store.queryAggregates({ ...all, deviceId: 'dev-other' })).length).toBe(1);
      });

      it('is idempotent, and a range with no data is no error', async () => {
        await store.deleteRange({ deviceId: D, fromMs: FROM, toMs: TO });
        await store.deleteRange({ deviceId: 'never-seen', fromMs: FROM, toMs: TO });
        expect((await store.queryRaw(all)).length).toBe(10);
      });

      it('data written to the range afterwards is kept (a device linked to someone new)', async () => {
        await store.write([reading(D, 50, FROM + 1000, 42)]);
        const pts = await store.queryRaw({ ...all, fromMs: FROM, toMs: TO });
        expect(pts.map((p) => [p.seq, p.fields.pm25_ugm3])).toEqual([[50, 42]]);
      });

      it('latest() no longer reports an erased reading', async () => {
        const L = 'dev-latest';
        await store.write([reading(L, 1, T0, 1), reading(L, 2, T0 + 1000, 2), reading(L, 3, T0 + 2000, 3)]);
        await store.deleteRange({ deviceId: L, fromMs: T0 + 500, toMs: T0 + 10_000 });
        const l = (await store.latest()).find((p) => p.deviceId === L);
        expect(l).toMatchObject({ ts: T0, seq: 1, fields: { pm25_ugm3: 1 } });
        await store.deleteRange({ deviceId: L, fromMs: T0 - 1, toMs: T0 + 10_000 });
        expect((await store.latest()).find((p) => p.deviceId === L)).toBeUndefined();
      });
    });
  });
}
