import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { DataErrorCode } from '@yulan/protos';
import { PostgresDatabase } from '../src/db/postgres.js';
import { usePostgres } from './pg-support.js';
import { openLease } from '../src/db/lease.js';
import { waitFor } from '@yulan/testkit';

const pgs = usePostgres();

describe.skipIf(pgs.skip)('PostgreSQL core (migrations, transactions)', () => {
  const m1 = 'CREATE SCHEMA IF NOT EXISTS demo; CREATE TABLE demo.items (id text PRIMARY KEY, n integer NOT NULL)';
  const m2 = 'ALTER TABLE demo.items ADD COLUMN note text';

  it('migrates once when two clouds start at the same moment, and records the version', async () => {
    const a = await pgs.fresh();
    const b = new PostgresDatabase({ url: connectionOf(a), logger: pino({ level: 'silent' }) });
    try {
      const [ra, rb] = await Promise.all([a.migrate('demo', [m1, m2]), b.migrate('demo', [m1, m2])]);
      // One of them did the work; the other found it done (no "relation already exists").
      expect([ra.from, rb.from].sort()).toEqual([0, 2]);
      const v = await a.query<{ version: number }>('read', "SELECT version FROM public.yulan_schema WHERE component = 'demo'");
      expect(v.rows[0]?.version).toBe(2);
      await a.query('insert', "INSERT INTO demo.items (id, n, note) VALUES ('x', 1, 'y')");
      expect((await a.migrate('demo', [m1, m2])).from).toBe(2);
    } finally { await b.close(); }
  });

  it('refuses a schema written by a newer release, and changes nothing', async () => {
    const db = await pgs.fresh();
    await db.migrate('demo', [m1, m2]);
    const err = await db.migrate('demo', [m1]).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe(DataErrorCode.SchemaTooNew);
    expect(String((err as Error).message)).toMatch(/version 2, but this Yulan release knows versions up to 1/);
  });

  it('a failed migration leaves the previous version and no half-applied change', async () => {
    const db = await pgs.fresh();
    await db.migrate('demo', [m1]);
    const bad = 'ALTER TABLE demo.items ADD COLUMN note text; SELECT no_such_function()';
    await expect(db.migrate('demo', [m1, bad])).rejects.toThrow(/migrating the demo schema failed/);
    const cols = await db.query<{ column_name: string }>('cols', "SELECT column_name FROM information_schema.columns WHERE table_schema = 'demo' AND table_name = 'items'");
    expect(cols.rows.map((r) => r.column_name).sort()).toEqual(['id', 'n']);
  });

  it('retries a transaction aborted by a serialization failure, and the result is as if run one after the other', async () => {
    const db = await pgs.fresh();
    await db.migrate('demo', [m1]);
    await db.query('seed', "INSERT INTO demo.items (id, n) VALUES ('c', 0)");
    let attempts = 0;
    // 8 concurrent read-modify-write increments under SERIALIZABLE: PostgreSQL aborts the
    // losers with 40001, and tx must retry them until every increment landed.
    await Promise.all(Array.from({ length: 8 }, () => db.tx('increment', async (sql) => {
      attempts++;
      const r = await sql.query<{ n: number }>("SELECT n FROM demo.items WHERE id = 'c'");
      await sql.query("UPDATE demo.items SET n = $1 WHERE id = 'c'", [(r.rows[0]?.n ?? 0) + 1]);
    }, 'serializable')));
    const r = await db.query<{ n: number }>('read', "SELECT n FROM demo.items WHERE id = 'c'");
    expect(r.rows[0]?.n).toBe(8);
    expect(attempts).toBeGreaterThanOrEqual(8);
  });

  it('rolls back on an error in the transaction body and rethrows it', async () => {
    const db = await pgs.fresh();
    await db.migrate('demo', [m1]);
    await expect(db.tx('two inserts', async (sql) => {
      await sql.query("INSERT INTO demo.items (id, n) VALUES ('a', 1)");
      await sql.query("INSERT INTO demo.items (id, n) VALUES ('a', 2)");
    })).rejects.toThrow(/two inserts failed/);
    expect((await db.query('read', 'SELECT * FROM demo.items')).rowCount).toBe(0);
  });
});

function connectionOf(db: PostgresDatabase): string {
  const o = db.pool.options as { connectionString?: string };
  if (!o.connectionString) throw new Error('no connection string');
  return o.connectionString;
}

describe.skipIf(pgs.skip)('PostgreSQL leases (one cloud at a time)', () => {
  it('exactly one of two clouds holds a lease; when it closes, the other takes over', async () => {
    const db = await pgs.fresh();
    const target = { kind: 'postgres', db } as const;
    const log = pino({ level: 'silent' });
    const a = openLease(target, 'campaigns', { ttlMs: 600, logger: log });
    const b = openLease(target, 'campaigns', { ttlMs: 600, logger: log });
    await a.start();
    await b.start();
    expect([a.held(), b.held()]).toEqual([true, false]);
    // int8 reads back as a number, not pg's default string
    const n = await db.query<{ n: number }>('n', 'SELECT count(*)::int8 AS n FROM public.yulan_leases');
    expect(n.rows[0]?.n).toBe(1);
    expect(b.held()).toBe(false);
    await a.close();
    await waitFor(() => b.held(), 'b to take the released lease');
    expect(a.held()).toBe(false);
    await b.close();
  });

  it('a holder that stops renewing (a dead cloud) loses the lease once it expires', async () => {
    const db = await pgs.fresh();
    const target = { kind: 'postgres', db } as const;
    const log = pino({ level: 'silent' });
    await db.query('dead holder', `CREATE TABLE IF NOT EXISTS public.yulan_leases (name text PRIMARY KEY, holder text NOT NULL, expires_at timestamptz NOT NULL);
      INSERT INTO public.yulan_leases VALUES ('retention', 'dead-cloud', now() + interval '1 second')`);
    const b = openLease(target, 'retention', { ttlMs: 300, logger: log });
    const seen: boolean[] = [];
    await b.start((h) => seen.push(h));
    await waitFor(() => b.held(), 'b to take the expired lease');
    expect(seen).toEqual([true]);
    await b.close();
  });

  it('on SQLite the lease is always held (one cloud per data directory)', async () => {
    const l = openLease({ kind: 'sqlite', file: ':memory:' }, 'x', { logger: pino({ level: 'silent' }) });
    await l.start();
    expect(l.held()).toBe(true);
  });
});
