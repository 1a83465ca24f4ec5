import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';
import { serverProcess, skipWithout } from './server-process.js';

/**
 * Launches a real `redis-server` for tests and benchmarks: its files under a temp dir, on a
 * free port, bound to 127.0.0.1. `stop()` + `start()` restart it on the same dir and port.
 * Persistence is off (`--save ''`) unless `appendonly` is set; the broker durability test
 * uses `appendfsync: 'always'` so that whatever Redis acknowledged survives a broker kill.
 */
export interface RedisOptions {
  appendonly?: boolean;
  /** Only with appendonly: `always` fsyncs every write before replying. */
  appendfsync?: 'always' | 'everysec' | 'no';
}

export interface RedisServer {
  url: string;
  port: number;
  dir: string;
  /** Of the running server (for CPU accounting), undefined while stopped. */
  readonly pid: number | undefined;
  start(): Promise<void>;
  /** SIGKILL: what Redis had not written is lost, as in a crash. */
  stop(): Promise<void>;
  /** Stops and deletes the temp dir. */
  dispose(): Promise<void>;
}

export function redisServerPath(): string | undefined {
  const r = spawnSync('sh', ['-c', 'command -v redis-server || ls /usr/bin/redis-server'], { encoding: 'utf8' });
  const p = r.stdout.trim().split('\n')[0];
  return r.status === 0 && p ? p : undefined;
}

/** For describe.skipIf: true when redis-server is missing and we may skip.
 * With CI=true a missing redis-server is a failure, not a skip. */
export function shouldSkipRedis(): boolean {
  return skipWithout(redisServerPath() !== undefined, 'redis-server', 'apt-get install redis-server');
}

/** One PING over a raw socket: no client library needed to know the server is up. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    const done = (ok: boolean): void => { s.destroy(); resolve(ok); };
    s.setTimeout(1000, () => done(false));
    s.once('error', () => done(false));
    s.once('connect', () => s.write('PING\r\n'));
    s.once('data', (b: Buffer) => done(b.toString().startsWith('+PONG')));
  });
}

export async function launchRedis(opts: RedisOptions = {}): Promise<RedisServer> {
  const bin = redisServerPath();
  if (!bin) throw new Error('redis-server not found on PATH');
  const dir = mkdtempSync(join(tmpdir(), 'yulan-redis-'));
  const port = await freePort();
  const args = [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '',
    '--daemonize', 'no', '--protected-mode', 'yes', '--logfile', '',
    '--appendonly', opts.appendonly ? 'yes' : 'no',
    ...(opts.appendonly ? ['--appendfsync', opts.appendfsync ?? 'everysec'] : []),
  ];
  const server = serverProcess({
    name: 'redis-server', bin, args, startTimeoutMs: 20_000, stopSignal: 'SIGKILL', ready: () => ping(port),
  });

  const api: RedisServer = {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    get pid() { return server.pid; },
    start: () => server.start(),
    stop: () => server.stop(),
    async dispose() {
      await api.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await api.start();
  return api;
}
