import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import { dirname, join } from 'node:path';
import { CodedError } from './errors.js';

// Shared by every service that keeps files in YULAN_DATA_DIR (broker, cloud, edge, cli):
// file modes, the in-use marker and schema versions of the embedded SQLite files. It lives
// here because protos is the one package they all depend on; it holds no service internals.

export const DataErrorCode = {
  /** A database was written by a newer release than this code knows. */
  SchemaTooNew: 'E_DATA_SCHEMA_TOO_NEW',
  /** Taking the pre-migration copy failed: the migration is not run. */
  Backup: 'E_DATA_BACKUP',
} as const;
export type DataErrorCode = (typeof DataErrorCode)[keyof typeof DataErrorCode];
export class DataError extends CodedError<DataErrorCode> {}

export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;

/** Creates `dir` (and parents) owner-only. An existing folder keeps its mode: the start-up
 * check reports it instead of changing what an operator set. */
export function ensurePrivateDir(dir: string): void {
  if (existsSync(dir)) return;
  mkdirSync(dir, { recursive: true, mode: DIR_MODE });
  chmodSync(dir, DIR_MODE);
}

/** Makes a file this process just created owner-only (umask-independent). */
export function makePrivate(file: string): void {
  chmodSync(file, FILE_MODE);
}

export interface LoosePermission {
  path: string;
  /** e.g. "0644" */
  mode: string;
  kind: 'dir' | 'file';
  /** The command that fixes it. */
  fix: string;
  message: string;
}

/**
 * Walks a service's data folder (not following symlinks) and lists every folder or file
 * that group or others can read, write or enter. Services log each one as a warning at
 * start and keep running: refusing would turn a mode bit on an upgraded install into an
 * outage of the care alert path (docs/deploy.md, "File safety").
 */
export function checkDataPermissions(root: string, maxDepth = 4): LoosePermission[] {
  const found: LoosePermission[] = [];
  const visit = (path: string, depth: number): void => {
    let st;
    try { st = lstatSync(path); } catch { return; }
    if (st.isSymbolicLink()) return;
    const isDir = st.isDirectory();
    const mode = st.mode & 0o777;
    if ((mode & 0o077) !== 0) {
      const octal = `0${mode.toString(8).padStart(3, '0')}`;
      const want = isDir ? '700' : '600';
      found.push({
        path, mode: octal, kind: isDir ? 'dir' : 'file', fix: `chmod ${want} ${path}`,
        message: `${isDir ? 'data folder' : 'data file'} ${path} has mode ${octal}: group/others can ${isDir ? 'enter' : 'read'} it; run "chmod ${want} ${path}"`,
      });
    }
    if (isDir && depth < maxDepth) {
      let names: string[] = [];
      try { names = readdirSync(path); } catch { return; }
      for (const n of names) visit(join(path, n), depth + 1);
    }
  };
  visit(root, 0);
  return found;
}

/** The in-use marker: `<dir>/.in-use.<service>.json` with the pid, removed on a clean stop.
 * `yulan restore` refuses a data directory with a live marker. */
export interface InUse { service: string; pid: number; startedAt: string; file: string }

export function markInUse(dir: string, service: string): () => void {
  ensurePrivateDir(dir);
  const file = join(dir, `.in-use.${service}.json`);
  writeFileSync(file, JSON.stringify({ service, pid: process.pid, startedAt: new Date().toISOString() }), { mode: FILE_MODE });
  return () => rmSync(file, { force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Live in-use markers anywhere in `root` (a marker whose process is gone is stale: a crash). */
export function findInUse(root: string, maxDepth = 2): InUse[] {
  const out: InUse[] = [];
  const visit = (dir: string, depth: number): void => {
    let names: string[];
    try { names = readdirSync(dir); } catch { return; }
    for (const n of names) {
      const p = join(dir, n);
      if (n.startsWith('.in-use.') && n.endsWith('.json')) {
        try {
          const m = JSON.parse(readFileSync(p, 'utf8')) as { service: string; pid: number; startedAt: string };
          if (Number.isInteger(m.pid) && alive(m.pid)) out.push({ ...m, file: p });
        } catch { /* unreadable marker: not proof of use */ }
      } else if (depth < maxDepth) {
        try { if (statSync(p).isDirectory()) visit(p, depth + 1); } catch { /* gone */ }
      }
    }
  };
  visit(root, 0);
  return out;
}

/**
 * 'migrating' events ({ name, file, from, to, backup? }) from `prepareSchema`. Databases are
 * opened deep inside each service's modules, which have no logger of their own; the
 * service's start subscribes and logs (one line per migrated file).
 */
export const dataEvents = new EventEmitter();

/** The part of a better-sqlite3 Database the schema check needs (protos does not depend on it). */
export interface MigratableDb {
  pragma(source: string, options: { simple: true }): unknown;
  prepare(source: string): { get(...params: unknown[]): unknown };
  exec(source: string): unknown;
}

export interface SchemaPlan {
  /** user_version found in the file */
  from: number;
  /** the version this code brings it to */
  to: number;
  /** the copy taken before migrating, when there was data to protect */
  backup?: string;
}

/**
 * Called on every embedded database before its migrations run. Refuses a file from a newer
 * release (its schema would be misread or damaged); before migrating a file that already
 * holds tables it takes a consistent copy beside it (`VACUUM INTO`, synchronous, WAL-safe)
 * named `<file>.v<from>.<stamp>.bak`, so a failed or regretted upgrade can be undone.
 * Version 0 with tables is a data directory from before versions were recorded.
 */
export function prepareSchema(db: MigratableDb, file: string, known: number, name: string, now = new Date()): SchemaPlan {
  const from = Number(db.pragma('user_version', { simple: true }));
  if (from > known) {
    throw new DataError(DataErrorCode.SchemaTooNew,
      `the ${name} database ${file} has schema version ${from}, but this Yulan release knows versions up to ${known}: ` +
      'it was written by a newer release. Run that release again, or restore a backup taken before the upgrade (docs/deploy.md, "Upgrades").');
  }
  const plan: SchemaPlan = { from, to: known };
  if (from === known || file === ':memory:') return plan;
  const tables = (db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get() as { n: number }).n;
  if (tables === 0) return plan;
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const backup = `${file}.v${from}.${stamp}.bak`;
  try {
    ensurePrivateDir(dirname(backup));
    db.exec(`VACUUM INTO '${backup.replace(/'/g, "''")}'`);
    makePrivate(backup);
  } catch (err) {
    throw new DataError(DataErrorCode.Backup, `could not copy the ${name} database to ${backup} before migrating it from version ${from} to ${known}; nothing was changed`, { cause: err });
  }
  const done = { ...plan, backup };
  dataEvents.emit('migrating', { name, file, ...done });
  return done;
}
