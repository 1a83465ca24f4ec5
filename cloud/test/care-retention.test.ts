import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteAlertStore } from '../src/care/alerts/repository.js';
import type { AlertRecord } from '../src/care/alerts/store.js';
import { seedAlert } from './alert-store-support.js';
import { SqlitePeopleRepository } from '../src/care/people/repository.js';
import { CareRetention } from '../src/care/retention.js';
import { loadCloudConfig } from '../src/config.js';
import { silentLogger, tempDir } from './helpers.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2031, 0, 1);

function alert(id: string, status: 'resolved' | 'raised', openedAt: number, resolvedAt: number | null): AlertRecord {
  return {
    id, edgeAlertId: id, previousAlertId: null, seen: { events: [], fallIds: [] }, revision: 1, deviceId: 'fall-1', site: 's1',
    residentId: 'r1', residentName: 'R', type: 'fall' as AlertRecord['type'], level: 'urgent' as AlertRecord['level'], skipCancelWindow: false,
    edgeState: 'raised' as AlertRecord['edgeState'], status: status as AlertRecord['status'], outcome: null, claimedBy: null, claimedAt: null,
    resolvedBy: resolvedAt === null ? null : 'w1', resolvedAt, note: null, firstEventAtMs: openedAt, openedAt, updatedAt: resolvedAt ?? openedAt,
    ladder: { step: 0, n: 0 } as unknown as AlertRecord['ladder'], nextDueAtMs: null, report: {} as AlertRecord['report'],
  };
}

describe('care retention: resolved alerts and audit rows by their own rules', () => {
  let tmp: ReturnType<typeof tempDir>;
  let alerts: SqliteAlertStore;
  let people: SqlitePeopleRepository;
  beforeEach(() => {
    tmp = tempDir('yulan-care-retention-');
    alerts = new SqliteAlertStore(join(tmp.dir, 'alerts.sqlite'));
    people = new SqlitePeopleRepository({ file: join(tmp.dir, 'people.sqlite'), now: () => NOW });
  });
  afterEach(async () => {
    await alerts.close();
    people.close();
    tmp.cleanup();
  });

  it('prunes resolved alerts past the limit with their timeline and notifications, in batches; open ones stay', async () => {
    // 23 old resolved alerts (more than two batches of 10), one old but still open, one recent.
    for (let i = 0; i < 23; i++) {
      const id = `al_old_${i}`;
      await seedAlert(alerts, alert(id, 'resolved', NOW - 800 * DAY, NOW - 799 * DAY), { withNotification: true });
    }
    await seedAlert(alerts, alert('al_open', 'raised', NOW - 800 * DAY, null));
    await seedAlert(alerts, alert('al_recent', 'resolved', NOW - 10 * DAY, NOW - 9 * DAY));
    const r = new CareRetention(alerts, people.audit, { alertsDays: 730, auditDays: 0 }, silentLogger, { batch: 10, pauseMs: 1 }, () => NOW);
    expect(await r.runOnce()).toEqual({ alerts: 23, audit: 0 });
    expect(await alerts.get('al_old_0')).toBeUndefined();
    expect(await alerts.timeline('al_old_0')).toEqual([]);
    expect(await alerts.notificationsFor('al_old_0')).toEqual([]);
    expect((await alerts.get('al_open'))?.status).toBe('raised');
    expect(await alerts.get('al_recent')).toBeDefined();
    // The pass explains itself in the audit log; a second pass finds nothing more.
    const rows = await people.audit.query({ limit: 10 });
    expect(rows.map((x) => x.action)).toEqual(['retention.prune']);
    expect(rows[0]!.detail).toContain('alerts=23');
    expect(await r.runOnce()).toEqual({ alerts: 0, audit: 0 });
    expect(await people.audit.query({ limit: 10 })).toHaveLength(1);
  });

  it('prunes audit rows older than their limit only, and 0 keeps everything', async () => {
    let t = NOW - 1000 * DAY;
    const clocked = new SqlitePeopleRepository({ file: join(tmp.dir, 'people.sqlite'), now: () => t });
    for (let i = 0; i < 25; i++) await clocked.audit.record({ actor: 'u1', action: 'alert.read', residentId: 'r1', purpose: 'care' });
    t = NOW - 5 * DAY;
    await clocked.audit.record({ actor: 'u1', action: 'alert.read', residentId: 'r1', purpose: 'recent' });
    clocked.close();
    const keep = new CareRetention(alerts, people.audit, { alertsDays: 0, auditDays: 0 }, silentLogger, { batch: 10, pauseMs: 1 }, () => NOW);
    expect(await keep.runOnce()).toEqual({ alerts: 0, audit: 0 });
    const prune = new CareRetention(alerts, people.audit, { alertsDays: 0, auditDays: 365 }, silentLogger, { batch: 10, pauseMs: 1 }, () => NOW);
    expect(await prune.runOnce()).toEqual({ alerts: 0, audit: 25 });
    expect((await people.audit.query({ limit: 100 })).map((x) => x.purpose)).toEqual(['retention', 'recent']);
  });

  it('is configured by YULAN_RETENTION_ALERTS_DAYS / _AUDIT_DAYS with stated defaults', () => {
    const base = { YULAN_CLOUD_MQTT_PASSWORD: 'p', YULAN_BROKER_TOKEN: 'b', YULAN_EDGE_TOKEN: 'e' };
    expect(loadCloudConfig(base).careRetention).toEqual({ alertsDays: 1825, auditDays: 2190 });
    expect(loadCloudConfig({ ...base, YULAN_RETENTION_ALERTS_DAYS: '0', YULAN_RETENTION_AUDIT_DAYS: '400' }).careRetention).toEqual({ alertsDays: 0, auditDays: 400 });
    expect(() => loadCloudConfig({ ...base, YULAN_RETENTION_AUDIT_DAYS: '-1' })).toThrow(/YULAN_RETENTION_AUDIT_DAYS/);
  });
});
