import { afterAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { SqliteSecurityAlertStore, type OpenAlert, type SecurityAlertStore } from '../src/security/store.js';
import { PgSecurityAlertStore } from '../src/security/pg-security-alert-store.js';
import type { PostgresDatabase } from '../src/db/postgres.js';
import { usePostgres } from './pg-support.js';
import { secondCloud } from './pg-two-clouds.js';
import { tempDir } from './helpers.js';

const pgs = usePostgres();
const tmp = tempDir('security-alerts-contract-');
const extra: PostgresDatabase[] = [];
afterAll(async () => {
  await Promise.all(extra.map((d) => d.close()));
  tmp.cleanup();
});
let n = 0;

type Factory = () => Promise<SecurityAlertStore>;
const impls: [string, Factory][] = [['sqlite', async () => new SqliteSecurityAlertStore(path.join(tmp.dir, `alerts-${n++}.sqlite`))]];
if (!pgs.skip) impls.push(['postgres', async () => PgSecurityAlertStore.open(await pgs.fresh())]);

const T = (s: number): string => new Date(Date.UTC(2026, 5, 1, 0, 0, s)).toISOString();
const alert = (rule: string, s: number, count = 12): OpenAlert => ({ rule, source: 'broker', description: `${rule} rising`, threshold: 10, windowSec: 60, at: T(s), count });

describe.each(impls)('security alert store contract (%s)', (_name, open) => {
  it('opens one alert per rule, updates it while open, closes it once, then opens a new episode', async () => {
    const s = await open();
    const a = await s.open(alert('auth-failures', 0));
    expect(a).toMatchObject({ rule: 'auth-failures', openedCount: 12, peakCount: 12, events: 12, closedAt: null, delivery: null, threshold: 10, windowSec: 60 });
    expect(await s.open(alert('auth-failures', 1, 50))).toBeUndefined();
    await s.seen(a!.id, T(2), 30, 5);
    await s.seen(a!.id, T(3), 20, 3);
    expect(await s.get(a!.id)).toMatchObject({ peakCount: 30, events: 20, lastSeenAt: T(3) });
    expect(Object.fromEntries(await s.openByRule())).toEqual({ 'auth-failures': a!.id });
    const closed = await s.close(a!.id, T(4));
    expect(closed).toMatchObject({ id: a!.id, closedAt: T(4), peakCount: 30 });
    expect(await s.close(a!.id, T(5))).toBeUndefined();
    await s.seen(a!.id, T(6), 99, 99);
    expect((await s.get(a!.id))?.events).toBe(20);
    expect((await s.openByRule()).size).toBe(0);
    const again = await s.open(alert('auth-failures', 7));
    expect(again!.id).toBeGreaterThan(a!.id);
    expect(await s.get(12345)).toBeUndefined();
    await s.dispose();
  });

  it('appends delivery rounds and lists newest first, open ones only, paged', async () => {
    const s = await open();
    const ids: number[] = [];
    for (const [i, rule] of ['r1', 'r2', 'r3'].entries()) ids.push((await s.open(alert(rule, i)))!.id);
    await s.close(ids[1]!, T(9));
    await s.addDelivery(ids[0]!, 'opened: webhook:ops sent');
    await s.addDelivery(ids[0]!, 'closed: email:a@b failed: refused');
    expect((await s.get(ids[0]!))?.delivery).toBe('opened: webhook:ops sent | closed: email:a@b failed: refused');
    await s.addDelivery(ids[2]!, 'x'.repeat(5000));
    expect((await s.get(ids[2]!))?.delivery).toHaveLength(2000);
    expect((await s.list({ limit: 10 })).map((x) => x.rule)).toEqual(['r3', 'r2', 'r1']);
    expect((await s.list({ open: true, limit: 10 })).map((x) => x.rule)).toEqual(['r3', 'r1']);
    expect((await s.list({ limit: 1, beforeId: ids[2]! })).map((x) => x.rule)).toEqual(['r2']);
    await s.dispose();
  });
});

describe.skipIf(pgs.skip)('security alert store, two clouds on one database', () => {
  it('clouds racing to open and to close one rule\'s alert: exactly one opens, exactly one closes', async () => {
    const dbA = await pgs.fresh();
    const dbB = secondCloud(dbA);
    extra.push(dbB);
    const [a, b] = [await PgSecurityAlertStore.open(dbA), await PgSecurityAlertStore.open(dbB)];
    for (let round = 0; round < 5; round++) {
      const opened = await Promise.all([1, 2, 3, 4].map((i) => (i % 2 ? a : b).open(alert('connect-flood', round * 10 + i))));
      const winners = opened.filter((x) => x !== undefined);
      expect(winners).toHaveLength(1);
      expect((await b.list({ open: true, limit: 10 })).map((x) => x.id)).toEqual([winners[0]!.id]);
      const closed = await Promise.all([1, 2, 3, 4].map((i) => (i % 2 ? a : b).close(winners[0]!.id, T(round * 10 + 5))));
      expect(closed.filter((x) => x !== undefined)).toHaveLength(1);
    }
    expect(await a.list({ limit: 10 })).toHaveLength(5);
  });
});
