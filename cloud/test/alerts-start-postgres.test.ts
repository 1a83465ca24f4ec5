import { existsSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCloudConfig } from '../src/config.js';
import { PostgresDatabase } from '../src/db/postgres.js';
import { startCloud, type CloudHandle } from '../src/start.js';
import { report } from './care-alerts-support.js';
import { cloudEnv, silentLogger, startBroker, startEdgeStub, tempDir, type EdgeStub, type TestBroker } from './helpers.js';
import { usePostgres } from './pg-support.js';

/** The cloud with YULAN_DATABASE_URL keeps its alerts in PostgreSQL's `alerts` schema, not in alerts.sqlite. */
const pgs = usePostgres();
const tmp = tempDir('yulan-alerts-pg-start-');
let broker: TestBroker | undefined;
let edge: EdgeStub | undefined;
let cloud: CloudHandle | undefined;
let db: PostgresDatabase | undefined;
afterAll(async () => {
  await cloud?.close();
  await edge?.close();
  await broker?.close();
  await db?.close();
  tmp.cleanup();
});

describe.skipIf(pgs.skip)('startCloud on PostgreSQL: alerts', () => {
  it('migrates the alerts schema, takes an alert report into it, and writes no alerts.sqlite', async () => {
    const url = await pgs.server().createDatabase(`alerts_start_${process.pid}`);
    broker = await startBroker({ cloud: 'cloud-pw' });
    edge = await startEdgeStub();
    cloud = await startCloud(loadCloudConfig(cloudEnv(tmp.dir, broker, edge, 'cloud-pw', {
      YULAN_ADMIN_TOKEN: 'admin-token-0123456789-abcdefghijklmnop', YULAN_DATABASE_URL: url,
    })), silentLogger, { dashboardDir: null });
    const rep = report({ deviceId: 'fall-unlinked' });
    const res = await fetch(`${cloud.url}/api/v1/internal/alerts`, {
      method: 'POST', headers: { authorization: `Bearer ${edge.token}`, 'content-type': 'application/json' }, body: JSON.stringify(rep),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ id: rep.id, revision: 1 });
    db = new PostgresDatabase({ url, logger: pino({ level: 'silent' }) });
    const v = await db.query<{ version: number }>('version', "SELECT version FROM public.yulan_schema WHERE component = 'alerts'");
    expect(v.rows[0]?.version).toBe(1);
    const row = await db.query<{ id: string; resident_id: string | null }>('row', 'SELECT id, resident_id FROM alerts.alerts');
    expect(row.rows).toEqual([{ id: rep.id, resident_id: null }]);
    expect(existsSync(join(tmp.dir, 'cloud', 'alerts.sqlite'))).toBe(false);
  });
});
