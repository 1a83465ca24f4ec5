// npm run bench -- console-load [--devices=10000,100000] [--runs=5]
// The operator console at fleet scale: the registry seeded with N devices, the cloud
// started on it, an operator signed in, and headless Chromium timing the first load of
// the fleet screen and a search; the fleet API timed on its own too.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { chromium } from 'playwright-core';
import pino from 'pino';
import { loadCloudConfig, SqliteDeviceRepository, startCloud } from '@yulan/cloud';
import { describeMachine, machineMarkdown, percentile, publish, table } from './report.js';

const KINDS = ['ev-charger', 'parcel-locker', 'fall-sensor', 'env-monitor'] as const;
const ADMIN = 'bench-console-admin-token-0123456789';
const PASSWORD = 'bench operator password';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const deadPort = () => new Promise<number>((resolve) => {
  const s = createServer();
  s.listen(0, '127.0.0.1', () => { const { port } = s.address() as { port: number }; s.close(() => resolve(port)); });
});

/** N devices in one transaction (the API would hash a secret each); a third online, 200 sites. */
function seed(dir: string, n: number): void {
  const file = join(dir, 'cloud', 'registry.sqlite');
  void new SqliteDeviceRepository({ file }).close(); // schema and indexes, as the cloud makes them
  const db = new Database(file);
  const insert = db.prepare(`INSERT INTO devices (id, site, kind, name, firmware_version, secret_hash, online, last_seen, presence_ts, created_at)
    VALUES (?, ?, ?, NULL, ?, 'scrypt$unused', ?, ?, ?, ?)`);
  const now = Date.now();
  db.transaction(() => {
    for (let i = 0; i < n; i++) {
      const kind = KINDS[i % 4]!;
      const seen = now - (i % 86_400) * 1000;
      insert.run(`${kind}-${String(i).padStart(6, '0')}`, `site-${String(i % 200).padStart(3, '0')}`, kind, `1.${i % 4}.0`, i % 3 === 0 ? 1 : 0, seen, seen, now - 86_400_000);
    }
  })();
  db.exec('ANALYZE');
  db.close();
}

const median = (xs: number[]): number => percentile([...xs].sort((a, b) => a - b), 50);
const p95 = (xs: number[]): number => percentile([...xs].sort((a, b) => a - b), 95);

async function timed(url: string, cookie: string, reps: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    const r = await fetch(url, { headers: { cookie } });
    await r.arrayBuffer();
    if (r.status !== 200) throw new Error(`${url}: ${r.status}`);
    out.push(performance.now() - t0);
  }
  return out;
}

export async function runConsoleLoad(argv: string[]): Promise<unknown> {
  const arg = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  const sizes = (arg('devices') ?? '10000,100000').split(',').map(Number);
  const runs = Number(arg('runs') ?? 5);
  const machine = describeMachine();
  const results: Record<string, unknown>[] = [];
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    for (const n of sizes) {
      const dir = mkdtempSync(join(tmpdir(), 'yulan-bench-console-'));
      const tSeed = performance.now();
      seed(dir, n);
      const seedMs = performance.now() - tSeed;
      const cloud = await startCloud(loadCloudConfig({
        YULAN_DATA_DIR: dir, YULAN_HTTP_HOST: '127.0.0.1', YULAN_HTTP_PORT: '0', YULAN_ADMIN_TOKEN: ADMIN,
        // No broker or edge: the fleet screen's cost is the registry's; latest values are skipped when the edge is down.
        YULAN_MQTT_URL: `mqtt://127.0.0.1:${await deadPort()}`, YULAN_CLOUD_MQTT_PASSWORD: 'unused',
        YULAN_BROKER_TOKEN: 'unused-broker-token', YULAN_EDGE_URL: `http://127.0.0.1:${await deadPort()}`, YULAN_EDGE_TOKEN: 'unused-edge-token',
        YULAN_API_RATE_LIMIT: '100000',
      }), pino({ level: 'silent' }), {});
      try {
        const admin = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
        await fetch(`${cloud.url}/api/v1/people`, { method: 'POST', headers: admin, body: JSON.stringify({ login: 'bench.op', name: 'Bench', role: 'operator', password: PASSWORD }) });
        const login = await fetch(`${cloud.url}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ login: 'bench.op', password: PASSWORD }) });
        const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
        const api = {
          firstPage: await timed(`${cloud.url}/api/v1/fleet?limit=100`, cookie, 20),
          deepPage: await timed(`${cloud.url}/api/v1/fleet?limit=100&offset=${Math.floor(n / 2)}`, cookie, 20),
          search: await timed(`${cloud.url}/api/v1/fleet?q=00042&limit=100`, cookie, 20),
          filterSort: await timed(`${cloud.url}/api/v1/fleet?kind=fall-sensor&status=offline&sort=lastSeen&order=desc&limit=100`, cookie, 20),
        };
        const repo = new SqliteDeviceRepository({ file: join(dir, 'cloud', 'registry.sqlite') });
        const counts: number[] = [];
        for (let i = 0; i < 10; i++) { const t0 = performance.now(); await repo.fleetCounts(); counts.push(performance.now() - t0); }
        await repo.close();

        const load: { dcl: number; firstRow: number; counts: number; search: number }[] = [];
        for (let r = 0; r < runs; r++) {
          const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
          const [name, value] = cookie.split('=') as [string, string];
          await ctx.addCookies([{ name, value, url: cloud.url, httpOnly: true, sameSite: 'Strict' }]);
          const page = await ctx.newPage();
          await page.goto(`${cloud.url}/`);
          await page.waitForSelector('.grid tr.row a');
          const firstRow = await page.evaluate(() => performance.now());
          await page.waitForFunction("document.querySelector('.stat .n')?.textContent !== '0'");
          const countsAt = await page.evaluate(() => performance.now());
          const dcl = (await page.evaluate("performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd")) as number;
          const t0 = await page.evaluate(() => performance.now());
          await page.getByLabel('Search id or name').fill('fall-sensor-000042');
          await page.waitForSelector('a[href="#/device/fall-sensor-000042"]');
          const search = (await page.evaluate(() => performance.now())) - t0;
          load.push({ dcl, firstRow, counts: countsAt, search });
          await ctx.close();
        }
        results.push({
          devices: n, seedMs, api, counts, load,
          row: [n, median(load.map((l) => l.dcl)), median(load.map((l) => l.firstRow)), p95(load.map((l) => l.firstRow)), median(load.map((l) => l.counts)),
            median(load.map((l) => l.search)), median(api.firstPage), median(api.deepPage), median(api.search), median(api.filterSort), median(counts)],
        });
        process.stdout.write(`console-load ${n}: first row ${median(load.map((l) => l.firstRow)).toFixed(0)} ms, search ${median(load.map((l) => l.search)).toFixed(0)} ms\n`);
      } finally {
        await cloud.close();
        rmSync(dir, { recursive: true, force: true });
      }
    }
  } finally {
    await browser.close();
  }
  const md = [
    '## console-load — the operator console at fleet scale',
    '',
    machineMarkdown(machine),
    '',
    `Options: registry seeded with N devices (4 kinds, 200 sites, a third online), cloud in-process without broker or edge (the fleet screen's cost is the registry's), an operator signed in with the session cookie; headless Chromium 1280 × 800, ${runs} cold loads each (new browser context). Times in ms from navigation start; "search" is typing an id until its row shows (includes the 250 ms typing debounce). API: median of 20 requests over HTTP; counts: the repository's GROUP BY (the route caches it 2 s).`,
    '',
    table(['devices', 'DOMContentLoaded', 'first row (median)', 'first row (p95)', 'counts shown', 'search → row', 'API first page', 'API page at N/2', 'API search', 'API kind+status, by last seen', 'counts query'],
      results.map((r) => r.row as (string | number)[])),
  ].join('\n');
  publish('console-load', md, { machine, results });
  return results;
}
