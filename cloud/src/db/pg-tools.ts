import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { CloudError, CloudErrorCode } from '../errors.js';
import { PostgresDatabase } from './postgres.js';

/**
 * PostgreSQL's own tools for backups (`pg_dump --format=custom`, `pg_restore`), found as
 * testkit finds the server: on PATH first, then Debian's /usr/lib/postgresql/<version>/bin,
 * newest first (pg_dump must be at least the server's major version). The password never
 * appears on a command line (other users can read those): it goes in PGPASSWORD, and
 * YULAN_DATABASE_CA_FILE becomes sslmode=verify-full with that root certificate.
 */
export interface PgConnection { url: string; caFile?: string }

export function findPgTool(name: 'pg_dump' | 'pg_restore', env: NodeJS.ProcessEnv = process.env, base = '/usr/lib/postgresql'): string {
  const r = spawnSync('/bin/sh', ['-c', `command -v ${name}`], { encoding: 'utf8', env });
  if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  if (existsSync(base)) {
    const versions = readdirSync(base).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
    for (const v of versions) if (existsSync(join(base, v, 'bin', name))) return join(base, v, 'bin', name);
  }
  throw new CloudError(CloudErrorCode.NotFound,
    `${name} not found (looked on PATH and in ${base}/*/bin): install the PostgreSQL client tools of the server's version or newer (Debian: apt-get install postgresql-client)`);
}

function connectionArgs(c: PgConnection): { args: string[]; env: NodeJS.ProcessEnv } {
  const u = new URL(c.url);
  const password = decodeURIComponent(u.password);
  u.password = '';
  const env: NodeJS.ProcessEnv = { ...process.env, ...(password ? { PGPASSWORD: password } : {}) };
  if (c.caFile) Object.assign(env, { PGSSLMODE: 'verify-full', PGSSLROOTCERT: c.caFile });
  return { args: ['--dbname', u.toString()], env };
}

async function run(tool: string, args: string[], env: NodeJS.ProcessEnv, what: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn(tool, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
    child.once('error', (err) => reject(new CloudError(CloudErrorCode.Database, `${what}: cannot run ${tool}: ${err.message}`, { cause: err })));
    child.once('close', (code) => {
      if (code === 0) resolve();
      else reject(new CloudError(CloudErrorCode.Database, `${what}: ${tool} exited with ${code}: ${stderr.trim() || 'no message'}`));
    });
  });
}

/** The whole database in pg_dump's custom format (compressed, restorable selectively). */
export async function pgDump(c: PgConnection, file: string): Promise<void> {
  const tool = findPgTool('pg_dump');
  const { args, env } = connectionArgs(c);
  await run(tool, ['--format=custom', '--no-password', '--file', file, ...args], env, 'dumping the PostgreSQL database');
}

/**
 * Restores a dump into an empty database in one transaction (all or nothing), owned by
 * the connecting role: the restore target may be another server with other role names.
 */
export async function pgRestore(c: PgConnection, file: string): Promise<void> {
  const tool = findPgTool('pg_restore');
  const { args, env } = connectionArgs(c);
  await run(tool, ['--no-owner', '--no-privileges', '--exit-on-error', '--single-transaction', '--no-password', ...args, file], env, 'restoring the PostgreSQL database');
}

/** What a database holds: its non-system schemas and tables (none: a fresh database). */
export async function databaseContents(c: PgConnection): Promise<{ schemas: string[]; tables: number; versions: Record<string, number> }> {
  const db = new PostgresDatabase({ url: c.url, logger: pino({ level: 'silent' }), max: 1, applicationName: 'yulan-cli', ...(c.caFile ? { ca: readFileSync(c.caFile, 'utf8') } : {}) });
  try {
    const schemas = (await db.query<{ nspname: string }>('reading the database',
      `SELECT nspname FROM pg_namespace WHERE nspname NOT IN ('public', 'information_schema') AND nspname NOT LIKE 'pg\\_%' ORDER BY nspname`)).rows.map((r) => r.nspname);
    const tables = (await db.query<{ n: number }>('reading the database',
      `SELECT COUNT(*)::int8 AS n FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
       WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S') AND s.nspname NOT IN ('information_schema') AND s.nspname NOT LIKE 'pg\\_%'`)).rows[0]?.n ?? 0;
    const versions: Record<string, number> = {};
    const has = (await db.query<{ t: string | null }>('reading the database', "SELECT to_regclass('public.yulan_schema')::text AS t")).rows[0]?.t;
    if (has) for (const r of (await db.query<{ component: string; version: number }>('reading the database', 'SELECT component, version FROM public.yulan_schema ORDER BY component')).rows) versions[r.component] = r.version;
    return { schemas, tables, versions };
  } finally {
    await db.close();
  }
}
