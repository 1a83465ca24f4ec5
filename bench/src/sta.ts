// npm run bench -- sta [--monitors 5000 --data-monitors 500 --days 365 --concurrency 4 --seconds 20]
// The public SensorThings API (/sta/v1.1) over a year of hourly readings: queries per
// second and p50/p99 for (a) a site's last 24 hours — the site's monitors with their
// PM2.5 datastream and its 24 newest observations, one request — and (b) a $filter over a
// month on one datastream. Edge (SQLite store + query API) and cloud (registry + app) run
// in their own processes; this process is the client. `--data-monitors` of the
// `--monitors` registered have readings (all of them at full scale: 43.8 M rows).
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SqliteStore, type StoreRecord } from '@yulan/edge';
import { SqliteDeviceRepository } from '@yulan/cloud';
import { describeMachine, fmt, machineMarkdown, percentile, publish, table } from './report.js';

const H = 3_600_000;
const SERVER = fileURLToPath(new URL('./sta-server.js', import.meta.url));
const TOKEN = 'bench-edge-token-0123456789';
const PER_SITE = 10;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function start(args: string[]): Promise<{ proc: ChildProcess; port: number }> {
  const proc = fork(SERVER, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    proc.once('message', (m: { port: number }) => resolve({ proc, port: m.port }));
    proc.once('exit', (code) => reject(new Error(`sta-server ${args[0]} exited ${code}`)));
  });
}

async function load(name: string, urls: () => string, concurrency: number, seconds: number, check: (body: Record<string, unknown>) => number) {
  const lat: number[] = [];
  let rows = 0;
  let errors = 0;
  const until = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < until) {
      const t = performance.now();
      const res = await fetch(urls());
      const body = (await res.json()) as Record<string, unknown>;
      if (res.status !== 200) { errors++; continue; }
      lat.push(performance.now() - t);
      rows += check(body);
    }
  }));
  const wall = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return { name, n: lat.length, qps: lat.length / wall, p50: percentile(lat, 50), p99: percentile(lat, 99), rowsPerQuery: rows / Math.max(1, lat.length), errors };
}

export async function runSta(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: {
    monitors: { type: 'string', default: '5000' }, 'data-monitors': { type: 'string', default: '500' }, days: { type: 'string', default: '365' },
    concurrency: { type: 'string', default: '4' }, seconds: { type: 'string', default: '20' },
  } });
  const monitors = Number(values.monitors);
  const dataMonitors = Math.min(monitors, Number(values['data-monitors']));
  const days = Number(values.days);
  const concurrency = Number(values.concurrency);
  const seconds = Number(values.seconds);
  if (![monitors, dataMonitors, days, concurrency, seconds].every((n) => n > 0)) throw new Error('all options must be positive numbers');
  const dir = mkdtempSync(join(tmpdir(), 'yulan-bench-sta-'));
  const procs: ChildProcess[] = [];
  try {
    // 1. The registry: every monitor, PER_SITE per site, plus other kinds that must stay out.
    const regFile = join(dir, 'registry.sqlite');
    const repo = new SqliteDeviceRepository({ file: regFile });
    const sites = Math.ceil(monitors / PER_SITE);
    for (let s = 0; s < sites; s++) await repo.createSite({ id: `site-${s}`, nameZh: `站点${s}`, nameEn: `Site ${s}`, lat: 31 + s / 10_000, lon: 121 + s / 10_000 });
    for (let m = 0; m < monitors; m++) await repo.create({ id: `env-${m}`, site: `site-${Math.floor(m / PER_SITE)}`, kind: 'env-monitor', name: null, secretHash: 'h' });
    for (let m = 0; m < monitors / 10; m++) await repo.create({ id: `fall-${m}`, site: `site-${m}`, kind: 'fall-sensor', name: null, secretHash: 'h' });
    await repo.close();

    // 2. A year of hourly readings, ending now, for the first dataMonitors monitors.
    const storeFile = join(dir, 'telemetry.db');
    const store = new SqliteStore(storeFile);
    await store.init();
    const now = Date.now();
    const first = Math.floor(now / H) * H - days * 24 * H;
    const r = rng(11);
    const tw = performance.now();
    for (let m = 0; m < dataMonitors; m++) {
      const recs: StoreRecord[] = [];
      for (let t = first, seq = 0; t < now; t += H, seq++) {
        recs.push({ type: 'reading', deviceId: `env-${m}`, site: `site-${Math.floor(m / PER_SITE)}`, kind: 'env-monitor', seq, tsMs: t, text: {}, fields: {
          pm25_ugm3: Math.round(r() * 1500) / 10, pm10_ugm3: Math.round(r() * 2000) / 10, no2_ugm3: 30 + r() * 40, o3_ugm3: 40 + r() * 120,
          co_mgm3: 0.4 + r(), so2_ugm3: 5 + r() * 10, noise_dba: 45 + r() * 20, temperature_c: 20, humidity_pct: 60, pm1_ugm3: 10,
        } });
      }
      await store.write(recs);
    }
    const writeS = (performance.now() - tw) / 1000;
    await store.close();
    const rowsStored = dataMonitors * Math.ceil((now - first) / H);
    const dbBytes = statSync(storeFile).size;

    // 3. Edge and cloud in their own processes.
    const edge = await start(['edge', storeFile, '', TOKEN]);
    procs.push(edge.proc);
    const cloud = await start(['cloud', regFile, `http://127.0.0.1:${edge.port}`, TOKEN]);
    procs.push(cloud.proc);
    const base = `http://127.0.0.1:${cloud.port}/sta/v1.1`;
    const pick = rng(5);
    const dataSite = () => Math.floor((pick() * dataMonitors) / PER_SITE);
    const monthFrom = new Date(now - 30 * 24 * H).toISOString();
    const to = new Date(now).toISOString();
    const siteDay = () => `${base}/Locations('site-${dataSite()}')/Things?$expand=${encodeURIComponent("Datastreams($filter=endswith(id,':pm25_ugm3');$expand=Observations($top=24;$orderby=phenomenonTime desc))")}`;
    const monthFilter = () => `${base}/Datastreams('env-${Math.floor(pick() * dataMonitors)}:pm25_ugm3')/Observations?$top=1000&$filter=${encodeURIComponent(`phenomenonTime ge ${monthFrom} and phenomenonTime lt ${to} and result gt 75`)}`;
    const countObs = (b: Record<string, unknown>) => (b.value as { Datastreams: { Observations: unknown[] }[] }[]).reduce((n, t) => n + (t.Datastreams[0]?.Observations.length ?? 0), 0);
    const countVal = (b: Record<string, unknown>) => (b.value as unknown[]).length;
    const loadBefore = loadavg()[0] ?? 0;
    const things = await load('warm-up', () => `${base}/Things?$top=1&$count=true`, 1, 1, () => 0);
    const results = [
      await load(`a site's last 24 h (${PER_SITE} monitors, PM2.5, 24 observations each)`, siteDay, concurrency, seconds, countObs),
      await load('$filter over a month (one datastream, 720 hours, result gt 75)', monthFilter, concurrency, seconds, countVal),
      await load('Things?$count=true&$top=100 (registry only)', () => `${base}/Things?$count=true&$top=100&$skip=${Math.floor(pick() * monitors)}`, concurrency, seconds / 2, countVal),
    ];
    const loadAfter = loadavg()[0] ?? 0;
    const md = [
      '## sta — public SensorThings API over a year of hourly data',
      '',
      machineMarkdown(describeMachine()),
      '',
      `${fmt(monitors)} env monitors registered (${fmt(sites)} sites, ${PER_SITE} each, plus ${fmt(monitors / 10)} fall sensors that must stay out); `
        + `${fmt(dataMonitors)} of them with ${days} days of hourly readings (10 fields) — ${fmt(rowsStored)} rows, ${fmt(dbBytes / 2 ** 20)} MiB SQLite, written in ${fmt(writeS)} s. `
        + `Edge and cloud in their own processes; ${concurrency} concurrent clients for ${seconds} s per query type. `
        + `Machine load average (1 min) ${fmt(loadBefore)} before and ${fmt(loadAfter)} after the queries (other developers' work shares these 2 cores).`,
      '',
      table(['query', 'requests', 'queries/s', 'p50 ms', 'p99 ms', 'rows per answer', 'errors'],
        results.map((x) => [x.name, x.n, x.qps, x.p50, x.p99, x.rowsPerQuery, x.errors])),
      '',
      `Warm-up ${things.n} request(s). A site's last 24 h is one HTTP request: the cloud reads the site's monitors from the registry and makes one edge query per monitor (${PER_SITE} here, at most 4 at a time). `
        + 'The month filter fetches the month from the edge by the filter\'s phenomenonTime bounds and applies the rest of the filter in the cloud.',
    ].join('\n');
    process.stdout.write(`${md}\n`);
    const file = publish('sta', md, { loadBefore, loadAfter, monitors, dataMonitors, days, concurrency, seconds, rowsStored, dbBytes, writeS, results });
    process.stderr.write(`wrote BENCHMARKS.md and ${file}\n`);
  } finally {
    for (const p of procs) p.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}
