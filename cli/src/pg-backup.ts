import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DIR_MODE, FILE_MODE } from '@yulan/protos';
import { databaseContents, pgDump, pgRestore, type PgConnection } from '@yulan/cloud';
import { CliError, ExitCode } from './commands/errors.js';
import type { ManifestEntry } from './backup.js';

/**
 * The cloud's PostgreSQL database in a backup (YULAN_DATABASE_URL set): `pg_dump
 * --format=custom` into `postgres/cloud.dump` of the backup folder — one consistent snapshot
 * of every store's schema, taken online — listed in the manifest with its SHA-256 and the
 * schema version of each component, beside the files the edge and the broker keep in the
 * data directory. Restore runs `pg_restore` into an EMPTY database only.
 */
export const DUMP_PATH = 'postgres/cloud.dump';

export function connectionFrom(env: NodeJS.ProcessEnv): PgConnection | undefined {
  const url = env.YULAN_DATABASE_URL;
  if (url === undefined || url === '') return undefined;
  if (!/^postgres(ql)?:\/\/\S+$/.test(url)) throw new CliError('E_USAGE', 'YULAN_DATABASE_URL must be a postgres:// or postgresql:// URL', ExitCode.Usage);
  return { url, ...(env.YULAN_DATABASE_CA_FILE ? { caFile: env.YULAN_DATABASE_CA_FILE } : {}) };
}

function asCliError(err: unknown, code: string): CliError {
  if (err instanceof CliError) return err;
  const e = err as { code?: string; message?: string };
  // A missing pg_dump/pg_restore is a setup problem the operator fixes, not a crash.
  if (e.code === 'E_NOT_FOUND') return new CliError('E_PG_TOOLS_MISSING', String(e.message), ExitCode.Failure, { cause: err });
  const cause = (err as { cause?: { message?: string } }).cause?.message;
  return new CliError(code, `${e.message ?? String(err)}${cause ? `: ${cause}` : ''}`, ExitCode.Failure, { cause: err });
}

export async function backupDatabase(conn: PgConnection, toDir: string): Promise<ManifestEntry> {
  const dir = join(toDir, 'postgres');
  mkdirSync(dir, { recursive: true, mode: DIR_MODE });
  chmodSync(dir, DIR_MODE);
  const file = join(toDir, DUMP_PATH);
  let versions: Record<string, number>;
  try {
    versions = (await databaseContents(conn)).versions;
    await pgDump(conn, file);
  } catch (err) {
    throw asCliError(err, 'E_BACKUP_DATABASE');
  }
  chmodSync(file, FILE_MODE);
  return { path: DUMP_PATH, kind: 'postgres', bytes: statSync(file).size, sha256: createHash('sha256').update(readFileSync(file)).digest('hex'), schemaVersions: versions };
}

/** Refuses anything but an empty database, before the restore writes anything anywhere. */
export async function checkRestoreTarget(conn: PgConnection | undefined, entry: ManifestEntry): Promise<PgConnection> {
  if (!conn) {
    throw new CliError('E_DATABASE_URL_MISSING', `this backup holds the cloud's PostgreSQL database (${entry.path}): set YULAN_DATABASE_URL to an empty database to restore it into; nothing was changed`, ExitCode.Usage);
  }
  let contents;
  try {
    contents = await databaseContents(conn);
  } catch (err) {
    throw asCliError(err, 'E_RESTORE_DATABASE');
  }
  if (contents.schemas.length > 0 || contents.tables > 0) {
    const what = contents.schemas.length > 0 ? `schemas ${contents.schemas.join(', ')}` : `${contents.tables} tables`;
    throw new CliError('E_DATABASE_NOT_EMPTY', `the database in YULAN_DATABASE_URL is not empty (${what}): restore goes into an empty database (createdb a new one and point YULAN_DATABASE_URL at it); nothing was changed`, ExitCode.Refused);
  }
  return conn;
}

export async function restoreDatabase(conn: PgConnection, fromDir: string, entry: ManifestEntry): Promise<void> {
  try {
    await pgRestore(conn, join(fromDir, entry.path));
  } catch (err) {
    throw asCliError(err, 'E_RESTORE_DATABASE');
  }
}
