import { afterAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadCloudConfig } from '../src/config.js';
import { startCloud, type CloudHandle } from '../src/start.js';
import { cloudEnv, silentLogger, startBroker, startEdgeStub, tempDir, type EdgeStub, type TestBroker } from './helpers.js';
import { usePostgres } from './pg-support.js';

/** The cloud with YULAN_DATABASE_URL keeps control, firmware and claims in PostgreSQL, not in files. */
const pgs = usePostgres();
const ADMIN = 'admin-token-0123456789-abcdefghijklmnop';
const tmp = tempDir('yulan-pgops-start-');
let broker: TestBroker | undefined;
let edge: EdgeStub | undefined;
let cloud: CloudHandle | undefined;
afterAll(async () => {
  await cloud?.close();
  await edge?.close();
  await broker?.close();
  tmp.cleanup();
});

describe.skipIf(pgs.skip)('startCloud on PostgreSQL: control, firmware and claims', () => {
  it('migrates their schemas in PostgreSQL, serves them, and writes no SQLite file for them', async () => {
    const db = await pgs.fresh();
    const url = (db.pool.options as { connectionString: string }).connectionString;
    broker = await startBroker({ cloud: 'cloud-pw' });
    edge = await startEdgeStub();
    cloud = await startCloud(loadCloudConfig(cloudEnv(tmp.dir, broker, edge, 'cloud-pw', { YULAN_ADMIN_TOKEN: ADMIN, YULAN_DATABASE_URL: url })), silentLogger, { dashboardDir: null });
    const v = await db.query<{ component: string }>('schemas', 'SELECT component FROM public.yulan_schema ORDER BY component');
    expect(v.rows.map((r) => r.component)).toEqual(expect.arrayContaining(['claims', 'control', 'firmware']));
    const headers = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
    const created = await fetch(`${cloud.url}/api/v1/claims`, { method: 'POST', headers, body: JSON.stringify({ id: 'batch-1', kind: 'env-monitor', site: 'site-a', count: 2 }) });
    expect(created.status).toBe(201);
    const row = await db.query<{ max_count: number }>('claim', "SELECT max_count FROM claims.claims WHERE id = 'batch-1'");
    expect(row.rows[0]?.max_count).toBe(2);
    expect((await fetch(`${cloud.url}/api/v1/campaigns`, { headers })).status).toBe(200);
    // The cloud's data directory is <YULAN_DATA_DIR>/cloud: the key file there shows the path is right.
    const dataDir = join(tmp.dir, 'cloud');
    expect(existsSync(join(dataDir, 'complaints.key'))).toBe(true);
    for (const f of ['control.sqlite', 'claims.sqlite', 'firmware/firmware.sqlite']) expect(existsSync(join(dataDir, f))).toBe(false);
    const lease = await db.query<{ name: string }>('lease', 'SELECT name FROM public.yulan_leases');
    expect(lease.rows.map((r) => r.name)).toContain('firmware-campaigns');
  });
});
