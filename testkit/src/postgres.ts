import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { freePort } from './ports.js';
import { serverProcess, skipWithout } from './server-process.js';

/**
 * Launches a real PostgreSQL server for tests and benchmarks: a fresh cluster (`initdb`)
 * under a temp dir, on a free port, listening on 127.0.0.1 only, password-authenticated
 * (scram) for the one superuser it creates. `stop()` is an immediate shutdown (a crash: what
 * was not committed is lost, what was committed survives, as PostgreSQL promises); `start()` brings
 * the same cluster back on the same port.
 *
 * PostgreSQL refuses to run as root, and CI runs as root: then the cluster is owned by and
 * run as Debian's `postgres` system user (created by the `postgresql` package).
 */
export interface PostgresServer {
  /** postgres://yulan:<password>@127.0.0.1:<port>/yulan */
  url: string;
  port: number;
  dir: string;
  /** absolute path of the server's binaries (pg_dump, psql live there too) */
  binDir: string;
  readonly pid: number | undefined;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** `createdb` for a suite that wants a database of its own; returns its URL */
  createDatabase(name: string): Promise<string>;
  dispose(): Promise<void>;
}

/** The directory holding initdb/postgres/pg_ctl/pg_dump: PATH first, then Debian's layout. */
export function postgresBinDir(): string | undefined {
  const r = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' });
  const onPath = r.status === 0 ? r.stdout.trim() : '';
  // Resolved: a link on PATH (Debian's pg_wrapper, a hand-made one) to the real directory,
  // where createdb, pg_dump and postgres sit beside it.
  if (onPath) return dirname(realpathSync(onPath));
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const dir = join(base, v, 'bin');
    if (existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'postgres'))) return dir;
  }
  return undefined;
}

/** For describe.skipIf: true when PostgreSQL is missing and we may skip.
 * With CI=true a missing server is a failure, not a skip. */
export function shouldSkipPostgres(): boolean {
  return skipWithout(postgresBinDir() !== undefined, 'PostgreSQL (initdb)', 'apt-get install postgresql');
}

function runAs(): { uid: number; gid: number } | undefined {
  if (userInfo().uid !== 0) return undefined;
  const r = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const g = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (r.status !== 0 || g.status !== 0) {
    throw new Error('running as root and there is no `postgres` user to run PostgreSQL as (apt-get install postgresql creates it)');
  }
  return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) };
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    const done = (ok: boolean): void => { s.destroy(); resolve(ok); };
    s.setTimeout(1000, () => done(false));
    s.once('error', () => done(false));
    s.once('connect', () => done(true));
  });
}

export async function launchPostgres(): Promise<PostgresServer> {
  const binDir = postgresBinDir();
  if (!binDir) throw new Error('PostgreSQL not found (initdb)');
  const owner = runAs();
  const dir = mkdtempSync(join(tmpdir(), 'yulan-pg-'));
  const data = join(dir, 'data');
  const password = `pw-${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
  const pwFile = join(dir, 'pwfile');
  writeFileSync(pwFile, password, { mode: 0o600 });
  if (owner) { chownSync(dir, owner.uid, owner.gid); chownSync(pwFile, owner.uid, owner.gid); }
  const spawnOpts = { ...(owner ?? {}), cwd: dir, encoding: 'utf8' as const };
  const init = spawnSync(join(binDir, 'initdb'), [
    '-D', data, '-U', 'yulan', '--pwfile', pwFile, '-A', 'scram-sha-256', '-E', 'UTF8', '--locale', 'C', '--no-sync',
  ], spawnOpts);
  if (init.status !== 0) throw new Error(`initdb failed (${init.status}): ${init.stderr || init.stdout}`);
  const port = await freePort();
  // Unix sockets in the temp dir (not /var/run/postgresql, which may not exist or be writable).
  const args = ['-D', data, '-p', String(port), '-h', '127.0.0.1', '-k', dir, '-c', 'fsync=on', '-c', 'max_connections=200'];
  const server = serverProcess({
    name: 'postgres', bin: join(binDir, 'postgres'), args, spawn: { ...(owner ?? {}), cwd: dir }, startTimeoutMs: 30_000,
    // The port opens before recovery ends; "ready to accept connections" is the signal.
    ready: async (output) => output.includes('ready to accept connections') && (await portOpen(port)),
    // SIGQUIT is PostgreSQL's "immediate shutdown": every backend quits at once, no
    // checkpoint, crash recovery at the next start — a crash, but one whose shared
    // memory is released before start() runs again (a SIGKILLed postmaster's is not).
    stopSignal: 'SIGQUIT',
  });

  const api: PostgresServer = {
    url: `postgres://yulan:${encodeURIComponent(password)}@127.0.0.1:${port}/yulan`,
    port,
    dir,
    binDir,
    get pid() { return server.pid; },
    start: () => server.start(),
    stop: () => server.stop(),
    async createDatabase(name: string) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad database name ${name}`);
      const r = spawnSync(join(binDir, 'createdb'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'yulan', name], {
        ...spawnOpts, env: { ...process.env, PGPASSWORD: password },
      });
      if (r.status !== 0) throw new Error(`createdb ${name} failed: ${r.error?.message ?? r.stderr}`);
      return api.url.replace(/\/yulan$/, `/${name}`);
    },
    async dispose() {
      await api.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await api.start();
  const created = spawnSync(join(binDir, 'createdb'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'yulan', 'yulan'], {
    ...spawnOpts, env: { ...process.env, PGPASSWORD: password },
  });
  if (created.status !== 0) { await api.dispose(); throw new Error(`createdb yulan failed: ${created.error?.message ?? created.stderr}`); }
  return api;
}
