import { createHash } from 'node:crypto';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { CloudApi, enc } from './api.js';
import { CliError, ExitCode, usageError } from './errors.js';
import { HELP, numberOption, parse, parseArgs, type CommandIo } from './io.js';
import { printJson, table } from './output.js';

export const DEVICE_DIAGNOSTICS_USAGE = `usage: yulan device diagnostics <charger> [--limit N] [--json]
       yulan device diagnostics <charger> --get <file id> --out PATH|-

Lists the diagnostics files a charger uploaded (yulan cmd <charger> charger.get_diagnostics),
newest first, as the cloud holds them; --get downloads one (checked against its sha256) to
PATH (owner-only) or to stdout with --out -. Uses YULAN_CLOUD_URL and YULAN_ADMIN_TOKEN.`;

interface FileView { id: string; fileName: string; bytes: number; sha256: string; contentType: string; commandId: string; uploadedAt: string; receivedAt: string }

export async function deviceDiagnosticsCommand(args: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parse(() => parseArgs({
    args, allowPositionals: true,
    options: { ...HELP, json: { type: 'boolean' }, get: { type: 'string' }, out: { type: 'string' }, limit: { type: 'string' } },
  }), DEVICE_DIAGNOSTICS_USAGE);
  if (values.help) {
    io.stdout.write(`${DEVICE_DIAGNOSTICS_USAGE}\n`);
    return ExitCode.Ok;
  }
  const [id, ...extra] = positionals;
  if (id === undefined || extra.length > 0) throw usageError('yulan device diagnostics needs exactly one device id', DEVICE_DIAGNOSTICS_USAGE);
  const api = CloudApi.fromEnv(io.env);
  if (values.get === undefined) {
    if (values.out !== undefined) throw usageError('--out goes with --get', DEVICE_DIAGNOSTICS_USAGE);
    const limit = numberOption(values.limit, 'limit', 100, 1, 1000);
    const r = await api.request<{ items: FileView[] }>(`/api/v1/devices/${enc(id)}/diagnostics`, { query: { limit: String(limit) } });
    if (values.json) { printJson(io.stdout, r.body); return ExitCode.Ok; }
    if (r.body.items.length === 0) { io.stdout.write(`${id}: no diagnostics files\n`); return ExitCode.Ok; }
    table(io.stdout, ['id', 'file', 'bytes', 'uploaded', 'command'], r.body.items.map((f) => [f.id, f.fileName, f.bytes, f.uploadedAt, f.commandId]));
    return ExitCode.Ok;
  }
  if (values.out === undefined) throw usageError('--get needs --out PATH (or --out - for stdout)', DEVICE_DIAGNOSTICS_USAGE);
  const r = await api.request<Buffer>(`/api/v1/devices/${enc(id)}/diagnostics/${enc(values.get)}`, { binary: true, headers: { accept: '*/*' }, timeoutMs: 120_000 });
  const sha256 = createHash('sha256').update(r.body).digest('hex');
  const etag = r.headers.get('etag')?.replace(/"/g, '');
  if (etag && etag !== sha256) throw new CliError('E_CHECKSUM', `download of ${values.get} is damaged: sha256 ${sha256}, the cloud says ${etag}`, ExitCode.Failure);
  if (values.out === '-') {
    io.stdout.write(r.body);
    return ExitCode.Ok;
  }
  const path = resolve(values.out);
  // whole or not at all: written beside the target, then renamed over it
  const part = join(dirname(path), `.${basename(path)}.part`);
  try {
    writeFileSync(part, r.body, { mode: 0o600 });
    renameSync(part, path);
  } catch (cause) {
    rmSync(part, { force: true });
    throw new CliError('E_CLI_IO', `cannot write ${path}: ${(cause as Error).message}`, ExitCode.Io, { cause });
  }
  const out = { deviceId: id, fileId: values.get, path, bytes: r.body.length, sha256 };
  if (values.json) printJson(io.stdout, out);
  else io.stdout.write(`${id}: ${r.body.length} bytes written to ${path} (sha256 ${sha256})\n`);
  return ExitCode.Ok;
}
