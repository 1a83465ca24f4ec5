import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import pino from 'pino';
import { launchPostgres, shouldSkipPostgres, type PostgresServer } from '@yulan/testkit';
import { PostgresDatabase } from '../src/db/postgres.js';
import { loadCloudConfig } from '../src/config.js';
import { startCloud, type CloudHandle } from '../src/start.js';
import { cloudEnv, silentLogger, startBroker, startEdgeStub, tempDir, type EdgeStub, type TestBroker } from './helpers.js';

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

/**
 * A whole cloud on PostgreSQL for a test file: a real broker, an edge stub and `startCloud`
 * with YULAN_DATABASE_URL on a fresh database; everything is stopped in afterAll. `dataDir`
 * is the cloud's data directory (`<YULAN_DATA_DIR>/cloud`), where no store's SQLite file
 * may appear.
 */
export const CLOUD_ADMIN_TOKEN = 'admin-token-0123456789-abcdefghijklmnop';
export function useCloudOnPostgres(pgs: ReturnType<typeof usePostgres>, prefix: string): {
  start: (env?: Record<string, string>) => Promise<{ cloud: CloudHandle; db: PostgresDatabase; dataDir: string; edge: EdgeStub }>;
} {
  const tmp = tempDir(prefix);
  let broker: TestBroker | undefined;
  let edge: EdgeStub | undefined;
  let cloud: CloudHandle | undefined;
  afterAll(async () => {
    await cloud?.close();
    await edge?.close();
    await broker?.close();
    tmp.cleanup();
  });
  return {
    start: async (env = {}) => {
      const db = await pgs.fresh();
      const url = (db.pool.options as { connectionString: string }).connectionString;
      broker = await startBroker({ cloud: 'cloud-pw' });
      edge = await startEdgeStub();
      cloud = await startCloud(loadCloudConfig(cloudEnv(tmp.dir, broker, edge, 'cloud-pw', { YULAN_ADMIN_TOKEN: CLOUD_ADMIN_TOKEN, YULAN_DATABASE_URL: url, ...env })), silentLogger, { dashboardDir: null });
      return { cloud, db, dataDir: join(tmp.dir, 'cloud'), edge };
    },
  };
}
