import { afterAll } from 'vitest';
import pino from 'pino';
import { PostgresDatabase } from '../src/db/postgres.js';
import type { AlertRecord, AlertStore } from '../src/care/alerts/store.js';
import { initialPosition } from '../src/care/alerts/ladder.js';

/** Writes an alert as it stands (a resolved timeline row, and optionally one delivered page with an attempt). */
export async function seedAlert(store: AlertStore, a: AlertRecord, o: { withNotification?: boolean } = {}): Promise<string | undefined> {
  const at = a.resolvedAt ?? a.openedAt;
  const out = await store.change(a.id, () => ({
    alert: a, now: at,
    timeline: [{ alertId: a.id, atMs: at, kind: a.status === 'resolved' ? 'resolved' : 'raised', actor: 'w1' }],
    intents: o.withNotification ? [{ key: `${a.id}/0/w1/page/0`, alertId: a.id, step: 0, userId: 'w1', kind: 'page', n: 0, recipient: null }] : [],
  }));
  const id = out?.intentIds[0];
  if (id) await store.addAttempt(id, at, 0, 'webhook', true, null);
  return id;
}

export function alertRecord(id: string, over: Partial<AlertRecord> = {}): AlertRecord {
  const t = 1_800_000_000_000;
  return {
    id, edgeAlertId: id, previousAlertId: null, seen: { events: [], fallIds: [] }, revision: 1, deviceId: 'fall-1', site: 's1',
    residentId: 'r1', residentName: 'R', type: 'sos', level: 'urgent', skipCancelWindow: true, edgeState: 'open', status: 'raised',
    outcome: null, claimedBy: null, claimedAt: null, resolvedBy: null, resolvedAt: null, note: null, firstEventAtMs: t, openedAt: t, updatedAt: t,
    ladder: initialPosition(), nextDueAtMs: null, report: { message: 'm' } as AlertRecord['report'], ...over,
  };
}

/** A second cloud's pool on the same PostgreSQL database; closed after the test file. */
const extraPools: PostgresDatabase[] = [];
afterAll(async () => { await Promise.all(extraPools.splice(0).map((p) => p.close().catch(() => undefined))); });
export function secondPool(db: PostgresDatabase): PostgresDatabase {
  const o = db.pool.options as { connectionString?: string };
  if (!o.connectionString) throw new Error('no connection string');
  const p = new PostgresDatabase({ url: o.connectionString, logger: pino({ level: 'silent' }), applicationName: 'yulan-cloud-2' });
  extraPools.push(p);
  return p;
}
