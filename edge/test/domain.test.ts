import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DeviceKind, Event, Presence, Telemetry, deviceTopic, Channel } from '@yulan/protos';
import {
  AddResult, Aggregator, MAX_TRACK, DeadLetterReason, Deduper, Outbox, SeqVerdict, WINDOW_MS,
  decodeMessage, loadEdgeConfig, planEviction, ConfigError, type StoreRecord,
} from '../src/index.js';

const NOW = Date.UTC(2024, 5, 1, 10, 0, 30);
const opts = { nowMs: NOW, maxFutureSkewMs: 300_000 };
const addr = { site: 'site-1', kind: DeviceKind.ENV_MONITOR, deviceId: 'env-1' } as const;
const topic = (ch: (typeof Channel)[keyof typeof Channel] = Channel.Telemetry) => deviceTopic(addr, ch);
const header = (over: Partial<{ deviceId: string; kind: DeviceKind; seq: number; tsMs: number }> = {}) =>
  ({ deviceId: 'env-1', kind: DeviceKind.ENV_MONITOR as DeviceKind, seq: 5, tsMs: NOW - 1000, firmwareVersion: '1.0', ...over });
const telemetry = (h = header()) => Telemetry.encode({ header: h, envMonitor: { pm25Ugm3: 12.5, temperatureC: 21 } });

describe('decodeMessage (validation)', () => {
  it('decodes a valid telemetry message into a reading with flattened fields', () => {
    const d = decodeMessage(topic(), telemetry(), opts);
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(d.record).toMatchObject({ type: 'reading', deviceId: 'env-1', site: 'site-1', kind: 'env-monitor', seq: 5, tsMs: NOW - 1000 });
    expect(d.record.type === 'reading' && d.record.fields.pm25_ugm3).toBe(12.5);
  });

  const bad: [string, string, Uint8Array, string][] = [
    ['unparseable topic', 'yulan/v1/site-1/toaster/x/telemetry', telemetry(), DeadLetterReason.BadTopic],
    ['garbage payload', topic(), new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f]), DeadLetterReason.Decode],
    ['missing envelope', topic(), Telemetry.encode({ envMonitor: { pm25Ugm3: 1 } }), DeadLetterReason.MissingHeader],
    ['device id mismatch', topic(), telemetry(header({ deviceId: 'env-2' })), DeadLetterReason.DeviceMismatch],
    ['kind mismatch', topic(), telemetry(header({ kind: DeviceKind.EV_CHARGER })), DeadLetterReason.KindMismatch],
    ['ts unset', topic(), telemetry(header({ tsMs: 0 })), DeadLetterReason.BadTs],
    ['ts far in the future', topic(), telemetry(header({ tsMs: NOW + 3_600_000 })), DeadLetterReason.TsInFuture],
    ['no reading', topic(), Telemetry.encode({ header: header() }), DeadLetterReason.EmptyReading],
    ['twin channel', topic(Channel.TwinReported), new Uint8Array([1]), DeadLetterReason.UnsupportedChannel],
  ];
  it.each(bad)('dead-letters %s', (_name, t, payload, reason) => {
    const d = decodeMessage(t, payload, opts);
    expect(d.ok).toBe(false);
    if (!d.ok) expect(d.reason).toBe(reason);
  });

  it('decodes events and presence, and checks presence identity', () => {
    const ev = decodeMessage(topic(Channel.Event), Event.encode({ header: header(), type: 'env.alert', severity: 2, message: 'pm high' }), opts);
    expect(ev.ok && ev.record).toMatchObject({ type: 'event', eventType: 'env.alert', severity: 'warning', seq: 5 });
    const pr = decodeMessage(topic(Channel.Presence), Presence.encode({ deviceId: 'env-1', kind: DeviceKind.ENV_MONITOR, online: true, reason: 'birth' }), opts);
    expect(pr.ok && pr.record).toMatchObject({ type: 'presence', online: true, tsMs: NOW });
    const wrong = decodeMessage(topic(Channel.Presence), Presence.encode({ deviceId: 'other', kind: DeviceKind.ENV_MONITOR }), opts);
    expect(!wrong.ok && wrong.reason).toBe(DeadLetterReason.DeviceMismatch);
  });
});

describe('Deduper', () => {
  it('drops duplicates and accepts out-of-order seqs not yet seen', () => {
    const d = new Deduper();
    expect([10, 12, 11, 12, 10, 9, 9].map((s) => d.admit('a', s, NOW))).toEqual(
      ['new', 'new', 'new', 'duplicate', 'duplicate', 'new', 'duplicate']);
    expect(d.admit('b', 10, NOW)).toBe(SeqVerdict.New); // per device
  });

  it('rejects seqs further below than it tracks as stale, unless the device restarted its counter', () => {
    const d = new Deduper();
    d.admit('a', 500_000, NOW);
    expect(d.admit('a', 500_000 - MAX_TRACK - 1, NOW - 1)).toBe(SeqVerdict.Stale);
    expect(d.admit('a', 1, NOW + 10)).toBe(SeqVerdict.New);
    // A redelivery carries the same bytes, so the same device time.
    expect(d.admit('a', 1, NOW + 10)).toBe(SeqVerdict.Duplicate);
    expect(d.admit('a', 2, NOW + 12)).toBe(SeqVerdict.New);
  });

  it('accepts a redelivered backlog thousands of seqs late exactly once (edge reconnect under load)', () => {
    const d = new Deduper();
    // Newer messages overtake the broker's redelivery of 3,000 un-acked older ones.
    for (let s = 3001; s <= 5000; s++) expect(d.admit('a', s, NOW)).toBe(SeqVerdict.New);
    for (let s = 1; s <= 3000; s++) expect(d.admit('a', s, NOW - 1)).toBe(SeqVerdict.New);
    for (let s = 1; s <= 5000; s++) expect(d.admit('a', s, NOW - 1)).toBe(SeqVerdict.Duplicate);
    expect(d.seen('a', 2500)).toBe(true);
    expect(d.seen('a', 5001)).toBe(false);
  });

  it('does not track a re-based counter: the skipped range never existed', () => {
    const d = new Deduper();
    d.admit('a', 5, NOW);
    expect(d.admit('a', 5 + 10 * MAX_TRACK, NOW + 1)).toBe(SeqVerdict.New);
    expect(d.exportState('a')?.[3]).toEqual([]);
    expect(d.admit('a', 6, NOW)).toBe(SeqVerdict.Stale);
  });

  it('admits every seq of any shuffled, duplicated stream exactly once (property)', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 3000 }),
      fc.array(fc.nat(), { maxLength: 600 }),
      fc.integer({ min: 0, max: 2 ** 31 }),
      (n, dupIdx, seed) => {
        const seqs = Array.from({ length: n }, (_, i) => i + 1);
        const stream = [...seqs, ...dupIdx.map((k) => seqs[k % n]!)];
        let x = seed || 1;
        for (let i = stream.length - 1; i > 0; i--) {
          x = (x * 1103515245 + 12345) >>> 0;
          const j = x % (i + 1);
          [stream[i], stream[j]] = [stream[j]!, stream[i]!];
        }
        const d = new Deduper();
        const admitted = stream.filter((s) => d.admit('a', s, NOW) === SeqVerdict.New);
        expect(admitted.length).toBe(n);
        expect(new Set(admitted).size).toBe(n);
      }), { numRuns: 150 });
  });

  it('survives a restart through export/import', () => {
    const d = new Deduper();
    for (const s of [1, 2, 3, 7]) d.admit('a', s, NOW);
    const snap = JSON.parse(JSON.stringify(d.exportState('a')));
    const d2 = new Deduper();
    d2.importState('a', snap);
    expect([1, 2, 3, 7, 4, 5, 8].map((s) => d2.admit('a', s, NOW))).toEqual(
      ['duplicate', 'duplicate', 'duplicate', 'duplicate', 'new', 'new', 'new']);
  });

  it('ignores a snapshot it does not understand instead of trusting it', () => {
    const d = new Deduper();
    d.importState('a', [1, 2, 'x'] as unknown as Parameters<Deduper['importState']>[1]);
    expect(d.deviceCount).toBe(0);
  });
});

describe('Aggregator', () => {
  const ref = { deviceId: 'env-1', site: 's', kind: 'env-monitor' as const };
  const W0 = Date.UTC(2024, 5, 1, 10, 0, 0);
  const mk = () => new Aggregator({ graceMs: 5000, lateRetentionMs: 120_000 });

  it('builds 1-minute windows with count/min/max/mean/last-by-ts, out of order included', () => {
    const a = mk();
    a.add(ref, W0 + 30_000, { t: 5 }, W0);
    a.add(ref, W0 + 10_000, { t: 1 }, W0); // older: must not become "last"
    a.add(ref, W0 + 50_000, { t: 3 }, W0);
    a.add(ref, W0 + 61_000, { t: 100 }, W0); // next window
    expect(a.collect(W0 + 60_000).aggregates).toEqual([]); // not past end + grace yet
    const { aggregates } = a.collect(W0 + 65_000);
    expect(aggregates).toEqual([{ type: 'aggregate', ...ref, windowStartMs: W0, fields: { t: { count: 3, min: 1, max: 5, mean: 3, last: 3 } } }]);
    expect(a.collect(W0 + 66_000).aggregates).toEqual([]); // emitted once
  });

  it('re-emits an updated aggregate for late data in a recently closed window', () => {
    const a = mk();
    a.add(ref, W0 + 1000, { t: 2 }, W0);
    expect(a.collect(W0 + WINDOW_MS + 5000).aggregates).toHaveLength(1);
    expect(a.add(ref, W0 + 2000, { t: 4 }, W0 + 70_000)).toBe(AddResult.Added);
    const again = a.collect(W0 + 71_000).aggregates;
    expect(again).toEqual([expect.objectContaining({ windowStartMs: W0, fields: { t: { count: 2, min: 2, max: 4, mean: 3, last: 4 } } })]);
  });

  it('refuses data for a window already forgotten instead of overwriting with a partial aggregate', () => {
    const a = mk();
    a.add(ref, W0 + 1000, { t: 2 }, W0);
    a.collect(W0 + 65_000);
    a.collect(W0 + 65_000 + 120_000); // retention elapsed on the edge clock
    expect(a.add(ref, W0 + 3000, { t: 9 }, W0 + 190_000)).toBe(AddResult.TooLate);
  });

  it('closes windows by the device clock too, and restores from a snapshot', () => {
    const a = mk();
    a.add(ref, W0 + 1000, { t: 2 }, W0);
    a.add(ref, W0 + WINDOW_MS + 6000, { t: 3 }, W0); // device watermark passes end + grace
    const snap = JSON.parse(JSON.stringify(a.exportState('env-1')));
    const b = mk();
    b.importState(snap);
    expect(b.collect(W0).aggregates.map((x) => x.windowStartMs)).toEqual([W0]);
  });
});

describe('outbox bound policy', () => {
  it('evicts oldest droppable rows first, then refuses incoming droppable ones, never events', () => {
    expect(planEviction({ depth: 5, droppableDepth: 5, maxRows: 10, incomingDroppable: 3, incomingKept: 0 })).toEqual({ evictOld: 0, dropIncoming: 0 });
    expect(planEviction({ depth: 10, droppableDepth: 6, maxRows: 10, incomingDroppable: 2, incomingKept: 2 })).toEqual({ evictOld: 4, dropIncoming: 0 });
    expect(planEviction({ depth: 10, droppableDepth: 1, maxRows: 10, incomingDroppable: 2, incomingKept: 2 })).toEqual({ evictOld: 1, dropIncoming: 2 });
  });

  const dir = mkdtempSync(join(tmpdir(), 'yulan-edge-outbox-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const rd = (seq: number): StoreRecord => ({ type: 'reading', deviceId: 'd', site: 's', kind: 'env-monitor', seq, tsMs: NOW, fields: { x: seq }, text: {} });
  const ev = (seq: number): StoreRecord => ({ type: 'event', deviceId: 'd', site: 's', kind: 'env-monitor', seq, tsMs: NOW, eventType: 'e', severity: 'info', message: '', attributes: {} });

  it('keeps SQLite within the bound, drops oldest telemetry, keeps every event, persists across reopen', () => {
    const path = join(dir, 'outbox.db');
    const o = new Outbox(path, 5);
    expect(o.commit([rd(1), ev(2), rd(3), rd(4)])).toBe(0);
    expect(o.commit([ev(5), rd(6), ev(7)])).toBe(2); // evicts readings 1 and 3
    expect(o.depth).toBe(5);
    const seqs = (b: ReturnType<Outbox['peek']>) => b?.records.map((r) => (r.type === 'reading' || r.type === 'event' ? r.seq : -1));
    expect(seqs(o.peek(100))).toEqual([2, 4, 5, 6, 7]);
    expect(o.commit([ev(8), ev(9), ev(10)])).toBe(2); // 4, 6 evicted; events beyond the bound kept
    expect(seqs(o.peek(100))).toEqual([2, 5, 7, 8, 9, 10]);
    const first = o.peek(2);
    o.release(first!.lastId);
    o.close();
    const o2 = new Outbox(path, 5);
    expect(o2.depth).toBe(4);
    expect(seqs(o2.peek(100))).toEqual([7, 8, 9, 10]);
    o2.close();
  });
});

describe('loadEdgeConfig', () => {
  const base = { YULAN_EDGE_MQTT_PASSWORD: 'pw', YULAN_EDGE_TOKEN: 'a-long-enough-edge-token' };
  it('applies documented defaults', () => {
    const c = loadEdgeConfig({ ...base, YULAN_DATA_DIR: '/tmp/y' });
    expect(c).toMatchObject({
      dataDir: '/tmp/y/edge', mqttUrl: 'mqtt://127.0.0.1:1883', mqttUsername: 'edge', clientId: 'edge:edge-1',
      httpHost: '127.0.0.1', httpPort: 8081, outboxMaxRows: 1_000_000, batchSize: 5000,
    });
    expect(c.influx).toBeUndefined();
    expect(loadEdgeConfig({ ...base, YULAN_INFLUX_URL: 'http://h:8086/' }).influx).toEqual({ url: 'http://h:8086', api: 'v1', db: 'yulan' });
  });
  it('takes a second edge client id in the broker service form <username>:<name> (docs/deploy.md)', () => {
    expect(loadEdgeConfig({ ...base, YULAN_EDGE_CLIENT_ID: 'edge:edge-2' }).clientId).toBe('edge:edge-2');
    expect(() => loadEdgeConfig({ ...base, YULAN_EDGE_CLIENT_ID: 'edge edge-2' })).toThrow(ConfigError);
  });
  it('lists every bad variable in one ConfigError', () => {
    let err: unknown;
    try {
      loadEdgeConfig({ YULAN_EDGE_HTTP_PORT: 'eighty', YULAN_INFLUX_URL: 'http://h', YULAN_INFLUX_API: 'v2', YULAN_BATCH_SIZE: '0' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const vars = (err as ConfigError).issues.map((i) => i.variable).sort();
    expect(vars).toEqual(['YULAN_BATCH_SIZE', 'YULAN_EDGE_HTTP_PORT', 'YULAN_EDGE_MQTT_PASSWORD', 'YULAN_EDGE_TOKEN',
      'YULAN_INFLUX_BUCKET', 'YULAN_INFLUX_ORG', 'YULAN_INFLUX_TOKEN']);
    expect((err as ConfigError).code).toBe('E_EDGE_CONFIG');
  });
});
