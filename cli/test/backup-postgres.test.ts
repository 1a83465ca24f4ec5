import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { buffer } from 'node:stream/consumers';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchPostgres, shouldSkipPostgres, type PostgresServer } from '@yulan/testkit';
import { digestToken, findPgTool, loadCloudConfig, PgDeviceRepository, PgImageStore, PostgresDatabase, startCloud } from '@yulan/cloud';
import { dataCommand } from '../src/backup-command.js';
import type { Manifest } from '../src/backup.js';
import { quietLogger, tempDir } from './support.js';

async function run(name: 'backup' | 'restore', args: string[], env: Record<string, string>): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const sink = (add: (s: string) => void) => new Writable({ write(c: Buffer, _e, cb) { add(c.toString()); cb(); } }) as unknown as NodeJS.WriteStream;
  const code = await dataCommand(name, args, { env, stdout: sink((s) => { out += s; }), stderr: sink((s) => { err += s; }) });
  return { code, out, err };
}

const skip = shouldSkipPostgres();
const ADMIN = 'admin-token-for-the-backup-test-0123456789';
const KEY = `${randomBytes(32).toString('base64')}\n`;
// a firmware image: with PostgreSQL its bytes are in the database, so the dump carries them
const IMAGE = randomBytes(600_000);
const IMAGE_SHA = createHash('sha256').update(IMAGE).digest('hex');

/** `yulan backup` / `restore` of a cloud on PostgreSQL: pg_dump into the backup, pg_restore into an empty database. */
describe.skipIf(skip)('yulan backup / restore with the cloud on PostgreSQL', () => {
  const tmp = tempDir('yulan-pg-backup-');
  const live = join(tmp.dir, 'live');
  const backup = join(tmp.dir, 'backup');
  let pg: PostgresServer;
  let url = '';
  const open: PostgresDatabase[] = [];
  const connect = (u: string): PostgresDatabase => { const d = new PostgresDatabase({ url: u, logger: quietLogger }); open.push(d); return d; };

  beforeAll(async () => {
    pg = await launchPostgres();
    url = await pg.createDatabase('live');
    const repo = await PgDeviceRepository.open({ db: connect(url) });
    await repo.create({ id: 'fall-1', site: 'hongkou', kind: 'fall-sensor', secretHash: 'scrypt$abc' });
    await repo.applyPresence([{ deviceId: 'fall-1', online: true, ts: 1_700_000_000_000, firmwareVersion: '3.1.4' }]);
    await repo.setSetting('admin_token_sha256', digestToken(ADMIN).toString('base64url'));
    await (await PgImageStore.open(connect(url))).put(IMAGE_SHA, IMAGE);
    // What the cloud's data directory still holds with PostgreSQL: keys.
    mkdirSync(join(live, 'cloud'), { recursive: true, mode: 0o700 });
    writeFileSync(join(live, 'cloud', 'complaints.key'), KEY, { mode: 0o600 });
  });
  afterAll(async () => {
    await Promise.all(open.map((d) => d.close().catch(() => undefined)));
    await pg?.dispose();
    tmp.cleanup();
  });

  it('dumps the database into the backup, listed with its checksum and schema versions beside the files', async () => {
    const r = await run('backup', ['--to', backup, '--json'], { YULAN_DATA_DIR: live, YULAN_DATABASE_URL: url });
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const m = JSON.parse(readFileSync(join(backup, 'manifest.json'), 'utf8')) as Manifest;
    const dump = m.files.find((f) => f.kind === 'postgres');
    expect(dump).toMatchObject({ path: 'postgres/cloud.dump', schemaVersions: { registry: 1 } });
    expect(readFileSync(join(backup, 'postgres', 'cloud.dump')).subarray(0, 5).toString('latin1')).toBe('PGDMP'); // custom format
    expect(m.files.map((f) => f.path)).toContain('cloud/complaints.key');
    // The password is not in what the command prints or stores.
    expect(r.out + JSON.stringify(m)).not.toContain(new URL(url).password);
  });

  it('refuses a database that is not empty, before writing anything', async () => {
    const target = join(tmp.dir, 'restored-refused');
    const r = await run('restore', ['--from', backup], { YULAN_DATA_DIR: target, YULAN_DATABASE_URL: url });
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/not empty \(schemas firmware, registry\).*nothing was changed \(E_DATABASE_NOT_EMPTY\)/);
    expect(existsSync(target)).toBe(false);
  });

  it('refuses without YULAN_DATABASE_URL, and a damaged dump restores nothing', async () => {
    const target = join(tmp.dir, 'restored-none');
    const r = await run('restore', ['--from', backup], { YULAN_DATA_DIR: target });
    expect(r.err).toMatch(/holds the cloud's PostgreSQL database.*set YULAN_DATABASE_URL.*\(E_DATABASE_URL_MISSING\)/);
    const damaged = join(tmp.dir, 'damaged');
    cpSync(backup, damaged, { recursive: true });
    const f = join(damaged, 'postgres', 'cloud.dump');
    const bytes = readFileSync(f);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 1) ^ 0xff, bytes.length - 1);
    writeFileSync(f, bytes);
    const empty = await pg.createDatabase('untouched');
    const d = await run('restore', ['--from', damaged], { YULAN_DATA_DIR: target, YULAN_DATABASE_URL: empty });
    expect(d.err).toMatch(/postgres\/cloud.dump does not match its SHA-256.*\(E_BACKUP_DAMAGED\)/);
    const tables = await connect(empty).query<{ n: number }>('count', "SELECT COUNT(*)::int8 AS n FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')");
    expect(tables.rows[0]?.n).toBe(0);
    expect(existsSync(target)).toBe(false);
  });

  it('restores into an empty database and a fresh data directory: the registry and the keys are back, the schema is current', async () => {
    const fresh = await pg.createDatabase('restored');
    const target = join(tmp.dir, 'restored');
    const r = await run('restore', ['--from', backup], { YULAN_DATA_DIR: target, YULAN_DATABASE_URL: fresh });
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(readFileSync(join(target, 'cloud', 'complaints.key'), 'utf8')).toBe(KEY);
    expect(existsSync(join(target, 'postgres'))).toBe(false); // the dump went into the database, not the folder
    const db = connect(fresh);
    expect((await db.migrate('registry', new Array(1).fill('SELECT 1'))).from).toBe(1);
    const repo = await PgDeviceRepository.open({ db });
    expect(await repo.get('fall-1')).toMatchObject({ status: 'online', firmwareVersion: '3.1.4', lastSeen: 1_700_000_000_000 });
    expect((await repo.getSecretHash('fall-1'))?.secretHash).toBe('scrypt$abc');
    const images = await PgImageStore.open(db);
    expect(await images.check(IMAGE_SHA, IMAGE.length)).toBe('ok');
    expect((await buffer(images.stream(IMAGE_SHA, 0, IMAGE.length - 1))).equals(IMAGE)).toBe(true);
    // Start a cloud on what was restored: the admin token and the device are served as before.
    const cloud = await startCloud(loadCloudConfig({
      YULAN_DATA_DIR: target, YULAN_DATABASE_URL: fresh, YULAN_HTTP_HOST: '127.0.0.1', YULAN_HTTP_PORT: '0',
      YULAN_MQTT_URL: 'mqtt://127.0.0.1:9', YULAN_CLOUD_MQTT_PASSWORD: 'unused-here', YULAN_BROKER_TOKEN: 'broker-token-0123456789',
      YULAN_EDGE_URL: 'http://127.0.0.1:9', YULAN_EDGE_TOKEN: 'edge-token-0123456789',
    }), quietLogger, { dashboardDir: null });
    try {
      expect(cloud.adminToken).toBeUndefined(); // the restored digest, not a new token
      const r = await fetch(`${cloud.url}/api/v1/devices/fall-1`, { headers: { authorization: `Bearer ${ADMIN}` } });
      expect(r.status).toBe(200);
      expect(await r.json()).toMatchObject({ id: 'fall-1', status: 'online', firmwareVersion: '3.1.4' });
    } finally {
      await cloud.close();
    }
  });

  it('says clearly when pg_dump cannot be found', () => {
    expect(() => findPgTool('pg_dump', { PATH: '/nonexistent' }, join(tmp.dir, 'no-postgresql'))).toThrow(/pg_dump not found \(looked on PATH and in .*no-postgresql\/\*\/bin\): install the PostgreSQL client tools/);
  });
});
