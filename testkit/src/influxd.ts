import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { freePort } from './ports.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Launches a real InfluxDB 1.x (`influxd`) for tests: everything under a temp dir, HTTP
 * and RPC on free ports, reporting disabled. `stop()` + `start()` restart it on the same
 * dir and port (outage tests). Reusable by other packages' suites.
 */
export interface Influxd {
  url: string;
  port: number;
  dir: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  query(q: string, db?: string): Promise<unknown>;
  createDatabase(db: string): Promise<void>;
  /** Stops and deletes the temp dir. */
  dispose(): Promise<void>;
}

export function influxdPath(): string | undefined {
  const r = spawnSync('sh', ['-c', 'command -v influxd'], { encoding: 'utf8' });
  const p = r.stdout.trim();
  return r.status === 0 && p ? p : undefined;
}

/** For describe.skipIf: true when influxd is missing and we are allowed to skip.
 * With CI=true a missing influxd is a failure, not a skip. */
export function shouldSkipInflux(): boolean {
  if (influxdPath()) return false;
  if (process.env.CI === 'true') throw new Error('influxd not found on PATH but CI=true: InfluxDB tests must run in CI');
  console.warn('[tests] influxd not found on PATH — skipping InfluxDB tests (install influxdb 1.x to run them)');
  return true;
}

async function poll(what: string, fn: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await fn().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export async function launchInfluxd(): Promise<Influxd> {
  const bin = influxdPath();
  if (!bin) throw new Error('influxd not found on PATH');
  const dir = mkdtempSync(join(tmpdir(), 'yulan-influxd-'));
  const [httpPort, rpcPort] = [await freePort(), await freePort()];
  for (const d of ['meta', 'data', 'wal']) mkdirSync(join(dir, d));
  const configPath = join(dir, 'influxdb.conf');
  writeFileSync(configPath, [
    'reporting-disabled = true',
    `bind-address = "127.0.0.1:${rpcPort}"`,
    '[meta]', `  dir = "${join(dir, 'meta')}"`,
    '[data]', `  dir = "${join(dir, 'data')}"`, `  wal-dir = "${join(dir, 'wal')}"`, '  query-log-enabled = false',
    '[http]', `  bind-address = "127.0.0.1:${httpPort}"`, '  log-enabled = false',
    '[monitor]', '  store-enabled = false',
    '[continuous_queries]', '  enabled = false',
    '',
  ].join('\n'));
  const url = `http://127.0.0.1:${httpPort}`;
  let child: ChildProcess | undefined;
  let stderr = '';

  const api: Influxd = {
    url, port: httpPort, dir,
    async start() {
      if (child) return;
      stderr = '';
      const c = spawn(bin, ['-config', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
      c.stderr?.on('data', (b: Buffer) => {
        stderr = (stderr + b.toString()).slice(-4000);
      });
      child = c;
      try {
        await poll('influxd /ping', async () => {
          if (c.exitCode !== null) throw new Error(`influxd exited: ${stderr}`);
          return (await fetch(`${url}/ping`)).status === 204;
        }, 30_000);
      } catch (err) {
        throw new Error(`influxd did not start: ${(err as Error).message}\n${stderr}`);
      }
    },
    async stop() {
      const c = child;
      child = undefined;
      if (!c || c.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        c.once('exit', () => resolve());
        c.kill('SIGKILL');
      });
    },
    async query(q, db) {
      const params = new URLSearchParams({ q, epoch: 'ms', ...(db ? { db } : {}) });
      const res = await fetch(`${url}/query`, { method: 'POST', body: params });
      if (!res.ok) throw new Error(`influx query ${res.status}: ${await res.text()}`);
      return res.json();
    },
    async createDatabase(db) {
      await api.query(`CREATE DATABASE "${db}"`);
    },
    async dispose() {
      await api.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await api.start();
  return api;
}
