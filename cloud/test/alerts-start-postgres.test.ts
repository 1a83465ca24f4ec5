import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ALERTS_PG_MIGRATIONS } from '../src/care/alerts/pg-schema.js';
import { report } from './care-alerts-support.js';
import { CLOUD_ADMIN_TOKEN, useCloudOnPostgres, usePostgres } from './pg-support.js';

/** The cloud with YULAN_DATABASE_URL keeps its alerts in PostgreSQL's `alerts` schema, not in alerts.sqlite. */
const pgs = usePostgres();
const stack = useCloudOnPostgres(pgs, 'yulan-alerts-pg-start-');

describe.skipIf(pgs.skip)('startCloud on PostgreSQL: alerts', () => {
  it('migrates the alerts schema, takes an alert report into it, and writes no alerts.sqlite', async () => {
    const { cloud, db, dataDir, edge } = await stack.start();
    const rep = report({ deviceId: 'fall-unlinked' });
    const res = await fetch(`${cloud.url}/api/v1/internal/alerts`, {
      method: 'POST', headers: { authorization: `Bearer ${edge.token}`, 'content-type': 'application/json' }, body: JSON.stringify(rep),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ id: rep.id, revision: 1 });
    const v = await db.query<{ version: number }>('version', "SELECT version FROM public.yulan_schema WHERE component = 'alerts'");
    expect(v.rows[0]?.version).toBe(ALERTS_PG_MIGRATIONS.length);
    const row = await db.query<{ id: string; resident_id: string | null }>('row', 'SELECT id, resident_id FROM alerts.alerts');
    expect(row.rows).toEqual([{ id: rep.id, resident_id: null }]);
    expect(existsSync(join(dataDir, 'alerts.sqlite'))).toBe(false);
  });
});
