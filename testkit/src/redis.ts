import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';

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
  if (redisServerPath()) return false;
  if (process.env.CI === 'true') throw new Error('redis-server not found on PATH but CI=true: Redis tests must run in CI');
  console.warn('[tests] redis-server not found on PATH — skipping Redis tests (apt-get install redis-server to run them)');
  return true;
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
  let child: ChildProcess | undefined;
  let output = '';

  const api: RedisServer = {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    get pid() { return child?.pid; },
    async start() {
      if (child) return;
      output = '';
      const c = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      const keep = (b: Buffer): void => { output = (output + b.toString()).slice(-4000); };
      c.stdout?.on('data', keep);
      c.stderr?.on('data', keep);
      child = c;
      const deadline = Date.now() + 20_000;
      while (!(await ping(port))) {
        if (c.exitCode !== null) throw new Error(`redis-server exited (${c.exitCode}):\n${output}`);
        if (Date.now() > deadline) throw new Error(`redis-server did not start:\n${output}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop() {
      const c = child;
      child = undefined;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        c.once('exit', () => resolve());
        c.kill('SIGKILL');
      });
    },
    async dispose() {
      await api.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await api.start();
  return api;
}
