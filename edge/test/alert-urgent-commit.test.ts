import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { Channel, DeviceKind, Event, Severity, Telemetry, deviceTopic } from '@yulan/protos';
import { AlertPipeline, AlertStore, CareRules, Ingestor, LatestCache, Outbox, createMetrics, type StoreRecord } from '../src/index.js';

// An urgent alert revision commits (and releases its ack and every ack before it) at once,
// instead of waiting for the ingest linger behind a burst of telemetry. The linger is set to
// an hour here so that only the urgent path can have committed anything.
const logger = pino({ level: 'silent' });
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function setup(opts: { failOutboxCommits?: number } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'yulan-urgent-commit-'));
  dirs.push(dir);
  const store = new AlertStore(join(dir, 'alerts.db'));
  const outbox = new Outbox(join(dir, 'outbox.db'), 10_000);
  let fail = opts.failOutboxCommits ?? 0;
  const original = outbox.commit.bind(outbox);
  outbox.commit = (records: StoreRecord[], states) => {
    if (fail > 0) {
      fail--;
      throw new Error('disk full');
    }
    return original(records, states);
  };
  const metrics = createMetrics();
  let alertWakes = 0;
  const pipeline = new AlertPipeline(store, new CareRules(store), metrics, logger, { watchSinceMs: Date.now(), warmupMs: 60_000 },
    () => alertWakes++);
  const failures = { n: 0 };
  const ingest = new Ingestor(outbox, metrics, new LatestCache(), logger, {
    maxFutureSkewMs: 300_000, maxPending: 10_000, linger: 3_600_000, graceMs: 10_000, lateRetentionMs: 600_000, alerts: pipeline,
  }, () => {}, () => failures.n++);
  const acked: string[] = [];
  const seqs = new Map<string, number>();
  const yields: string[] = [];
  const send = (deviceId: string, label: string, body: { event?: { type: string; severity: Severity; attributes?: Record<string, string> }; seq?: number }): void => {
    const seq = body.seq ?? (seqs.get(deviceId) ?? 0) + 1;
    seqs.set(deviceId, Math.max(seq, seqs.get(deviceId) ?? 0));
    const header = { deviceId, kind: DeviceKind.FALL_SENSOR, seq, tsMs: Date.now() };
    const addr = { site: 's', kind: DeviceKind.FALL_SENSOR, deviceId } as const;
    const payload = body.event
      ? Event.encode({ header, type: body.event.type, severity: body.event.severity, message: label, attributes: body.event.attributes ?? {} })
      : Telemetry.encode({ header, fallSensor: { presence: true, motion: 2, heartRateBpm: 70, batteryPct: 90 } });
    if (ingest.accept(deviceTopic(addr, body.event ? Channel.Event : Channel.Telemetry), payload, () => acked.push(label))) yields.push(label);
  };
  const close = (): void => {
    outbox.close();
    store.close();
  };
  return { store, outbox, ingest, metrics, acked, yields, send, failures, alertWakes: () => alertWakes, close };
}

const SOS = { type: 'sos.pressed', severity: Severity.CRITICAL };

describe('ingest: an urgent alert does not wait for the linger', () => {
  it('an SOS commits at once, acking the telemetry before it in arrival order; bulk telemetry still lingers', () => {
    const t = setup();
    t.send('fall-a', 'a1', {});
    t.send('fall-b', 'b1', {});
    expect(t.acked).toEqual([]);
    t.send('fall-c', 'c-sos', { event: SOS });
    expect(t.acked).toEqual(['a1', 'b1', 'c-sos']);
    expect(t.store.recent(10)).toMatchObject([{ deviceId: 'fall-c', type: 'sos', level: 'urgent', revision: 1 }]);
    expect(t.store.pendingCount()).toBe(1);
    expect(t.alertWakes()).toBe(1);
    expect(t.outbox.depth).toBe(3);

    // Back to bulk: telemetry and a non-urgent alert (battery low) wait for the linger/flush.
    t.send('fall-a', 'a2', {});
    t.send('fall-b', 'b-battery', { event: { type: 'battery.low', severity: Severity.WARNING, attributes: { battery_pct: '9' } } });
    expect(t.acked).toHaveLength(3);
    t.ingest.flush();
    expect(t.acked).toEqual(['a1', 'b1', 'c-sos', 'a2', 'b-battery']);
    expect(t.store.recent(10).map((a) => a.type).sort()).toEqual(['battery_low', 'sos']);
    // Only the urgent message asks the MQTT source to let the event loop turn (uplink first).
    expect(t.yields).toEqual(['c-sos']);
    t.close();
  });

  it('a fall confirmed by a long lie commits on the long lie, not on the (unconfirmed) fall', () => {
    const t = setup();
    t.send('fall-a', 'fall', { event: { type: 'fall.detected', severity: Severity.WARNING, attributes: { fall_id: 'f1', source: 'radar' } } });
    // A radar fall opens an unconfirmed alert (cancel window): nothing to page yet.
    expect(t.acked).toEqual([]);
    t.send('fall-a', 'long-lie', { event: { type: 'fall.long_lie', severity: Severity.CRITICAL, attributes: { fall_id: 'f1', lying_ms: '120000' } } });
    expect(t.acked).toEqual(['fall', 'long-lie']);
    expect(t.yields).toEqual(['long-lie']);
    const [alert] = t.store.recent(10);
    expect(alert).toMatchObject({ deviceId: 'fall-a', type: 'fall', level: 'urgent' });
    t.close();
  });

  it('an urgent commit whose outbox half fails acks nothing; the alert stands once, and its redelivery is not urgent again', () => {
    const t = setup({ failOutboxCommits: 1 });
    t.send('fall-a', 'a1', {});
    t.send('fall-c', 'c-sos', { event: SOS, seq: 5 });
    expect(t.acked).toEqual([]);
    expect(t.failures.n).toBe(1);
    // alerts.db committed first (Ingestor.flush): the alert is already on its way to the cloud.
    expect(t.store.recent(10)).toMatchObject([{ deviceId: 'fall-c', type: 'sos', revision: 1, eventCount: 1 }]);
    expect(t.store.pendingCount()).toBe(1);
    // The broker redelivers both; the rule state knows seq 5, so nothing is urgent and the
    // acks wait for the ordinary commit.
    t.send('fall-a', 'a1-again', { seq: 1 });
    t.send('fall-c', 'c-sos-again', { event: SOS, seq: 5 });
    expect(t.acked).toEqual([]);
    t.ingest.flush();
    expect(t.acked).toEqual(['a1-again', 'c-sos-again']);
    expect(t.outbox.depth).toBe(2);
    expect(t.store.recent(10)).toMatchObject([{ deviceId: 'fall-c', type: 'sos', revision: 1, eventCount: 1 }]);
    // A new SOS from the same device is urgent again (the alert gains an event: a new revision).
    t.send('fall-c', 'c-sos-2', { event: SOS });
    expect(t.acked).toEqual(['a1-again', 'c-sos-again', 'c-sos-2']);
    expect(t.yields).toEqual(['c-sos', 'c-sos-2']);
    expect(t.store.recent(10)).toMatchObject([{ deviceId: 'fall-c', type: 'sos', revision: 2, eventCount: 2 }]);
    expect(t.metrics.alertsRaised).toEqual({ sos: { urgent: 1 } });
    t.close();
  });
});
