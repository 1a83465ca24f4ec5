import { randomUUID } from 'node:crypto';
import { CloudApi, enc } from './api.js';
import { CliError, ExitCode, usageError } from './errors.js';
import { HELP, keyValues, numberOption, parse, parseArgs, type CommandIo } from './io.js';
import { printJson } from './output.js';

export const CMD_USAGE = `usage: yulan cmd <device> <command> [key=value…] [--wait] [--timeout S] [--expires S] [--idempotency-key K] [--json]

Sends a command (docs/control.md: reboot, charger.set_current_limit limit_a=16, locker.open
compartment=3, …). --timeout is how long the device has to show the effect (default 30);
--wait follows the command until it is final. Exit codes with --wait: 0 succeeded,
4 failed, 3 timed out / expired / still pending when the wait ended.`;

export interface CommandView { id: string; deviceId: string; name: string; status: string; message?: string | null; transitions?: { status: string; at: string; message?: string | null }[] }

const FINAL = new Set(['succeeded', 'failed', 'timed_out', 'expired']);

export async function cmdCommand(args: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parse(() => parseArgs({
    args, allowPositionals: true,
    options: { ...HELP, wait: { type: 'boolean' }, timeout: { type: 'string' }, expires: { type: 'string' }, 'idempotency-key': { type: 'string' }, json: { type: 'boolean' } },
  }), CMD_USAGE);
  if (values.help) { io.stdout.write(`${CMD_USAGE}\n`); return ExitCode.Ok; }
  const [device, name, ...kv] = positionals;
  if (!device || !name) throw usageError('a device id and a command name are required', CMD_USAGE);
  const cmdArgs = keyValues(kv, CMD_USAGE);
  const timeoutSec = numberOption(values.timeout, 'timeout', 30, 1, 3600);
  const expires = values.expires === undefined ? undefined : numberOption(values.expires, 'expires', 600, 1, 7 * 86_400);
  const api = CloudApi.fromEnv(io.env);
  // An idempotency key makes a retried `yulan cmd` (network blip) return the same command.
  const key = values['idempotency-key'] ?? randomUUID();
  const created = await api.request<CommandView>(`/api/v1/devices/${enc(device)}/commands`, {
    body: { name, args: cmdArgs, timeoutSec, ...(expires !== undefined ? { expiresInSec: expires } : {}) },
    headers: { 'idempotency-key': key },
  });
  let cmd = created.body;
  if (!values.wait) {
    if (values.json) printJson(io.stdout, cmd);
    else io.stdout.write(`${cmd.id} ${cmd.status} (${name} → ${device}); follow with: yulan cmd … --wait, or GET /api/v1/commands/${cmd.id}\n`);
    return ExitCode.Ok;
  }
  if (!values.json) io.stderr.write(`${cmd.id} ${cmd.status}\n`);
  let last = cmd.status;
  // The device may be offline (queued) before its timeout even starts: allow a margin.
  const deadline = Date.now() + (timeoutSec + 30) * 1000;
  while (!FINAL.has(cmd.status) && Date.now() < deadline) {
    const wait = Math.max(1, Math.min(60, Math.ceil((deadline - Date.now()) / 1000)));
    cmd = (await api.request<CommandView>(`/api/v1/commands/${enc(cmd.id)}`, { query: { wait: String(wait) } })).body;
    if (cmd.status !== last && !values.json) io.stderr.write(`${cmd.id} ${cmd.status}${cmd.message ? `: ${cmd.message}` : ''}\n`);
    last = cmd.status;
  }
  if (values.json) printJson(io.stdout, cmd);
  else io.stdout.write(`${cmd.id} ${cmd.status}${cmd.message ? ` (${cmd.message})` : ''}\n`);
  if (cmd.status === 'succeeded') return ExitCode.Ok;
  if (cmd.status === 'failed') throw new CliError('E_COMMAND_FAILED', `${name} failed on ${device}${cmd.message ? `: ${cmd.message}` : ''}`, ExitCode.Refused);
  throw new CliError('E_COMMAND_TIMEOUT', FINAL.has(cmd.status) ? `${name} ${cmd.status.replace('_', ' ')} on ${device}` : `${name} still ${cmd.status} after ${timeoutSec + 30} s`, ExitCode.Timeout);
}
