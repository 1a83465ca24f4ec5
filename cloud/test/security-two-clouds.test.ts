import { afterAll, describe, expect, it } from 'vitest';
import { openSecurity, type SecurityModule } from '../src/security/index.js';
import type { PostgresDatabase } from '../src/db/postgres.js';
import { usePostgres } from './pg-support.js';
import { secondCloud } from './pg-two-clouds.js';
import { silentLogger, waitFor } from './helpers.js';

/** Two clouds on one PostgreSQL: the security monitor samples on one of them (the
 * `security-monitor` lease), and the other takes over, with the same open alert, when it stops. */
const pgs = usePostgres();
const extra: PostgresDatabase[] = [];
const modules: SecurityModule[] = [];
afterAll(async () => {
  for (const m of modules) await m.close();
  await Promise.all(extra.map((d) => d.close()));
});

describe.skipIf(pgs.skip)('security monitor, two clouds on one database', () => {
  it('one cloud samples and opens the alert; after it stops the other samples and keeps that alert', async () => {
    const dbA = await pgs.fresh();
    const dbB = secondCloud(dbA);
    extra.push(dbB);
    const reads = { a: 0, b: 0 };
    const open = (db: PostgresDatabase, who: 'a' | 'b') => openSecurity({
      target: { kind: 'postgres', db }, rules: [], sampleMs: 50,
      gauges: [{ id: 'update-required', description: 'devices below their minimum', read: async () => { reads[who]++; return 3; } }],
      claimsRefused: () => 0, consoleUrl: () => 'http://console', logger: silentLogger,
    });
    const a = await open(dbA, 'a');
    modules.push(a);
    await a.start();
    const b = await open(dbB, 'b');
    modules.push(b);
    await b.start();
    const first = await waitFor(async () => (await a.store.list({ open: true, limit: 10 }))[0], 'the alert opened');
    await waitFor(() => reads.a >= 3, 'cloud a sampling on');
    // b started while a held the lease: it has not sampled (the lease, not timing, decides)
    expect(reads.b).toBe(0);
    expect(b.monitor.stats.samples).toBe(0);
    await a.close();
    modules.splice(modules.indexOf(a), 1);
    await waitFor(() => b.monitor.stats.samples >= 2, 'cloud b took over sampling', 30_000);
    expect(reads.b).toBeGreaterThan(0);
    const all = await b.store.list({ limit: 10 });
    expect(all.map((x) => [x.id, x.closedAt])).toEqual([[first.id, null]]);
  }, 60_000);
});
