import { cpSync, existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataCommand } from '../src/backup-command.js';
import type { Manifest } from '../src/backup.js';
import { runUp, type UpHandle } from '../src/up.js';
import { api, eventually, quietLogger, tempDir } from './support.js';

interface DeviceView { id: string; kind: string }
interface TelemetryPoint { ts: number; seq?: number }

/** Runs `yulan backup|restore` in-process and captures what it prints. */
async function run(name: 'backup' | 'restore', args: string[], dataDir: string): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const sink = (add: (s: string) => void) => new Writable({ write(c: Buffer, _e, cb) { add(c.toString()); cb(); } }) as unknown as NodeJS.WriteStream;
  const code = await dataCommand(name, args, { env: { YULAN_DATA_DIR: dataDir }, stdout: sink((s) => { out += s; }), stderr: sink((s) => { err += s; }) });
  return { code, out, err };
}

// `yulan up` on ephemeral ports with a live simulated fleet; backed up while it runs, restored
// into a fresh directory, started there and compared. Also: the refusals.
describe('yulan backup / restore, end to end', () => {
  const tmp = tempDir('yulan-backup-');
  const live = join(tmp.dir, 'live');
  const backup = join(tmp.dir, 'backup');
  const env = (dataDir: string, devices: string): NodeJS.ProcessEnv => ({
    YULAN_DATA_DIR: dataDir, YULAN_MQTT_PORT: '0', YULAN_WS_PORT: '0', YULAN_HTTP_PORT: '0', YULAN_EDGE_HTTP_PORT: '0', YULAN_DEMO_PAGER_PORT: '0',
    YULAN_MQTT_HOST: '127.0.0.1', YULAN_HTTP_HOST: '127.0.0.1', YULAN_OCPP_PORT: '0', YULAN_SIM_OCPP: '0', YULAN_SIM_DEVICES: devices, YULAN_SIM_RATE: '5', YULAN_SIM_SITES: 'xuhui',
    // the probe is the first env monitor listed; the serial demo's (env-serial-1) samples
    // particulates only every minute, so it would be the slow one
    YULAN_SERIAL_DEMO: '0',
  });
  let up: UpHandle | undefined;
  let token: string;
  let probe: DeviceView;
  let devices: string[];
  let manifest: Manifest;

  beforeAll(async () => {
    up = await runUp(env(live, '1'), quietLogger, () => {});
    token = up.adminToken!;
    const base = `http://127.0.0.1:${up.httpPort}`;
    probe = await eventually(async () => {
      const r = await api<{ items: DeviceView[] }>(base, token, '/api/v1/devices?limit=100');
      const env1 = r.body.items.find((d) => d.kind === 'env-monitor');
      if (!env1) return undefined;
      const t = await api<{ points: TelemetryPoint[] }>(base, token, `/api/v1/devices/${env1.id}/telemetry?resolution=raw&limit=10000`);
      return t.body.points.length >= 5 ? env1 : undefined;
    }, 'stored telemetry from the simulated env monitor', 30_000);
    devices = (await api<{ items: DeviceView[] }>(base, token, '/api/v1/devices?limit=100')).body.items.map((d) => d.id).sort();
  });
  afterAll(async () => {
    await up?.close();
    tmp.cleanup();
  });

  it('backs up every database online while the fleet keeps sending, with checksums and schema versions', async () => {
    const r = await run('backup', ['--to', backup, '--json'], live);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    manifest = (JSON.parse(r.out) as { manifest: Manifest }).manifest;
    const dbs = manifest.files.filter((f) => f.kind === 'sqlite').map((f) => f.path).sort();
    expect(dbs).toEqual(['cloud/alerts.sqlite', 'cloud/claims.sqlite', 'cloud/complaints.sqlite', 'cloud/control.sqlite', 'cloud/device-certs.sqlite', 'cloud/firmware/firmware.sqlite',
      'cloud/integrations.sqlite', 'cloud/ocpp-diagnostics.sqlite', 'cloud/ocpp-id-tags.sqlite', 'cloud/ocpp-site-power-caps.sqlite', 'cloud/people.sqlite', 'cloud/registry.sqlite',
      'cloud/security-alerts.sqlite', 'cloud/update-policy.sqlite', 'edge/alerts.db', 'edge/outbox.db', 'edge/telemetry.db',
      'gateway-ocpp/id-tags.sqlite', 'gateway-ocpp/outbox.sqlite']);
    for (const f of manifest.files.filter((x) => x.kind === 'sqlite')) {
      const db = new Database(join(backup, f.path), { readonly: true });
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(f.schemaVersion).toBe(db.pragma('user_version', { simple: true }));
      expect(f.schemaVersion).toBeGreaterThan(0);
      db.close();
    }
    expect(manifest.files.map((f) => f.path)).toContain('secrets.json');
    expect(manifest.files.some((f) => /-(wal|shm)$|\.in-use\./.test(f.path))).toBe(false);
    // it holds secrets and personal data: owner-only
    expect(statSync(backup).mode & 0o777).toBe(0o700);
    expect(statSync(join(backup, 'cloud', 'people.sqlite')).mode & 0o777).toBe(0o600);
  });

  it('refuses to restore into the data directory the running stack uses, changing nothing', async () => {
    const before = readdirSync(join(live, 'cloud')).sort();
    const r = await run('restore', ['--from', backup], live);
    expect(r.code).toBe(4);
    expect(r.err).toMatch(new RegExp(`${live} is in use by (cloud|edge) \\(pid ${process.pid}, since .*stop every Yulan service using it.*E_DATA_DIR_IN_USE`));
    expect(readdirSync(join(live, 'cloud')).sort()).toEqual(before);
  });

  it('refuses a damaged backup (checksum mismatch) and creates nothing', async () => {
    const damaged = join(tmp.dir, 'damaged');
    cpSync(backup, damaged, { recursive: true });
    const people = join(damaged, 'cloud', 'people.sqlite');
    const bytes = readFileSync(people);
    bytes[bytes.length - 100] = (bytes[bytes.length - 100]! + 1) % 256;
    writeFileSync(people, bytes);
    const target = join(tmp.dir, 'from-damaged');
    const r = await run('restore', ['--from', damaged], target);
    expect(r.code).toBe(4);
    expect(r.err).toContain('backup file cloud/people.sqlite does not match its SHA-256 in manifest.json');
    expect(r.err).toContain('nothing was restored (E_BACKUP_DAMAGED)');
    expect(existsSync(target)).toBe(false);
  });

  it('restores into a fresh directory that starts and serves the same registry, admin token and telemetry', async () => {
    await up!.close();
    up = undefined;
    const restored = join(tmp.dir, 'restored');
    const r = await run('restore', ['--from', backup], restored);
    expect(r.err).toBe('');
    expect(r.out).toContain(`restored ${backup} into ${restored}: 19 databases`);
    expect(statSync(restored).mode & 0o777).toBe(0o700);
    // a second restore onto it is refused: it is no longer fresh
    const again = await run('restore', ['--from', backup], restored);
    expect(again.code).toBe(4);
    expect(again.err).toContain('is not empty: restore goes into a fresh data directory');

    // What the backup holds for the probe device: stored readings plus those still in the
    // outbox at backup time (the restored edge forwards them on start).
    const store = new Database(join(backup, 'edge', 'telemetry.db'), { readonly: true });
    const outbox = new Database(join(backup, 'edge', 'outbox.db'), { readonly: true });
    const seqs = [...new Set([
      ...(store.prepare('SELECT seq FROM readings WHERE device_id = ?').all(probe.id) as { seq: number }[]).map((x) => x.seq),
      ...(outbox.prepare("SELECT json_extract(body, '$.seq') AS seq FROM outbox WHERE json_extract(body, '$.type') = 'reading' AND json_extract(body, '$.deviceId') = ?")
        .all(probe.id) as { seq: number }[]).map((x) => x.seq),
    ])].sort((a, b) => a - b);
    store.close();
    outbox.close();
    expect(seqs.length).toBeGreaterThanOrEqual(5);

    up = await runUp(env(restored, '0'), quietLogger, () => {});
    expect(up.adminToken).toBeUndefined(); // the restored registry already has one: the old token
    const base = `http://127.0.0.1:${up.httpPort}`;
    const list = await api<{ items: DeviceView[] }>(base, token, '/api/v1/devices?limit=100');
    expect(list.status).toBe(200);
    expect(list.body.items.map((d) => d.id).sort()).toEqual(devices);
    const served = async (): Promise<number[]> => (await api<{ points: TelemetryPoint[] }>(base, token, `/api/v1/devices/${probe.id}/telemetry?resolution=raw&limit=10000`))
      .body.points.map((p) => p.seq!).sort((a, b) => a - b);
    await eventually(async () => (await served()).length >= seqs.length, 'the restored edge to forward its restored outbox');
    expect(await served()).toEqual(seqs);
  });
});
