import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { DeviceKind, Event, Channel, deviceTopic } from '@yulan/protos';
import {
  AlertPipeline, AlertStore, CareRules, ConfigError, Ingestor, LatestCache, Outbox, PageStatus, createMetrics, isRetryableStatus,
  loadEdgeConfig, type AlertRecord, type StoreRecord,
} from '../src/index.js';

const logger = pino({ level: 'silent' });
const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'yulan-alert-store-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('fallback and cloud configuration', () => {
  const base = { YULAN_EDGE_MQTT_PASSWORD: 'pw', YULAN_EDGE_TOKEN: 'a-long-enough-edge-token' };
  const issues = (env: Record<string, string>): string[] => {
    try {
      loadEdgeConfig({ ...base, ...env });
      return [];
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as ConfigError).issues.map((i) => i.variable).sort();
    }
  };
  it('defaults: fallback after 60 s, no channel, no cloud', () => {
    const c = loadEdgeConfig(base);
    expect(c.fallback).toEqual({ afterMs: 60_000 });
    expect(c.cloudUrl).toBeUndefined();
  });
  it('parses a full fallback configuration', () => {
    const c = loadEdgeConfig({
      ...base, YULAN_CLOUD_URL: 'http://127.0.0.1:8080/', YULAN_EDGE_FALLBACK_AFTER_SEC: '30',
      YULAN_EDGE_FALLBACK_WEBHOOK_URL: 'https://cc.example.org/hook', YULAN_EDGE_FALLBACK_WEBHOOK_SECRET: 'sixteen-chars-secret',
      YULAN_EDGE_FALLBACK_SMTP_URL: 'smtp://mail:25', YULAN_EDGE_FALLBACK_EMAIL_TO: 'a@x.org, b@y.org',
      YULAN_EDGE_FALLBACK_EMAIL_FROM: 'Yulan <edge@x.org>',
    });
    expect(c.cloudUrl).toBe('http://127.0.0.1:8080');
    expect(c.fallback).toEqual({
      afterMs: 30_000, webhook: { url: 'https://cc.example.org/hook', secret: 'sixteen-chars-secret' },
      email: { smtpUrl: 'smtp://mail:25', to: ['a@x.org', 'b@y.org'], from: 'Yulan <edge@x.org>' },
    });
  });
  it('names every bad or half-configured variable', () => {
    expect(issues({ YULAN_EDGE_FALLBACK_WEBHOOK_URL: 'https://cc.example.org/hook' })).toEqual(['YULAN_EDGE_FALLBACK_WEBHOOK_SECRET']);
    expect(issues({ YULAN_EDGE_FALLBACK_WEBHOOK_SECRET: 'sixteen-chars-secret' })).toEqual(['YULAN_EDGE_FALLBACK_WEBHOOK_URL']);
    expect(issues({ YULAN_EDGE_FALLBACK_SMTP_URL: 'smtp://mail' })).toEqual(['YULAN_EDGE_FALLBACK_EMAIL_TO']);
    expect(issues({
      YULAN_CLOUD_URL: 'ftp://x', YULAN_EDGE_FALLBACK_AFTER_SEC: '0', YULAN_EDGE_FALLBACK_EMAIL_TO: 'not-an-address',
      YULAN_EDGE_FALLBACK_SMTP_URL: 'http://mail', YULAN_EDGE_FALLBACK_WEBHOOK_URL: 'https://h/x', YULAN_EDGE_FALLBACK_WEBHOOK_SECRET: 'short',
    })).toEqual(['YULAN_CLOUD_URL', 'YULAN_EDGE_FALLBACK_AFTER_SEC', 'YULAN_EDGE_FALLBACK_EMAIL_TO', 'YULAN_EDGE_FALLBACK_SMTP_URL',
      'YULAN_EDGE_FALLBACK_WEBHOOK_SECRET']);
  });
  it('classifies cloud answers: 408/429/5xx/network retry, other 4xx is permanent', () => {
    expect([0, 408, 429, 500, 503].every(isRetryableStatus)).toBe(true);
    expect([400, 401, 403, 404, 409, 422].some(isRetryableStatus)).toBe(false);
  });
});

describe('AlertStore', () => {
  it('assigns strictly increasing wire revisions (fallback pages add their own) and keeps newer revisions pending', () => {
    const s = new AlertStore(join(tmp(), 'alerts.db'));
    const rec: AlertRecord = {
      id: 'al_x', revision: 1, deviceId: 'd', site: 's', type: 'sos', level: 'urgent', state: 'open', skipCancelWindow: true,
      confirmed: false, openedAtMs: 1, updatedAtMs: 1, firstEventAtMs: 1, lastEventAtMs: 1, eventCount: 1, events: [], message: 'm',
    };
    s.commit([], [{ ...rec }], 1000);
    expect(s.dueForFallback(1500, 1000)).toEqual([]);
    expect(s.dueForFallback(2000, 1000).map((a) => a.id)).toEqual(['al_x']);
    s.beginFallback('al_x', [{ alertId: 'al_x', channel: 'webhook', deliveryId: 'edge-al_x-webhook' }]);
    expect(s.dueForFallback(9000, 1000)).toEqual([]);
    expect(s.unfinishedPages()).toEqual([{ alertId: 'al_x', channel: 'webhook', deliveryId: 'edge-al_x-webhook', status: 'sending' }]);
    s.recordAttempt('al_x', { channel: 'webhook', target: 'https://h/x', atMs: 2000, ok: true, attempt: 1 });
    s.finishPage('al_x', 'webhook', PageStatus.Sent, 2001);
    const [d] = s.duePending(3000, 10);
    expect(d).toMatchObject({ revision: 2, report: { revision: 2, edgeNotifications: [{ channel: 'webhook', ok: true }] } });
    // The rules' next change (their own revision 2) still becomes wire revision 3.
    s.commit([], [{ ...rec, revision: 2, eventCount: 2 }], 3000);
    s.markDelivered('al_x', 2, true); // an answer for an older revision
    expect(s.pendingCount()).toBe(1);
    expect(s.duePending(3000, 10)[0]?.revision).toBe(3);
    s.markDelivered('al_x', 3, true);
    expect(s.pendingCount()).toBe(0);
    s.close();
  });
});

describe('ingest ordering: alerts.db commits before outbox.db, replays count once', () => {
  it('an outbox failure after the alert commit neither loses nor doubles the alert', () => {
    const dir = tmp();
    const store = new AlertStore(join(dir, 'alerts.db'));
    const outbox = new Outbox(join(dir, 'outbox.db'), 1000);
    let failNext = true;
    const original = outbox.commit.bind(outbox);
    outbox.commit = (records: StoreRecord[], states) => {
      if (failNext) {
        failNext = false;
        throw new Error('disk full');
      }
      return original(records, states);
    };
    const metrics = createMetrics();
    const pipeline = new AlertPipeline(store, new CareRules(store), metrics, logger, { watchSinceMs: Date.now(), warmupMs: 60_000 });
    let redeliveries = 0;
    const ingest = new Ingestor(outbox, metrics, new LatestCache(), logger, { maxFutureSkewMs: 300_000, maxPending: 1, graceMs: 10_000, lateRetentionMs: 600_000, alerts: pipeline },
      () => {}, () => redeliveries++);
    const addr = { site: 's', kind: DeviceKind.FALL_SENSOR, deviceId: 'fall-x' } as const;
    const payload = Event.encode({ header: { deviceId: 'fall-x', kind: DeviceKind.FALL_SENSOR, seq: 7, tsMs: Date.now() }, type: 'sos.pressed', severity: 3 });
    let acks = 0;
    ingest.accept(deviceTopic(addr, Channel.Event), payload, () => acks++);
    expect([acks, redeliveries]).toEqual([0, 1]);
    ingest.accept(deviceTopic(addr, Channel.Event), payload, () => acks++); // the broker redelivers
    expect(acks).toBe(1);
    const all = store.recent(10);
    expect(all).toHaveLength(1);
    expect(all[0]).toMatchObject({ type: 'sos', revision: 1, eventCount: 1 });
    expect(metrics.alertsRaised).toEqual({ sos: { urgent: 1 } });
    outbox.close();
    store.close();
  });
});

describe('AlertPipeline and the edge’s own MQTT link', () => {
  it('does not call devices silent while the edge itself hears nobody', () => {
    const store = new AlertStore(join(tmp(), 'alerts.db'));
    const metrics = createMetrics();
    const t0 = Date.now();
    const p = new AlertPipeline(store, new CareRules(store), metrics, logger, { watchSinceMs: t0, warmupMs: 0 });
    p.offer({ type: 'reading', deviceId: 'fall-l', site: 's', kind: 'fall-sensor', seq: 1, tsMs: t0, fields: { presence: 1 }, text: {} }, t0);
    p.commit(t0);
    p.linkChanged(false, t0 + 1000);
    p.tick(t0 + 600_000);
    expect(p.hasPending).toBe(false);
    p.linkChanged(true, t0 + 600_000);
    p.tick(t0 + 600_000 + 179_000);
    p.commit(t0 + 600_000 + 179_000);
    expect(store.recent(10)).toEqual([]);
    p.tick(t0 + 600_000 + 181_000);
    p.commit(t0 + 600_000 + 181_000);
    expect(store.recent(10)).toMatchObject([{ type: 'device_silent', level: 'wellness' }]);
    store.close();
  });
});
