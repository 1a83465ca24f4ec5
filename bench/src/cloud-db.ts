// npm run bench -- cloud-db [--n 5000] [--concurrency 32]: the cloud's hot database paths
// on SQLite (the embedded default) and PostgreSQL (YULAN_DATABASE_URL) — an API token's
// check on every request, an id tag write, a gateway's sync page, a complaint's
// per-address budget — timed in-process against a real server on this machine.
import { mkdtempSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { openComplaintsStore, openIdTagStore, openIntegrations, PostgresDatabase, type DbTarget } from '@yulan/cloud';
import { launchPostgres } from '@yulan/testkit';
import { describeMachine, fmt, machineMarkdown, percentile, publish, table } from './report.js';

interface Figure { backend: string; path: string; n: number; concurrency: number; opsPerSec: number; p50: number; p99: number }

function arg(argv: string[], name: string, dflt: number): number {
  const i = argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(argv[i + 1]) : dflt;
  if (!Number.isInteger(v) || v <= 0) throw new Error(`--${name} must be a positive integer`);
  return v;
}

/** `n` calls of `op`, `concurrency` at a time; latency per call in ms. */
async function timed(n: number, concurrency: number, op: (i: number) => Promise<unknown>): Promise<{ opsPerSec: number; p50: number; p99: number }> {
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    for (let i = next++; i < n; i = next++) {
      const s = performance.now();
      await op(i);
      lat.push(performance.now() - s);
    }
  }));
  const wall = performance.now() - t0;
  lat.sort((a, b) => a - b);
  return { opsPerSec: (n * 1000) / wall, p50: percentile(lat, 50), p99: percentile(lat, 99) };
}

async function measure(backend: string, targetFor: (file: string) => DbTarget, n: number, concurrency: number): Promise<Figure[]> {
  const logger = pino({ level: 'silent' });
  const out: Figure[] = [];
  const record = (path: string, c: number, r: { opsPerSec: number; p50: number; p99: number }, count = n): void => {
    out.push({ backend, path, n: count, concurrency: c, ...r });
    process.stderr.write(`${backend} ${path} ×${c}: ${fmt(r.opsPerSec)}/s p50 ${fmt(r.p50)} ms p99 ${fmt(r.p99)} ms\n`);
  };
  const integ = await openIntegrations({ target: targetFor('integrations.sqlite'), logger, mqtt: { connected: () => false, publish: async () => undefined } });
  const tokens: string[] = [];
  for (let i = 0; i < 200; i++) tokens.push((await integ.tokens.create({ scopes: ['telemetry:read'] }, 'bench')).token);
  for (const c of [1, concurrency]) {
    record('API token check (resolve)', c, await timed(n, c, async (i) => {
      const r = await integ.tokens.resolve(tokens[i % tokens.length] as string);
      if (!r.ok) throw new Error(`token refused: ${r.reason}`);
    }));
  }
  const tags = await openIdTagStore(targetFor('ocpp-id-tags.sqlite'));
  const fields = { status: 'Accepted' as const, expiryMs: null, parent: null, note: null };
  const writes = Math.min(n, 2000);
  for (const c of [1, concurrency]) {
    record('id tag write (versioned, audited)', c, await timed(writes, c, (i) => tags.write(`T${c}-${i}`, '*', () => fields, 'bench', 'add', new Date().toISOString())), writes);
  }
  record('id tag sync page (1,000 changes)', 1, await timed(Math.min(n, 500), 1, (i) => tags.changesSince(i % 1000, 1000)), Math.min(n, 500));
  const complaints = await openComplaintsStore(targetFor('complaints.sqlite'), logger);
  const t = Date.now();
  for (const c of [1, concurrency]) {
    record('complaint per-address budget', c, await timed(Math.min(n, 2000), c, (i) => complaints.takeSubmission(`addr-${c}-${i % 50}`, t + i, 3_600_000, 5)), Math.min(n, 2000));
  }
  await integ.close();
  await tags.close();
  await complaints.shutdown();
  return out;
}

export async function runCloudDb(argv: string[]): Promise<void> {
  const n = arg(argv, 'n', 5000);
  const concurrency = arg(argv, 'concurrency', 32);
  const dir = mkdtempSync(join(tmpdir(), 'yulan-bench-cloud-db-'));
  const pgServer = await launchPostgres();
  const db = new PostgresDatabase({ url: await pgServer.createDatabase('bench'), logger: pino({ level: 'silent' }), max: concurrency });
  const figures: Figure[] = [];
  try {
    figures.push(...await measure('SQLite', (file) => ({ kind: 'sqlite', file: join(dir, file) }), n, concurrency));
    figures.push(...await measure('PostgreSQL', () => ({ kind: 'postgres', db }), n, concurrency));
  } finally {
    await db.close();
    await pgServer.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
  const machine = describeMachine();
  machine.peers.postgres = execFileSync(join(pgServer.binDir, 'postgres'), ['--version'], { encoding: 'utf8' }).trim();
  const md = [
    '## cloud-db — the cloud\'s hot database paths, SQLite vs PostgreSQL',
    '',
    machineMarkdown(machine),
    '',
    `Options: in one Node process, the cloud's own store classes against a SQLite file in a temp dir (WAL) and a PostgreSQL server on this machine (\`launchPostgres\`: fsync on, defaults otherwise, a pool of ${concurrency}); `
      + `${fmt(n)} API-token checks (the per-request path: one read joined with the account, SHA-256 compared in constant time, no cache) sequentially and ${concurrency} at a time, `
      + 'id tag writes (version counter, upsert, audit row in one transaction), a gateway\'s sync page of 1,000 changes, and a complaint\'s per-address budget (count + insert under a per-address lock).',
    '',
    table(['backend', 'path', 'calls', 'concurrency', 'per second', 'p50 (ms)', 'p99 (ms)'],
      figures.map((f) => [f.backend, f.path, f.n, f.concurrency, f.opsPerSec, f.p50, f.p99])),
  ].join('\n');
  process.stdout.write(`${md}\n`);
  const file = publish('cloud-db', md, { n, concurrency, machine, figures });
  process.stderr.write(`wrote BENCHMARKS.md and ${file}\n`);
}
