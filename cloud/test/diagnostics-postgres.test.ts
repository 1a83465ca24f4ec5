import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCloudConfig } from '../src/config.js';
import { startCloud, type CloudHandle } from '../src/start.js';
import { cloudEnv, silentLogger, startBroker, tempDir } from './helpers.js';
import { CLOUD_ADMIN_TOKEN, useCloudOnPostgres, usePostgres } from './pg-support.js';

/** With YULAN_DATABASE_URL the chargers' diagnostics files live in PostgreSQL: one cloud
 * takes a gateway's hand-over, another cloud on the same database lists (audited) and serves
 * it, either refuses a charger disabled on the other, and neither writes a file for it
 * (docs/ocpp.md §4.2). */
const pgs = usePostgres();
const stack = useCloudOnPostgres(pgs, 'yulan-diag-pg-');
const GATEWAY = 'gateway-token-0123456789-abcdefghijklmnop';
const dirB = tempDir('yulan-diag-pg-b-');
let b: CloudHandle | undefined;
let closeBroker: (() => Promise<void>) | undefined;
afterAll(async () => {
  await b?.close();
  await closeBroker?.();
  dirB.cleanup();
});

describe.skipIf(pgs.skip)('diagnostics on PostgreSQL, two clouds', () => {
  it('a file handed to one cloud is listed and downloaded from the other, stored once, no file on disk', async () => {
    const { cloud: a, db, dataDir, edge } = await stack.start({ YULAN_GATEWAY_TOKEN: GATEWAY });
    const url = (db.pool.options as { connectionString: string }).connectionString;
    const broker = await startBroker({ cloud: 'cloud-pw' });
    closeBroker = () => broker.close();
    mkdirSync(join(dirB.dir, 'cloud'), { recursive: true, mode: 0o700 });
    copyFileSync(join(dataDir, 'complaints.key'), join(dirB.dir, 'cloud', 'complaints.key'));
    b = await startCloud(loadCloudConfig(cloudEnv(dirB.dir, broker, edge, 'cloud-pw', { YULAN_ADMIN_TOKEN: CLOUD_ADMIN_TOKEN, YULAN_DATABASE_URL: url, YULAN_GATEWAY_TOKEN: GATEWAY })), silentLogger, { dashboardDir: null });

    const admin = { authorization: `Bearer ${CLOUD_ADMIN_TOKEN}`, 'content-type': 'application/json' };
    expect((await fetch(`${a.url}/api/v1/devices`, { method: 'POST', headers: admin, body: JSON.stringify({ id: 'CP-PG', site: 'xuhui', kind: 'ev-charger' }) })).status).toBe(201);
    const body = Buffer.alloc(300 * 1024, 0x5a); // above the API's 64 KiB JSON limit: the route's own limit applies
    const sha = createHash('sha256').update(body).digest('hex');
    const q = new URLSearchParams({ device: 'CP-PG', command: 'cmd-pg', file: 'pg.log', contentType: 'text/plain', sha256: sha, uploadedAt: new Date().toISOString() });
    const handOver = (c: CloudHandle): Promise<Response> => fetch(`${c.url}/api/v1/internal/ocpp/diagnostics?${q}`, {
      method: 'POST', body, headers: { authorization: `Bearer ${GATEWAY}`, 'content-type': 'application/octet-stream' },
    });
    const first = await handOver(a);
    expect(first.status).toBe(201);
    const id = ((await first.json()) as { id: string }).id;
    // the gateway repeats through the other cloud (its answer was lost): the same record
    const again = await handOver(b);
    expect(again.status).toBe(200);
    expect(((await again.json()) as { id: string }).id).toBe(id);

    const list = (await (await fetch(`${b.url}/api/v1/devices/CP-PG/diagnostics`, { headers: { ...admin, 'x-yulan-purpose': 'ticket 9' } })).json()) as { items: { id: string; bytes: number }[] };
    expect(list.items).toEqual([expect.objectContaining({ id, bytes: body.length })]);
    // the listing is audited as on SQLite (the service audits, whatever the store)
    type Audit = { items: { action: string; actor: string; purpose: string; detail: string | null }[] };
    const audit = (await (await fetch(`${b.url}/api/v1/audit?limit=50`, { headers: admin })).json()) as Audit;
    expect(audit.items.filter((x) => x.action === 'device.diagnostics.list')).toEqual([
      expect.objectContaining({ actor: 'admin-token', purpose: 'ticket 9', detail: 'CP-PG (1 listed)' })]);
    const dl = await fetch(`${b.url}/api/v1/devices/CP-PG/diagnostics/${id}`, { headers: admin });
    expect(dl.status).toBe(200);
    expect(dl.headers.get('etag')).toBe(`"${sha}"`);
    expect(Buffer.from(await dl.arrayBuffer()).equals(body)).toBe(true);

    // disabled on one cloud: the other refuses the charger's next file (the registry is shared), counted there;
    // enabled again on the other: the same hand-over is taken
    const late = Buffer.from('uploaded before the disable');
    const lateQ = new URLSearchParams({ device: 'CP-PG', command: 'cmd-late', file: 'late.log', contentType: 'text/plain', sha256: createHash('sha256').update(late).digest('hex'), uploadedAt: new Date().toISOString() });
    const handOverLate = (c: CloudHandle): Promise<Response> => fetch(`${c.url}/api/v1/internal/ocpp/diagnostics?${lateQ}`, {
      method: 'POST', body: late, headers: { authorization: `Bearer ${GATEWAY}`, 'content-type': 'application/octet-stream' },
    });
    expect((await fetch(`${a.url}/api/v1/devices/CP-PG/disable`, { method: 'POST', headers: admin })).status).toBe(200);
    const refused = await handOverLate(b);
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { code: string }).code).toBe('E_DEVICE_DISABLED');
    const bCounts = (await (await fetch(`${b.url}/api/v1/metrics`, { headers: admin })).json()) as { ocpp_diagnostics: Record<string, number> };
    expect(bCounts.ocpp_diagnostics.refusedDisabled).toBe(1);
    expect((await fetch(`${b.url}/api/v1/devices/CP-PG/enable`, { method: 'POST', headers: admin })).status).toBe(200);
    expect((await handOverLate(a)).status).toBe(201);

    expect((await db.query<{ n: number }>('count', 'SELECT count(*)::int AS n FROM ocpp_diagnostics.files')).rows).toEqual([{ n: 2 }]);
    for (const d of [dataDir, join(dirB.dir, 'cloud')]) {
      expect(readdirSync(d)).not.toContain('ocpp-diagnostics.sqlite');
      expect(existsSync(join(d, 'ocpp-diagnostics'))).toBe(false);
    }
  }, 90_000);
});
