import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CLOUD_ADMIN_TOKEN, useCloudOnPostgres, usePostgres } from './pg-support.js';

/** The cloud with YULAN_DATABASE_URL keeps security alerts, the update policy and site power
 * caps in PostgreSQL, not in files, and runs the security monitor and the cap division under leases. */
const pgs = usePostgres();
const ADMIN = CLOUD_ADMIN_TOKEN;
const stack = useCloudOnPostgres(pgs, 'yulan-pgrest-start-');

describe.skipIf(pgs.skip)('startCloud on PostgreSQL: security alerts, update policy, site power caps', () => {
  it('migrates their schemas, serves them from PostgreSQL, holds their leases, and writes no SQLite file for them', async () => {
    const { cloud, db, dataDir } = await stack.start();
    const v = await db.query<{ component: string }>('schemas', 'SELECT component FROM public.yulan_schema ORDER BY component');
    expect(v.rows.map((r) => r.component)).toEqual(expect.arrayContaining(['security', 'update_policy', 'site_power_caps']));
    const headers = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
    const min = await fetch(`${cloud.url}/api/v1/firmware/minimum/env-monitor`, { method: 'PUT', headers, body: JSON.stringify({ version: '1.2.0', security: true }) });
    expect(min.status).toBe(200);
    expect((await db.query<{ version: string }>('minimum', 'SELECT version FROM update_policy.minimum_versions')).rows).toEqual([{ version: '1.2.0' }]);
    const site = await fetch(`${cloud.url}/api/v1/sites`, { method: 'POST', headers, body: JSON.stringify({ id: 'xuhui', nameZh: '徐汇', nameEn: 'Xuhui', lat: 31.18, lon: 121.43 }) });
    expect(site.status).toBe(201);
    const cap = await fetch(`${cloud.url}/api/v1/sites/xuhui/power-cap`, { method: 'PUT', headers, body: JSON.stringify({ capW: 40_000 }) });
    expect(cap.status).toBe(200);
    expect((await db.query<{ cap_w: number }>('cap', 'SELECT cap_w FROM site_power_caps.caps')).rows).toEqual([{ cap_w: 40_000 }]);
    expect((await fetch(`${cloud.url}/api/v1/sites/xuhui/power-cap/audit`, { headers }).then((r) => r.json()) as { items: unknown[] }).items).toHaveLength(1);
    expect((await fetch(`${cloud.url}/api/v1/security/alerts`, { headers })).status).toBe(200);
    // the cloud's data directory is this one (the complaints key lives there with PostgreSQL too)
    expect(existsSync(join(dataDir, 'complaints.key'))).toBe(true);
    const files = readdirSync(dataDir);
    for (const f of ['security-alerts.sqlite', 'update-policy.sqlite', 'ocpp-site-power-caps.sqlite']) expect(files).not.toContain(f);
    const lease = await db.query<{ name: string }>('lease', 'SELECT name FROM public.yulan_leases');
    expect(lease.rows.map((r) => r.name)).toEqual(expect.arrayContaining(['security-monitor', 'site-power-caps']));
  }, 60_000);
});
