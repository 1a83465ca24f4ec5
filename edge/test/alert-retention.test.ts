import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { AlertStore, loadEdgeConfig, type AlertRecord } from '../src/index.js';
import { AlertRetention } from '../src/alerts/alert-retention.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2031, 0, 1);
const log = pino({ level: 'silent' });

describe('edge alerts.db retention', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const rec = (id: string, state: AlertRecord['state'], atMs: number): AlertRecord => ({
    id, revision: 1, deviceId: 'fall-1', site: 's', type: 'sos', level: 'urgent', state, skipCancelWindow: true,
    confirmed: false, openedAtMs: atMs, updatedAtMs: atMs, firstEventAtMs: atMs, lastEventAtMs: atMs, eventCount: 1, events: [], message: 'm',
  });

  it('prunes closed, delivered alerts past the limit in batches; open, undelivered and recent ones stay', async () => {
    dir = mkdtempSync(join(tmpdir(), 'yulan-alert-retention-'));
    const store = new AlertStore(join(dir, 'alerts.db'));
    const old = NOW - 2000 * DAY;
    for (let i = 0; i < 12; i++) {
      store.commit([], [rec(`al_c${i}`, 'cleared', old)], old);
      store.markDelivered(`al_c${i}`, 1, true);
      store.recordAttempt(`al_c${i}`, { channel: 'webhook', target: 'https://h/x', atMs: old, ok: true, attempt: 1 });
    }
    store.commit([], [rec('al_open', 'open', old)], old);
    store.markDelivered('al_open', 1, true);
    store.commit([], [rec('al_undelivered', 'cancelled', old)], old); // the cloud has not taken it yet
    store.commit([], [rec('al_recent', 'cleared', NOW - DAY)], NOW - DAY);
    store.markDelivered('al_recent', 1, true);

    expect(store.notifications('al_c0')).toHaveLength(1);
    const r = new AlertRetention(store, 1825, log, { batch: 5, pauseMs: 1, firstAfterMs: 0, everyMs: 1000 }, () => NOW);
    expect(await r.runOnce()).toBe(12);
    expect(store.alert('al_c0')).toBeUndefined();
    expect(store.notifications('al_c0')).toEqual([]);
    for (const kept of ['al_open', 'al_undelivered', 'al_recent']) expect(store.alert(kept)).toBeDefined();
    expect(store.pendingCount()).toBe(1); // al_undelivered is still on its way
    expect(await r.runOnce()).toBe(0);
    expect(await new AlertRetention(store, 0, log, undefined, () => NOW + 10_000 * DAY).runOnce()).toBe(0);
    store.close();
  });

  it('reads YULAN_RETENTION_ALERTS_DAYS (default 1825, 0 = keep)', () => {
    dir = mkdtempSync(join(tmpdir(), 'yulan-alert-retention-'));
    const base = { YULAN_EDGE_MQTT_PASSWORD: 'pw', YULAN_EDGE_TOKEN: 'a-long-enough-edge-token' };
    expect(loadEdgeConfig(base).alertRetentionDays).toBe(1825);
    expect(loadEdgeConfig({ ...base, YULAN_RETENTION_ALERTS_DAYS: '0' }).alertRetentionDays).toBe(0);
  });
});
