import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InfluxStore, toLine, type StoreRecord } from '@yulan/edge';
import { launchInfluxd, shouldSkipInflux, type Influxd } from '@yulan/testkit';
import { adminCommand } from '../src/admin-command.js';
import { quietLogger, tempDir } from './support.js';

// `yulan admin influx-migrate` against a real influxd: data an older edge wrote into
// "autogen" ends up in the per-kind policies, counted, resumably and only once.
const DAY = 86_400_000;

async function admin(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const sink = (append: (s: string) => void) => ({ isTTY: false, write: (s: string | Uint8Array) => { append(String(s)); return true; } }) as unknown as NodeJS.WriteStream;
  const code = await adminCommand(args, { env, stdout: sink((s) => { stdout += s; }), stderr: sink((s) => { stderr += s; }) });
  return { code, stdout, stderr };
}

interface Result { complete: boolean; droppedAutogen: boolean; noSource: boolean; measurements: { measurement: string; sourceValues: number; targetValues: number; expiredValues: number; windowsCopied: number; complete: boolean }[] }
const parsed = (stdout: string): Result => JSON.parse(stdout) as Result;
const byName = (r: Result, m: string) => r.measurements.find((x) => x.measurement === m)!;

const ref = { deviceId: 'env-1', site: 'north', kind: 'env-monitor' as const };
const now = Date.now();
// Readings on 5 days of the last week (3 a day), two 40 days old (past the 30-day raw policy).
const readings: StoreRecord[] = [
  ...[1, 2, 3, 4, 5].flatMap((d) => [0, 1, 2].map((i) => ({ ...ref, type: 'reading' as const, seq: d * 10 + i, tsMs: now - d * DAY + i * 60_000, fields: { pm25_ugm3: d + i / 10 }, text: {} }))),
  ...[0, 1].map((i) => ({ ...ref, type: 'reading' as const, seq: 900 + i, tsMs: now - 40 * DAY + i * 1000, fields: { pm25_ugm3: 99 }, text: {} })),
];
const aggregates: StoreRecord[] = [10, 400].map((d) => ({ ...ref, type: 'aggregate', windowStartMs: Math.floor((now - d * DAY) / 60_000) * 60_000, fields: { pm25_ugm3: { count: 6, min: 1, max: 3, mean: 2, last: 2 } } }));
const events: StoreRecord[] = [3, 300].map((d, i) => ({ ...ref, type: 'event', seq: 500 + i, tsMs: now - d * DAY, eventType: 'tamper', severity: 'warning', message: `lid opened ${d} days ago`, attributes: { side: 'left' } }));

describe.skipIf(shouldSkipInflux())('yulan admin influx-migrate (real influxd)', () => {
  const tmp = tempDir('yulan-influx-migrate-');
  let influx: Influxd;
  let env: NodeJS.ProcessEnv;
  const count = async (from: string): Promise<number> => {
    const r = await influx.query(`SELECT COUNT(*) FROM ${from} GROUP BY *`, 'yulan') as { results: { series?: { values: number[][] }[] }[] };
    return (r.results[0]?.series ?? []).reduce((a, s) => a + s.values[0]!.slice(1).reduce((x, y) => x + (y ?? 0), 0), 0);
  };

  beforeAll(async () => {
    influx = await launchInfluxd();
    await influx.createDatabase('yulan');
    // What an older edge did: every kind into the database's default policy, autogen.
    const body = [...readings, ...aggregates, ...events].map((r) => toLine(r)).join('\n');
    const res = await fetch(`${influx.url}/write?db=yulan&precision=ns`, { method: 'POST', body });
    expect(res.status).toBe(204);
    env = { YULAN_DATA_DIR: tmp.dir, YULAN_INFLUX_URL: influx.url, YULAN_INFLUX_DB: 'yulan' };
  });
  afterAll(async () => {
    await influx?.dispose();
    tmp.cleanup();
  });

  it('copies window by window, stops where told, survives the server going away, and resumes to a verified end', async () => {
    const first = await admin(['influx-migrate', '--max-windows', '2', '--json'], env);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const partial = parsed(first.stdout);
    expect(partial.complete).toBe(false);
    expect(partial.measurements.reduce((a, m) => a + m.windowsCopied, 0)).toBe(2);

    await influx.stop();
    const down = await admin(['influx-migrate'], env);
    expect(down.code).toBe(6);
    expect(down.stderr).toContain('influxdb unreachable');
    expect(down.stderr).toContain('E_EDGE_INFLUX_MIGRATE');
    await influx.start();

    const rest = await admin(['influx-migrate', '--json'], env);
    expect(rest.code).toBe(0);
    const done = parsed(rest.stdout);
    expect(done.complete).toBe(true);
    // The first run's two windows are not copied again.
    expect(byName(done, 'reading').windowsCopied + byName(partial, 'reading').windowsCopied).toBe(5);
    // 15 recent readings x (seq + pm25) field values; the two 40-day-old ones are expired.
    expect(byName(done, 'reading').expiredValues + byName(partial, 'reading').expiredValues).toBe(4);
    expect(await count('"yulan_raw"."reading"')).toBe(30);
    expect(await count('"yulan_agg"."agg_1m"')).toBe(await count('"autogen"."agg_1m"'));
    expect(await count('"yulan_events"."event"')).toBe(await count('"autogen"."event"'));
    for (const m of done.measurements) expect(m.targetValues).toBe(m.sourceValues);
  });

  it('the edge reads the migrated data from the new policies and keeps writing there', async () => {
    const store = new InfluxStore({ url: influx.url, api: 'v1', db: 'yulan', retention: { rawDays: 30, aggregatesDays: 730, eventsDays: 1825 } }, quietLogger);
    await store.init();
    const raw = await store.queryRaw({ deviceId: 'env-1', fromMs: now - 50 * DAY, toMs: now + 1, limit: 100 });
    expect(raw.map((p) => p.seq).sort((a, b) => a - b)).toEqual(readings.filter((r) => r.type === 'reading' && r.seq < 900).map((r) => (r as { seq: number }).seq).sort((a, b) => a - b));
    const ev = await store.queryEvents({ deviceId: 'env-1', fromMs: now - 400 * DAY, toMs: now + 1, limit: 100 });
    expect(ev.map((e) => e.message).sort()).toEqual(['lid opened 3 days ago', 'lid opened 300 days ago']);
    expect(ev[0]!.attributes).toEqual({ side: 'left' });
    const agg = await store.queryAggregates({ deviceId: 'env-1', fromMs: now - 500 * DAY, toMs: now + 1, limit: 100 });
    expect(agg).toHaveLength(2);
    expect(agg[0]!.fields.pm25_ugm3).toEqual({ count: 6, min: 1, max: 3, mean: 2, last: 2 });
    // Field types survived the copy (seq is still an integer): a new write is not a type conflict.
    await store.write([{ ...ref, type: 'reading', seq: 1000, tsMs: now - 2 * DAY + 5000, fields: { pm25_ugm3: 7 }, text: {} }]);
    expect(await count('"yulan_raw"."reading"')).toBe(32);
  });

  it('runs again without duplicating anything, with or without its checkpoint, then drops autogen', async () => {
    const again = parsed((await admin(['influx-migrate', '--json'], env)).stdout);
    expect(again.measurements.every((m) => m.windowsCopied === 0)).toBe(true);
    rmSync(join(tmp.dir, 'edge', 'influx-migrate.json'));
    const fresh = await admin(['influx-migrate', '--window-hours', '6'], env);
    expect(fresh.code).toBe(0);
    expect(fresh.stdout).toContain('migration complete');
    expect(await count('"yulan_raw"."reading"')).toBe(32);
    // 2 events x (seq, type, severity, message, attributes)
    expect(await count('"yulan_events"."event"')).toBe(10);

    const dropped = parsed((await admin(['influx-migrate', '--drop-autogen', '--json'], env)).stdout);
    expect(dropped.droppedAutogen).toBe(true);
    const policies = await influx.query('SHOW RETENTION POLICIES ON "yulan"') as { results: { series: { values: unknown[][] }[] }[] };
    expect(policies.results[0]!.series[0]!.values.map((v) => v[0]).sort()).toEqual(['yulan_agg', 'yulan_events', 'yulan_raw']);
    expect(await count('"yulan_raw"."reading"')).toBe(32);
    const after = await admin(['influx-migrate'], env);
    expect(after.code).toBe(0);
    expect(after.stdout).toContain('nothing to migrate');
  });

  it('refuses clearly without InfluxDB 1.x settings', async () => {
    const none = await admin(['influx-migrate'], { YULAN_DATA_DIR: tmp.dir });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('YULAN_INFLUX_URL is not set');
    const v2 = await admin(['influx-migrate'], { ...env, YULAN_INFLUX_API: 'v2', YULAN_INFLUX_ORG: 'o', YULAN_INFLUX_BUCKET: 'b', YULAN_INFLUX_TOKEN: 't' });
    expect(v2.code).toBe(1);
    expect(v2.stderr).toContain('InfluxDB 1.x');
    const bad = await admin(['influx-migrate', '--window-hours', '0'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--window-hours');
  });
});

describe.skipIf(shouldSkipInflux())('yulan admin influx-migrate when the copy cannot be completed (real influxd)', () => {
  const tmp = tempDir('yulan-influx-migrate-conflict-');
  let influx: Influxd;
  afterAll(async () => {
    await influx?.dispose();
    tmp.cleanup();
  });

  it('stops with a clear error, records no progress past the failed window and deletes nothing', async () => {
    influx = await launchInfluxd();
    await influx.createDatabase('yulan');
    const old = readings.filter((r) => r.type === 'reading' && r.tsMs > now - 2 * DAY);
    expect((await fetch(`${influx.url}/write?db=yulan&precision=ns`, { method: 'POST', body: old.map((r) => toLine(r)).join('\n') })).status).toBe(204);
    // The new policy already holds pm25_ugm3 as text in that shard: the float copy cannot land there.
    await influx.query('CREATE RETENTION POLICY "yulan_raw" ON "yulan" DURATION 30d REPLICATION 1 DEFAULT');
    const clash = `reading,device_id=other,site=north,kind=env-monitor pm25_ugm3="broken" ${(old[0]!.type === 'reading' ? old[0]!.tsMs : 0) * 1_000_000 + 7}`;
    expect((await fetch(`${influx.url}/write?db=yulan&rp=yulan_raw&precision=ns`, { method: 'POST', body: clash })).status).toBe(204);
    const env = { YULAN_DATA_DIR: tmp.dir, YULAN_INFLUX_URL: influx.url, YULAN_INFLUX_DB: 'yulan' };
    const r = await admin(['influx-migrate'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('E_EDGE_INFLUX_MIGRATE');
    expect(r.stderr).toContain('field type conflict');
    const source = await influx.query('SELECT COUNT(*) FROM "autogen"."reading"', 'yulan') as { results: { series: { values: number[][] }[] }[] };
    expect(source.results[0]!.series[0]!.values[0]!.slice(1)).toEqual([old.length, old.length]);
    const again = await admin(['influx-migrate', '--json'], env);
    expect(again.code).toBe(1); // the same window again, not skipped as done
  });
});
