import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, createMetrics, loadEdgeConfig, Retention, SqliteStore, type StoreRecord } from '../src/index.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 5, 1);
const base = { YULAN_EDGE_MQTT_PASSWORD: 'pw', YULAN_EDGE_TOKEN: 'edge-token-0123456789' };

describe('retention settings', () => {
  it('defaults to 30 days raw, 2 years of aggregates, 5 years of events; 0 keeps forever', () => {
    expect(loadEdgeConfig(base).retention).toEqual({ rawDays: 30, aggregatesDays: 730, eventsDays: 1825 });
    expect(loadEdgeConfig({ ...base, YULAN_RETENTION_RAW_DAYS: '0', YULAN_RETENTION_EVENTS_DAYS: '3650' }).retention).toMatchObject({ rawDays: 0, eventsDays: 3650 });
  });
  it('names each bad variable', () => {
    let err: unknown;
    try { loadEdgeConfig({ ...base, YULAN_RETENTION_RAW_DAYS: '-1', YULAN_RETENTION_AGGREGATES_DAYS: '1.5' }); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).issues.map((i) => i.variable).sort()).toEqual(['YULAN_RETENTION_AGGREGATES_DAYS', 'YULAN_RETENTION_RAW_DAYS']);
  });
});

describe('Retention over the SQLite store', () => {
  let dir: string;
  let store: SqliteStore;
  const ref = { site: 's', kind: 'env-monitor' as const };
  // Each device: readings 10 and 40 days old, aggregates 40 and 800, events/presence 1000 and 2000.
  const records = (deviceId: string, n: number): StoreRecord[] => Array.from({ length: n }, (_, i) => [
    { type: 'reading', deviceId, ...ref, seq: i * 2, tsMs: NOW - 10 * DAY - i, fields: { x: 1 }, text: {} },
    { type: 'reading', deviceId, ...ref, seq: i * 2 + 1, tsMs: NOW - 40 * DAY - i, fields: { x: 1 }, text: {} },
    { type: 'aggregate', deviceId, ...ref, windowStartMs: NOW - 40 * DAY - i * 60_000, fields: {} },
    { type: 'aggregate', deviceId, ...ref, windowStartMs: NOW - 800 * DAY - i * 60_000, fields: {} },
    { type: 'event', deviceId, ...ref, seq: 100_000 + i * 2, tsMs: NOW - 1000 * DAY - i, eventType: 'e', severity: 'info', message: '', attributes: {} },
    { type: 'event', deviceId, ...ref, seq: 100_000 + i * 2 + 1, tsMs: NOW - 2000 * DAY - i, eventType: 'e', severity: 'info', message: '', attributes: {} },
    { type: 'presence', deviceId, ...ref, tsMs: NOW - 1000 * DAY - i, online: true, reason: '', firmwareVersion: '1' },
    { type: 'presence', deviceId, ...ref, tsMs: NOW - 2000 * DAY - i, online: false, reason: '', firmwareVersion: '1' },
  ] as StoreRecord[]).flat();
  const count = async (deviceId: string) => ({
    raw: (await store.queryRaw({ deviceId, fromMs: 0, toMs: NOW, limit: 1e6 })).length,
    agg: (await store.queryAggregates({ deviceId, fromMs: 0, toMs: NOW, limit: 1e6 })).length,
    events: (await store.queryEvents({ deviceId, fromMs: 0, toMs: NOW, limit: 1e6 })).length,
  });
  // The forwarder's `exclusive`: one chain, so store writes and prune batches never interleave.
  let chain: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => { const r = chain.then(fn); chain = r.catch(() => undefined); return r; };

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'yulan-retention-'));
    store = new SqliteStore(join(dir, 'telemetry.db'));
    await store.init();
    for (const d of ['dev-a', 'dev-b', 'dev-c']) await store.write(records(d, 25));
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('deletes only what is older than each kind\'s age, in small batches across every device, and a second pass finds nothing', async () => {
    const metrics = createMetrics();
    const r = new Retention(store, { rawDays: 30, aggregatesDays: 730, eventsDays: 1825 }, exclusive, metrics, pino({ level: 'silent' }),
      { batchRows: 7, pauseMs: 0, intervalMs: 1e9 }, () => NOW);
    // a device's writes keep arriving while the pass runs
    const pass = r.runOnce();
    const late = exclusive(() => store.write([{ type: 'reading', deviceId: 'dev-b', ...ref, seq: 999, tsMs: NOW - DAY, fields: { x: 2 }, text: {} }]));
    expect(await pass).toEqual({ readings: 75, aggregates: 75, events: 75, presence: 75 });
    await late;
    for (const d of ['dev-a', 'dev-c']) expect(await count(d)).toEqual({ raw: 25, agg: 25, events: 25 });
    expect(await count('dev-b')).toEqual({ raw: 26, agg: 25, events: 25 });
    expect(metrics.retentionPruned).toBe(300);
    expect(await r.runOnce()).toEqual({ readings: 0, aggregates: 0, events: 0, presence: 0 });
    expect(metrics.retentionPasses).toBe(2);
  });

  it('keeps a kind forever when its days are 0', async () => {
    const r = new Retention(store, { rawDays: 0, aggregatesDays: 730, eventsDays: 0 }, exclusive, createMetrics(), pino({ level: 'silent' }),
      { batchRows: 1000, pauseMs: 0, intervalMs: 1e9 }, () => NOW);
    expect(await r.runOnce()).toEqual({ aggregates: 75 });
    expect(await count('dev-a')).toEqual({ raw: 50, agg: 25, events: 50 });
  });
});
