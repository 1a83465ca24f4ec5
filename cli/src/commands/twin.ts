import { CloudApi, enc } from './api.js';
import { ExitCode, usageError } from './errors.js';
import { HELP, actionUsage, keyValues, numberOption, parse, parseArgs, type CommandIo } from './io.js';
import { settingsCatalogHelp } from './catalog-help.js';
import { printJson, table } from './output.js';

export const TWIN_USAGE = `usage: yulan twin get <device> [--json]
       yulan twin set <device> key=value… [--version N] [--json]

Settings are the proto field names (report_interval_s=30, current_limit_a=16, …).
key=null releases a key: the cloud stops managing it and the device keeps the value it
has (it is not set to 0). --version refuses the change if someone changed the desired
state since (optimistic concurrency).`;

interface TwinView {
  deviceId: string; kind: string;
  desired: { version: number; settings: Record<string, unknown>; updatedAt: string | null };
  reported: { appliedVersion: number; settings: Record<string, unknown>; error: string | null; updatedAt: string | null };
  delta: Record<string, { desired: unknown; reported: unknown }>;
  inSync: boolean;
}

/** Values are typed for the cloud's schema: numbers and booleans as such, "null" unsets. */
export function settingValue(raw: string): unknown {
  if (raw === 'null') return null;
  if (raw === 'true' || raw === 'false') return raw === 'true';
  const n = Number(raw);
  return raw.trim() !== '' && Number.isFinite(n) ? n : raw;
}

function show(io: CommandIo, t: TwinView): void {
  io.stdout.write(`${t.deviceId} (${t.kind}): desired v${t.desired.version}, reported v${t.reported.appliedVersion}, ${t.inSync ? 'in sync' : 'NOT in sync'}${t.reported.error ? `, error: ${t.reported.error}` : ''}\n`);
  const keys = [...new Set([...Object.keys(t.desired.settings), ...Object.keys(t.reported.settings)])].sort();
  table(io.stdout, ['setting', 'desired', 'reported', ''], keys.map((k) => [k, t.desired.settings[k], t.reported.settings[k], t.delta[k] ? 'pending' : '']));
  if (keys.length === 0) io.stdout.write('(no settings yet)\n');
}

export async function twinCommand(args: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parse(() => parseArgs({
    args, allowPositionals: true, options: { ...HELP, json: { type: 'boolean' }, version: { type: 'string' } },
  }), TWIN_USAGE);
  if (values.help) { io.stdout.write(`${actionUsage(TWIN_USAGE, ['twin', ...positionals.slice(0, 1)])}\n\n${settingsCatalogHelp()}\n`); return ExitCode.Ok; }
  const [action, device, ...kv] = positionals;
  if ((action !== 'get' && action !== 'set') || !device) throw usageError('expected get|set and a device id', TWIN_USAGE);
  if (action === 'get') {
    if (kv.length > 0) throw usageError('twin get takes no key=value arguments', TWIN_USAGE);
    const r = await CloudApi.fromEnv(io.env).request<TwinView>(`/api/v1/devices/${enc(device)}/twin`);
    if (values.json) printJson(io.stdout, r.body); else show(io, r.body);
    return ExitCode.Ok;
  }
  if (kv.length === 0) throw usageError('twin set needs at least one key=value', TWIN_USAGE);
  const settings = Object.fromEntries(Object.entries(keyValues(kv, TWIN_USAGE)).map(([k, v]) => [k, settingValue(v)]));
  const version = values.version === undefined ? undefined : numberOption(values.version, 'version', 0, 0);
  const r = await CloudApi.fromEnv(io.env).request<TwinView>(`/api/v1/devices/${enc(device)}/twin/desired`, {
    method: 'PUT', body: { settings }, ...(version !== undefined ? { headers: { 'if-match': String(version) } } : {}),
  });
  if (values.json) { printJson(io.stdout, r.body); return ExitCode.Ok; }
  io.stdout.write(`desired v${r.body.desired.version} (${r.headers.get('x-yulan-publish') ?? 'published'})\n`);
  show(io, r.body);
  return ExitCode.Ok;
}
