import { afterAll, beforeAll } from 'vitest';
import pino from 'pino';
import { launchPostgres, shouldSkipPostgres, type PostgresServer } from '@yulan/testkit';
import { PostgresDatabase } from '../src/db/postgres.js';

/**
 * One real PostgreSQL server per test file (started in beforeAll, removed in afterAll), and
 * a fresh database per call of `fresh()`, so contract tests never see each other's rows.
 * `skip` is for describe.skipIf: true only on a developer machine without PostgreSQL
 * (never under CI=true, where a missing server fails the suite).
 */
export function usePostgres(): { skip: boolean; server: () => PostgresServer; fresh: () => Promise<PostgresDatabase> } {
  const skip = shouldSkipPostgres();
  let server: PostgresServer | undefined;
  const open: PostgresDatabase[] = [];
  let n = 0;
  beforeAll(async () => { if (!skip) server = await launchPostgres(); });
  afterAll(async () => {
    await Promise.all(open.map((d) => d.close().catch(() => undefined)));
    await server?.dispose();
  });
  return {
    skip,
    server: () => { if (!server) throw new Error('PostgreSQL not started'); return server; },
    fresh: async () => {
      if (!server) throw new Error('PostgreSQL not started');
      const url = await server.createDatabase(`t${process.pid}_${n++}`);
      const db = new PostgresDatabase({ url, logger: pino({ level: 'silent' }) });
      open.push(db);
      return db;
    },
  };
}
