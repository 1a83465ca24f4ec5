import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { freePort } from './ports.js';
import { serverProcess, skipWithout } from './server-process.js';
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
  return skipWithout(influxdPath() !== undefined, 'influxd', 'apt-get install influxdb (1.x)');
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
  const server = serverProcess({
    name: 'influxd', bin, args: ['-config', configPath], startTimeoutMs: 30_000, stopSignal: 'SIGKILL',
    ready: async () => (await fetch(`${url}/ping`)).status === 204,
  });

  const api: Influxd = {
    url, port: httpPort, dir,
    start: () => server.start(),
    stop: () => server.stop(),
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
