import { cpSync, readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runUp, type UpHandle } from '../src/up.js';
import { api, eventually, quietLogger, tempDir } from './support.js';

// The upgrade path (issue 18): a data directory the released code wrote
// (fixtures/README.md) starts on this code — every database migrated with a copy taken
// first, the registry, people, admin token and telemetry all still there — and a second
// start changes nothing more.
const FIXTURE = join(import.meta.dirname, 'fixtures', 'released-76f00b6');
const ADMIN_TOKEN = 'f8o313lIa3u5nXGV7wc8SuRuWtR5HES99V_pMkALfXo';
const DATABASES = ['cloud/registry.sqlite', 'cloud/people.sqlite', 'cloud/alerts.sqlite', 'cloud/control.sqlite', 'cloud/firmware/firmware.sqlite', 'edge/telemetry.db', 'edge/outbox.db', 'edge/alerts.db'];

const version = (file: string): number => {
  const db = new Database(file, { readonly: true });
  try { return db.pragma('user_version', { simple: true }) as number; } finally { db.close(); }
};
const copies = (file: string): string[] => readdirSync(dirname(file)).filter((n) => n.startsWith(`${basename(file)}.v`) && n.endsWith('.bak'));

describe('a released data directory on this code', () => {
  const tmp = tempDir('yulan-upgrade-');
  const data = join(tmp.dir, 'data');
  const env: NodeJS.ProcessEnv = {
    YULAN_DATA_DIR: data, YULAN_MQTT_PORT: '0', YULAN_WS_PORT: '0', YULAN_HTTP_PORT: '0', YULAN_EDGE_HTTP_PORT: '0', YULAN_DEMO_PAGER_PORT: '0',
    YULAN_MQTT_HOST: '127.0.0.1', YULAN_HTTP_HOST: '127.0.0.1', YULAN_OCPP_PORT: '0', YULAN_SIM_OCPP: '0', YULAN_SIM_DEVICES: '0', YULAN_SERIAL_DEMO: '0',
    // The fixture's readings age: the retention pass must not delete them as time goes by.
    YULAN_RETENTION_RAW_DAYS: '0', YULAN_RETENTION_AGGREGATES_DAYS: '0', YULAN_RETENTION_EVENTS_DAYS: '0', YULAN_RETENTION_ALERTS_DAYS: '0', YULAN_RETENTION_AUDIT_DAYS: '0',
  };
  const before = new Map<string, number>();
  let devices: string[];
  let readings: Map<string, number[]>;
  let up: UpHandle | undefined;

  beforeAll(() => {
    cpSync(FIXTURE, data, { recursive: true });
    for (const f of DATABASES) before.set(f, version(join(data, f)));
    const registry = new Database(join(data, 'cloud/registry.sqlite'), { readonly: true });
    devices = (registry.prepare('SELECT id FROM devices ORDER BY id').all() as { id: string }[]).map((d) => d.id);
    registry.close();
    const store = new Database(join(data, 'edge/telemetry.db'), { readonly: true });
    readings = new Map();
    for (const r of store.prepare('SELECT device_id AS id, seq FROM readings ORDER BY seq').all() as { id: string; seq: number }[]) {
      readings.set(r.id, [...(readings.get(r.id) ?? []), r.seq]);
    }
    store.close();
  });
  afterAll(async () => {
    await up?.close();
    tmp.cleanup();
  });

  it('starts, migrates every older database after copying it, and serves the same registry, token and telemetry', async () => {
    expect(devices.length).toBeGreaterThan(0);
    expect([...before.values()].some((v) => v === 0)).toBe(true); // the fixture predates versions in places
    up = await runUp(env, quietLogger, () => {});
    expect(up.adminToken).toBeUndefined(); // the registry has one already: the released token
    const base = `http://127.0.0.1:${up.httpPort}`;
    const list = await api<{ items: { id: string }[] }>(base, ADMIN_TOKEN, '/api/v1/devices?limit=100');
    expect(list.status).toBe(200);
    expect(list.body.items.map((d) => d.id).sort()).toEqual(devices);
    const [probe, seqs] = [...readings].sort((a, b) => b[1].length - a[1].length)[0]!;
    expect(seqs.length).toBeGreaterThanOrEqual(5);
    const served = await eventually(async () => {
      const r = await api<{ points: { seq?: number }[] }>(base, ADMIN_TOKEN, `/api/v1/devices/${probe}/telemetry?resolution=raw&from=0&limit=10000`);
      return r.status === 200 && r.body.points.length >= seqs.length ? r.body.points.map((p) => p.seq!) : undefined;
    }, `the released readings of ${probe}`);
    expect(served.filter((s) => seqs.includes(s)).sort((a, b) => a - b)).toEqual(seqs);
    await up.close();
    up = undefined;

    for (const f of DATABASES) {
      const file = join(data, f);
      const now = version(file);
      expect(now, f).toBeGreaterThan(0);
      expect(now, f).toBeGreaterThanOrEqual(before.get(f)!);
      const bak = copies(file);
      if (now > before.get(f)!) {
        // A consistent copy of the old file was taken before migrating it.
        expect(bak, `${f} copied before its migration`).toHaveLength(1);
        expect(bak[0]).toMatch(new RegExp(`\\.v${before.get(f)}\\.`));
        expect(version(join(dirname(file), bak[0]!))).toBe(before.get(f));
      } else {
        expect(bak, `${f} needed no migration and no copy`).toHaveLength(0);
      }
    }
  });

  it('a second start migrates nothing more and takes no more copies', async () => {
    const after = new Map(DATABASES.map((f) => [f, [version(join(data, f)), copies(join(data, f)).length] as const]));
    up = await runUp(env, quietLogger, () => {});
    const list = await api<{ items: { id: string }[] }>(`http://127.0.0.1:${up.httpPort}`, ADMIN_TOKEN, '/api/v1/devices?limit=100');
    expect(list.body.items.map((d) => d.id).sort()).toEqual(devices);
    await up.close();
    up = undefined;
    for (const f of DATABASES) expect([version(join(data, f)), copies(join(data, f)).length], f).toEqual(after.get(f));
  });
});
