import { createHash } from 'node:crypto';
import { chmodSync, closeSync, copyFileSync, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, normalize, relative, resolve, sep } from 'node:path';
import Database from 'better-sqlite3';
import { DIR_MODE, FILE_MODE, findInUse } from '@yulan/protos';
import { CliError, ExitCode } from './commands/errors.js';
import type { PgConnection } from '@yulan/cloud';
import { backupDatabase, checkRestoreTarget, restoreDatabase } from './pg-backup.js';

/**
 * `yulan backup` / `yulan restore` (docs/deploy.md, "Backup and restore"). Every SQLite file
 * under the data directory (registry, people, alerts, control, firmware; the edge's
 * telemetry, outbox and alerts) is copied with SQLite's online backup API — consistent while
 * the services keep writing — and every other file (secrets, keys, firmware images, broker
 * accounts) byte for byte; manifest.json lists each with its SHA-256 and, for databases, its
 * schema version. A restore checks every checksum before writing anything, and goes only
 * into a fresh directory that no running service uses.
 */
export const MANIFEST = 'manifest.json';
export const FORMAT = 'yulan-backup/1';

export interface ManifestEntry {
  /** relative to the data directory, '/'-separated */
  path: string;
  /** postgres: the cloud's database as `pg_dump --format=custom` (pg-backup.ts) */
  kind: 'sqlite' | 'file' | 'postgres';
  bytes: number;
  sha256: string;
  /** PRAGMA user_version, for databases */
  schemaVersion?: number;
  /** public.yulan_schema, per component, for the PostgreSQL dump */
  schemaVersions?: Record<string, number>;
}

export interface Manifest { format: typeof FORMAT; createdAt: string; dataDir: string; files: ManifestEntry[] }

const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');

/** Not part of a backup: SQLite's side files (the backup API folds the WAL in), the
 * pre-migration copies, in-use markers and half-written temp files. */
function skipped(name: string): boolean {
  return /-(wal|shm|journal)$/.test(name) || name.endsWith('.bak') || name.endsWith('.tmp') || name.startsWith('.in-use.');
}

function isSqlite(file: string): boolean {
  const fd = openSync(file, 'r');
  try {
    const head = Buffer.alloc(16);
    return readSync(fd, head, 0, 16, 0) === 16 && head.equals(SQLITE_HEADER);
  } finally {
    closeSync(fd);
  }
}

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

function listFiles(root: string, exclude: string): string[] {
  const out: string[] = [];
  const visit = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (p === exclude || skipped(name)) continue;
      const st = lstatSync(p);
      if (st.isDirectory()) visit(p);
      else if (st.isFile()) out.push(p);
    }
  };
  visit(root);
  return out;
}

function privateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: DIR_MODE });
  chmodSync(dir, DIR_MODE);
}

function isEmptyDir(dir: string): boolean {
  return !existsSync(dir) || readdirSync(dir).length === 0;
}

export async function backupDataDir(dataDir: string, toDir: string, database?: PgConnection): Promise<Manifest> {
  const from = resolve(dataDir);
  const to = resolve(toDir);
  if (!existsSync(from) || isEmptyDir(from)) throw new CliError('E_BACKUP_SOURCE', `nothing to back up: ${from} is missing or empty (set YULAN_DATA_DIR)`, ExitCode.Usage);
  if (!isEmptyDir(to)) throw new CliError('E_BACKUP_TARGET', `${to} is not empty; back up into a new directory`, ExitCode.Usage);
  privateDir(to);
  const files: ManifestEntry[] = [];
  for (const src of listFiles(from, to)) {
    const rel = relative(from, src).split(sep).join('/');
    const dest = join(to, rel);
    privateDir(dirname(dest));
    let schemaVersion: number | undefined;
    if (isSqlite(src)) {
      const db = new Database(src, { fileMustExist: true, timeout: 10_000 });
      try {
        // One read transaction per step; pages changed meanwhile restart it, so the copy is
        // one consistent snapshot even while the service writes (WAL mode).
        await db.backup(dest);
        schemaVersion = Number(db.pragma('user_version', { simple: true }));
      } finally {
        db.close();
      }
    } else {
      copyFileSync(src, dest);
    }
    chmodSync(dest, FILE_MODE);
    files.push({ path: rel, kind: schemaVersion === undefined ? 'file' : 'sqlite', bytes: lstatSync(dest).size, sha256: sha256(dest), ...(schemaVersion === undefined ? {} : { schemaVersion }) });
  }
  // The cloud on PostgreSQL (YULAN_DATABASE_URL): its database beside the data directory's files.
  if (database) files.push(await backupDatabase(database, to));
  const manifest: Manifest = { format: FORMAT, createdAt: new Date().toISOString(), dataDir: from, files };
  writeFileSync(join(to, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`, { mode: FILE_MODE });
  return manifest;
}

function readManifest(fromDir: string): Manifest {
  const file = join(fromDir, MANIFEST);
  let m: Manifest;
  try {
    m = JSON.parse(readFileSync(file, 'utf8')) as Manifest;
  } catch (cause) {
    throw new CliError('E_BACKUP_MANIFEST', `${file} is missing or not JSON: not a yulan backup (${(cause as Error).message})`, ExitCode.Failure, { cause });
  }
  if (m.format !== FORMAT || !Array.isArray(m.files)) throw new CliError('E_BACKUP_MANIFEST', `${file} is not a ${FORMAT} manifest`);
  for (const f of m.files) {
    const p = normalize(String(f.path));
    if (isAbsolute(p) || p.startsWith('..') || typeof f.sha256 !== 'string') throw new CliError('E_BACKUP_MANIFEST', `${file} lists a bad entry "${String(f.path)}"`);
  }
  return m;
}

export async function restoreDataDir(fromDir: string, dataDir: string, database?: PgConnection): Promise<Manifest> {
  const from = resolve(fromDir);
  const to = resolve(dataDir);
  const m = readManifest(from);
  const users = findInUse(to);
  if (users.length > 0) {
    const who = users.map((u) => `${u.service} (pid ${u.pid}, since ${u.startedAt})`).join(', ');
    throw new CliError('E_DATA_DIR_IN_USE', `${to} is in use by ${who}: stop every Yulan service using it, then restore into a fresh directory; nothing was changed`, ExitCode.Refused);
  }
  if (!isEmptyDir(to)) {
    throw new CliError('E_DATA_DIR_NOT_EMPTY', `${to} is not empty: restore goes into a fresh data directory (move the old one aside, e.g. "mv ${to} ${to}.old"); nothing was changed`, ExitCode.Refused);
  }
  // Every checksum before the first write: a damaged backup restores nothing.
  for (const f of m.files) {
    const src = join(from, f.path);
    if (!existsSync(src)) throw new CliError('E_BACKUP_DAMAGED', `backup file ${f.path} is missing from ${from}; nothing was restored`, ExitCode.Refused);
    const got = sha256(src);
    if (got !== f.sha256) {
      throw new CliError('E_BACKUP_DAMAGED', `backup file ${f.path} does not match its SHA-256 in ${MANIFEST} (expected ${f.sha256}, got ${got}): the backup is damaged; nothing was restored`, ExitCode.Refused);
    }
  }
  // The database is checked (empty) before anything is written, and restored first, in one
  // transaction: a refused or failed database restore leaves the data directory untouched.
  const dump = m.files.find((f) => f.kind === 'postgres');
  if (dump) await restoreDatabase(await checkRestoreTarget(database, dump), from, dump);
  // Into a sibling first, renamed at the end: an interrupted restore leaves no half directory.
  const staging = `${to}.restoring-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  privateDir(staging);
  try {
    for (const f of m.files) {
      if (f.kind === 'postgres') continue;
      const dest = join(staging, f.path);
      privateDir(dirname(dest));
      copyFileSync(join(from, f.path), dest);
      chmodSync(dest, FILE_MODE);
    }
    if (existsSync(to)) rmSync(to, { recursive: true });
    mkdirSync(dirname(to), { recursive: true });
    renameSync(staging, to);
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw err;
  }
  return m;
}
