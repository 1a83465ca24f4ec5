import { resolve } from 'node:path';
import { backupDataDir, restoreDataDir, type Manifest } from './backup.js';
import { connectionFrom } from './pg-backup.js';
import { CliError, ExitCode, usageError } from './commands/errors.js';
import { HELP, parse, parseArgs, type CommandIo } from './commands/io.js';

export const BACKUP_USAGE = `usage: yulan backup [--to DIR]      copy every database and file of YULAN_DATA_DIR, online
       yulan restore --from DIR      restore a backup into YULAN_DATA_DIR (must be fresh, not in use)
With YULAN_DATABASE_URL (the cloud on PostgreSQL) backup also runs pg_dump --format=custom,
and restore runs pg_restore into that database, which must be empty.
Both take --json. Default --to: ./yulan-backup-<UTC timestamp>. A backup holds secrets and
personal data: it is written owner-only (0700/0600); keep it that way (docs/deploy.md).`;

function summary(m: Manifest): string {
  const dbs = m.files.filter((f) => f.kind !== 'file');
  const version = (f: Manifest['files'][number]): string => f.kind === 'postgres'
    ? `PostgreSQL (${Object.entries(f.schemaVersions ?? {}).map(([c, v]) => `${c} v${v}`).join(', ') || 'no Yulan schema'})`
    : `schema v${f.schemaVersion}`;
  const lines = dbs.map((f) => `  ${f.path.padEnd(34)} ${version(f)}  ${f.bytes} bytes  sha256 ${f.sha256.slice(0, 16)}…`);
  return `${dbs.length} databases and ${m.files.length - dbs.length} other files\n${lines.join('\n')}`;
}

export async function dataCommand(name: 'backup' | 'restore', args: string[], io: CommandIo): Promise<number> {
  try {
    const { values, positionals } = parse(() => parseArgs({ args, allowPositionals: true, options: { ...HELP, json: { type: 'boolean' }, to: { type: 'string' }, from: { type: 'string' } } }), BACKUP_USAGE);
    if (values.help) { io.stdout.write(`${BACKUP_USAGE}\n`); return ExitCode.Ok; }
    if (positionals.length > 0) throw usageError(`unexpected argument "${positionals[0]}"`, BACKUP_USAGE);
    const dataDir = resolve(io.env.YULAN_DATA_DIR ?? '.yulan');
    let m: Manifest;
    let where: string;
    if (name === 'backup') {
      if (values.from !== undefined) throw usageError('backup takes --to, not --from', BACKUP_USAGE);
      where = resolve(values.to ?? `yulan-backup-${new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}`);
      m = await backupDataDir(dataDir, where, connectionFrom(io.env));
    } else {
      if (values.from === undefined) throw usageError('restore needs --from DIR', BACKUP_USAGE);
      where = dataDir;
      m = await restoreDataDir(values.from, dataDir, connectionFrom(io.env));
    }
    if (values.json) io.stdout.write(`${JSON.stringify({ [name === 'backup' ? 'backup' : 'restoredInto']: where, manifest: m }, null, 2)}\n`);
    else io.stdout.write(`${name === 'backup' ? `backed up ${dataDir} to ${where}` : `restored ${resolve(values.from!)} into ${where}`}: ${summary(m)}\n`);
    return ExitCode.Ok;
  } catch (err) {
    if (err instanceof CliError) {
      io.stderr.write(`yulan ${name}: ${err.message}${err.code === 'E_USAGE' ? '' : ` (${err.code})`}\n`);
      return err.exitCode;
    }
    throw err;
  }
}
