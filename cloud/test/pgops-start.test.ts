import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CLOUD_ADMIN_TOKEN, useCloudOnPostgres, usePostgres } from './pg-support.js';

/** The cloud with YULAN_DATABASE_URL keeps control, firmware and claims in PostgreSQL, not in files. */
const pgs = usePostgres();
const ADMIN = CLOUD_ADMIN_TOKEN;
const stack = useCloudOnPostgres(pgs, 'yulan-pgops-start-');

describe.skipIf(pgs.skip)('startCloud on PostgreSQL: control, firmware and claims', () => {
  it('migrates their schemas in PostgreSQL, serves them, and writes no SQLite file for them', async () => {
    const { cloud, db, dataDir } = await stack.start();
    const v = await db.query<{ component: string }>('schemas', 'SELECT component FROM public.yulan_schema ORDER BY component');
    expect(v.rows.map((r) => r.component)).toEqual(expect.arrayContaining(['claims', 'control', 'firmware']));
    const headers = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
    const created = await fetch(`${cloud.url}/api/v1/claims`, { method: 'POST', headers, body: JSON.stringify({ id: 'batch-1', kind: 'env-monitor', site: 'site-a', count: 2 }) });
    expect(created.status).toBe(201);
    const row = await db.query<{ max_count: number }>('claim', "SELECT max_count FROM claims.claims WHERE id = 'batch-1'");
    expect(row.rows[0]?.max_count).toBe(2);
    expect((await fetch(`${cloud.url}/api/v1/campaigns`, { headers })).status).toBe(200);
    expect(existsSync(join(dataDir, 'complaints.key'))).toBe(true);
    for (const f of ['control.sqlite', 'claims.sqlite', 'firmware/firmware.sqlite']) expect(existsSync(join(dataDir, f))).toBe(false);
    const lease = await db.query<{ name: string }>('lease', 'SELECT name FROM public.yulan_leases');
    expect(lease.rows.map((r) => r.name)).toContain('firmware-campaigns');
  });
});
