import { CloudApi, enc } from './api.js';
import { ExitCode, usageError } from './errors.js';
import { KIND_SLUGS } from '@yulan/protos';
import { HELP, actionUsage, numberOption, parse, parseArgs, type CommandIo } from './io.js';
import { KIND_LIST } from './catalog-help.js';
import { fields, printJson, table } from './output.js';

export const DEVICE_USAGE = `usage: yulan device add --site SITE --kind KIND [--id ID] [--name NAME] [--firmware-version V] [--firmware-updates ota|none]
       yulan device list [--site S] [--kind K] [--status online|offline|disabled] [--limit N] [--offset N]
       yulan device show|disable|enable <id>
       yulan device rotate-secret <id>   (a new secret, shown once; the old one and its session end at once)
       yulan device cert issue|revoke <id> …   (yulan device cert --help)
       yulan device diagnostics <charger> [--get FILE_ID --out PATH]   (a charger's GetDiagnostics files)

KIND is one of ${KIND_LIST}. add prints the device's secret once.
All take --json. Uses YULAN_CLOUD_URL and YULAN_ADMIN_TOKEN.`;

interface DeviceView { id: string; site: string; kind: string; name?: string | null; status: string; lastSeen: string | null; firmwareVersion?: string | null; createdAt?: string }

export async function deviceCommand(args: string[], io: CommandIo): Promise<number> {
  // Own options (--out, --days): dispatched before this command's strict parse.
  if (args[0] === 'cert') return (await import('./device-cert.js')).deviceCertCommand(args.slice(1), io);
  if (args[0] === 'diagnostics') return (await import('./device-diagnostics.js')).deviceDiagnosticsCommand(args.slice(1), io);
  const { values, positionals } = parse(() => parseArgs({
    args, allowPositionals: true,
    options: {
      ...HELP, json: { type: 'boolean' }, site: { type: 'string' }, kind: { type: 'string' }, id: { type: 'string' }, name: { type: 'string' },
      'firmware-version': { type: 'string' }, 'firmware-updates': { type: 'string' }, status: { type: 'string' }, limit: { type: 'string' }, offset: { type: 'string' },
    },
  }), DEVICE_USAGE);
  const [action, ...rest] = positionals;
  if (values.help || action === undefined) {
    (values.help ? io.stdout : io.stderr).write(`${actionUsage(DEVICE_USAGE, ['device', ...positionals.slice(0, 1)])}\n`);
    return values.help ? ExitCode.Ok : ExitCode.Usage;
  }
  // Checked here so a typo gets the list of kinds, not the API's schema errors.
  const kind = (): string | undefined => {
    if (values.kind !== undefined && !(KIND_SLUGS as readonly string[]).includes(values.kind)) throw usageError(`--kind must be one of ${KIND_LIST}; got "${values.kind}"`);
    return values.kind;
  };
  const one = (): string => {
    if (rest.length !== 1) throw usageError(`yulan device ${action} needs exactly one device id`, DEVICE_USAGE);
    return rest[0]!;
  };
  switch (action) {
    case 'add': {
      if (!values.site || !values.kind) throw usageError('--site and --kind are required', DEVICE_USAGE);
      kind();
      const body = {
        site: values.site, kind: values.kind, ...(values.id ? { id: values.id } : {}), ...(values.name ? { name: values.name } : {}),
        ...(values['firmware-version'] ? { firmwareVersion: values['firmware-version'] } : {}),
        ...(values['firmware-updates'] !== undefined ? { firmwareUpdates: firmwareUpdates(values['firmware-updates']) } : {}),
      };
      const r = await CloudApi.fromEnv(io.env).request<{ device: DeviceView; secret: string }>('/api/v1/devices', { body });
      if (values.json) printJson(io.stdout, r.body);
      else io.stdout.write(`registered ${r.body.device.id} (${r.body.device.kind} at ${r.body.device.site})\nsecret: ${r.body.secret}\n(the secret is shown only once: provision it now, e.g. yulan provision --secret …)\n`);
      return ExitCode.Ok;
    }
    case 'list': {
      if (rest.length > 0) throw usageError(`unexpected argument "${rest[0]}"`, DEVICE_USAGE);
      const limit = numberOption(values.limit, 'limit', 100, 1, 1000);
      const offset = numberOption(values.offset, 'offset', 0, 0);
      const r = await CloudApi.fromEnv(io.env).request<{ items: DeviceView[]; total: number }>('/api/v1/devices', {
        query: { site: values.site, kind: kind(), status: values.status, limit: String(limit), offset: String(offset) },
      });
      if (values.json) { printJson(io.stdout, r.body); return ExitCode.Ok; }
      table(io.stdout, ['id', 'site', 'kind', 'status', 'last seen', 'firmware'],
        r.body.items.map((d) => [d.id, d.site, d.kind, d.status, d.lastSeen, d.firmwareVersion]));
      if (r.body.total > offset + r.body.items.length) io.stdout.write(`(${r.body.items.length} of ${r.body.total}; --offset ${offset + r.body.items.length} for more)\n`);
      return ExitCode.Ok;
    }
    case 'show': {
      const r = await CloudApi.fromEnv(io.env).request<DeviceView & Record<string, unknown>>(`/api/v1/devices/${enc(one())}`);
      if (values.json) printJson(io.stdout, r.body);
      else fields(io.stdout, r.body);
      return ExitCode.Ok;
    }
    case 'disable':
    case 'enable': {
      const id = one();
      const r = await CloudApi.fromEnv(io.env).request<DeviceView>(`/api/v1/devices/${enc(id)}/${action}`, { method: 'POST' });
      const revoke = r.headers.get('x-yulan-revoke');
      if (values.json) printJson(io.stdout, r.body ?? { id, action });
      else io.stdout.write(`${id}: ${action}d${revoke ? ` (revoke ${revoke})` : ''}\n`);
      return ExitCode.Ok;
    }
    case 'rotate-secret': {
      const id = one();
      const r = await CloudApi.fromEnv(io.env).request<{ device: DeviceView; secret: string }>(`/api/v1/devices/${enc(id)}/rotate-secret`, { method: 'POST' });
      const revoke = r.headers.get('x-yulan-revoke');
      if (values.json) printJson(io.stdout, r.body);
      else io.stdout.write(`${id}: new secret ${r.body.secret}\n(shown only once; the old secret no longer works${revoke ? ` and its session was cut: revoke ${revoke}` : ''})\n`);
      return ExitCode.Ok;
    }
    default:
      throw usageError(`unknown action "${action}"`, DEVICE_USAGE);
  }
}

/** "none" for a device that cannot take firmware over the air (campaigns leave it out). */
function firmwareUpdates(v: string): 'ota' | 'none' {
  if (v !== 'ota' && v !== 'none') throw usageError(`--firmware-updates must be ota or none; got "${v}"`, DEVICE_USAGE);
  return v;
}
