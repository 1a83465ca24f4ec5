import { randomUUID } from 'node:crypto';
import { CloudApi, enc } from './api.js';
import { CliError, ExitCode, usageError } from './errors.js';
import { HELP, keyValues, numberOption, parse, parseArgs, type CommandIo } from './io.js';
import { printJson } from './output.js';
import { commandCatalogHelp } from './catalog-help.js';

export const CMD_USAGE = `usage: yulan cmd <device> <command> [key=value…] [--wait] [--timeout S] [--expires S] [--idempotency-key K] [--json]

Sends a command (docs/control.md §1). --timeout is how long the device has to show the
effect once it has the command (default 30); --expires how long the command may wait
for an offline device (default 600). --wait follows the command until it is final — for an
offline device that can be until it expires — printing progress on stderr and the final
state once on stdout. Exit codes with --wait: 0 succeeded, 7 failed on the device,
3 timed out or expired, 4 refused by the cloud (unknown command, bad argument).`;

export interface CommandView {
  id: string; deviceId: string; name: string; status: string; message?: string | null;
  timeoutSec?: number; expiresAt?: string; deadlineAt?: string | null;
  /** what the device answered (charger.reserve_now: reservation_id, which a cancel names) */
  output?: Record<string, string>;
  transitions?: { status: string; at: string; message?: string | null }[];
}

const FINAL = new Set(['succeeded', 'failed', 'timed_out', 'expired']);
/** Seconds the cloud holds one poll (it allows up to 60); the HTTP timeout of a poll is this
 * plus POLL_SLACK_S, so a poll that ends with nothing new never looks like a dead cloud. */
export const LONG_POLL_S = 25;
const POLL_SLACK_S = 15;
/** After the command's own deadline, how long the cloud's sweep may take to mark it. */
const SWEEP_GRACE_MS = 15_000;
/** Consecutive unreachable polls tolerated while waiting (a restart, a network blip). */
const POLL_RETRIES = 3;

/** When the command must be final by its own rules: its deadline once sent, else its expiry
 * plus the timeout it would get if sent at the last moment. */
function finalBy(cmd: CommandView, timeoutSec: number): number {
  const due = cmd.deadlineAt ? Date.parse(cmd.deadlineAt)
    : (cmd.expiresAt ? Date.parse(cmd.expiresAt) : Date.now()) + (cmd.timeoutSec ?? timeoutSec) * 1000;
  return due + SWEEP_GRACE_MS;
}

export async function cmdCommand(args: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parse(() => parseArgs({
    args, allowPositionals: true,
    options: { ...HELP, wait: { type: 'boolean' }, timeout: { type: 'string' }, expires: { type: 'string' }, 'idempotency-key': { type: 'string' }, json: { type: 'boolean' } },
  }), CMD_USAGE);
  if (values.help) { io.stdout.write(`${CMD_USAGE}\n\n${commandCatalogHelp()}\n`); return ExitCode.Ok; }
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
  // Progress on stderr, the final state once on stdout.
  const progress = (c: CommandView): void => {
    if (!values.json && !FINAL.has(c.status)) io.stderr.write(`${c.id} ${c.status}${c.message ? `: ${c.message}` : ''}\n`);
  };
  progress(cmd);
  if (cmd.status === 'queued' && cmd.expiresAt && !values.json) {
    io.stderr.write(`(the device has not taken it yet, e.g. it is offline: waiting until it expires at ${cmd.expiresAt}; Ctrl-C stops waiting, the command stays queued)\n`);
  }
  let last = cmd.status;
  let failures = 0;
  while (!FINAL.has(cmd.status)) {
    const left = finalBy(cmd, timeoutSec) - Date.now();
    if (left <= 0) break;
    const wait = Math.max(1, Math.min(LONG_POLL_S, Math.ceil(left / 1000)));
    try {
      cmd = (await api.request<CommandView>(`/api/v1/commands/${enc(cmd.id)}`, { query: { wait: String(wait) }, timeoutMs: (wait + POLL_SLACK_S) * 1000 })).body;
      failures = 0;
    } catch (err) {
      // The command lives on in the cloud: a lost poll is retried, not the end of the wait.
      if (!(err instanceof CliError) || err.code !== 'E_API_UNREACHABLE' || ++failures > POLL_RETRIES) throw err;
      io.stderr.write(`${err.message}; asking again\n`);
      await new Promise((r) => setTimeout(r, 1000));
      continue;
    }
    if (cmd.status !== last) progress(cmd);
    last = cmd.status;
  }
  if (values.json) printJson(io.stdout, cmd);
  else {
    io.stdout.write(`${cmd.id} ${cmd.status}${cmd.message ? ` (${cmd.message})` : ''}\n`);
    for (const [k, v] of Object.entries(cmd.output ?? {})) io.stdout.write(`  ${k}=${v}\n`);
  }
  if (cmd.status === 'succeeded') return ExitCode.Ok;
  if (cmd.status === 'failed') throw new CliError('E_COMMAND_FAILED', `${name} failed on ${device}${cmd.message ? `: ${cmd.message}` : ''}`, ExitCode.DeviceFailed);
  throw new CliError('E_COMMAND_TIMEOUT', FINAL.has(cmd.status) ? `${name} ${cmd.status.replace('_', ' ')} on ${device}` : `${name} still ${cmd.status} past its deadline (the cloud did not finish it)`, ExitCode.Timeout);
}
