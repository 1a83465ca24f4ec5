import { CloudApi, enc } from './api.js';
import { ExitCode, usageError } from './errors.js';
import { HELP, numberOption, parse, parseArgs, type CommandIo } from './io.js';
import { fields, printJson, table } from './output.js';

export const CLAIM_USAGE = `usage: yulan claim add <id> --kind KIND --site SITE --count N [--days N | --expires ISO] [--description TEXT]
       yulan claim list
       yulan claim show|revoke <id>
       yulan claim refusals
Claims provision a batch of devices (docs/security.md, "Provisioning by claim"): each
device of the batch ships with the claim id and secret, logs in to MQTT once as
claim:<id> (client id claim:<id>:<serial>) and exchanges the claim for its own device
(id = its serial, the claim's kind and site). A claim works for at most --count serials,
once each, until it expires (--days, default 30) or is revoked. refusals lists refused
uses (a serial used twice, over the count, expired, revoked) across all claims.
All take --json. Uses YULAN_CLOUD_URL and YULAN_ADMIN_TOKEN.`;

interface View {
  id: string; mqttUsername: string; kind: string; site: string; maxCount: number; usedCount: number; expiresAt: string;
  revokedAt: string | null; status: string; description: string | null; createdAt: string;
}
interface Event { at: string; claimId: string; actor: string; action: string; serial: string | null; detail: string | null }

export async function claimCommand(args: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parse(() => parseArgs({
    args, allowPositionals: true,
    options: {
      ...HELP, json: { type: 'boolean' }, kind: { type: 'string' }, site: { type: 'string' }, count: { type: 'string' },
      days: { type: 'string' }, expires: { type: 'string' }, description: { type: 'string' },
    },
  }), CLAIM_USAGE);
  const [action, ...rest] = positionals;
  if (values.help || action === undefined) { (values.help ? io.stdout : io.stderr).write(`${CLAIM_USAGE}\n`); return values.help ? ExitCode.Ok : ExitCode.Usage; }
  const one = (): string => {
    if (rest.length !== 1) throw usageError(`yulan claim ${action} needs exactly one claim id`, CLAIM_USAGE);
    return rest[0]!;
  };
  const api = (): CloudApi => CloudApi.fromEnv(io.env);

  switch (action) {
    case 'add': {
      const id = one();
      if (values.kind === undefined || values.site === undefined || values.count === undefined) throw usageError('--kind, --site and --count are required', CLAIM_USAGE);
      if (values.days !== undefined && values.expires !== undefined) throw usageError('--days or --expires, not both', CLAIM_USAGE);
      const body = {
        id, kind: values.kind, site: values.site, count: numberOption(values.count, 'count', 1, 1, 1_000_000),
        ...(values.days !== undefined ? { days: numberOption(values.days, 'days', 30, 1, 3650) } : {}),
        ...(values.expires !== undefined ? { expiresAt: values.expires } : {}),
        ...(values.description !== undefined ? { description: values.description } : {}),
      };
      const r = await api().request<{ claim: View; secret: string }>('/api/v1/claims', { body });
      if (values.json) { printJson(io.stdout, r.body); return ExitCode.Ok; }
      const c = r.body.claim;
      io.stdout.write(`created claim ${c.id}: ${c.maxCount} × ${c.kind} at ${c.site}, until ${c.expiresAt}\n` +
        `mqtt username: ${c.mqttUsername} (client id ${c.mqttUsername}:<serial>)\nsecret: ${r.body.secret}\n` +
        `(the secret is shown only once; write it to the batch with: yulan provision --port … --claim ${c.id} --claim-secret '<secret>' --serial <serial>)\n`);
      return ExitCode.Ok;
    }
    case 'list': {
      if (rest.length > 0) throw usageError(`unexpected argument "${rest[0]}"`, CLAIM_USAGE);
      const r = await api().request<{ items: View[] }>('/api/v1/claims');
      if (values.json) { printJson(io.stdout, r.body); return ExitCode.Ok; }
      table(io.stdout, ['id', 'kind', 'site', 'used', 'status', 'expires'], r.body.items.map((c) => [c.id, c.kind, c.site, `${c.usedCount}/${c.maxCount}`, c.status, c.expiresAt]));
      return ExitCode.Ok;
    }
    case 'show': {
      const r = await api().request<{ claim: View; uses: { serial: string; deviceId: string; via: string; usedAt: string }[]; events: Event[] }>(`/api/v1/claims/${enc(one())}`);
      if (values.json) { printJson(io.stdout, r.body); return ExitCode.Ok; }
      fields(io.stdout, { ...r.body.claim, used: `${r.body.claim.usedCount} of ${r.body.claim.maxCount}` });
      io.stdout.write('\nused by:\n');
      table(io.stdout, ['serial', 'device', 'via', 'at'], r.body.uses.map((u) => [u.serial, u.deviceId, u.via, u.usedAt]));
      io.stdout.write('\naudit:\n');
      table(io.stdout, ['at', 'actor', 'action', 'detail'], r.body.events.map((e) => [e.at, e.actor, e.action, e.detail]));
      return ExitCode.Ok;
    }
    case 'revoke': {
      const r = await api().request<View>(`/api/v1/claims/${enc(one())}/revoke`, { method: 'POST' });
      if (values.json) printJson(io.stdout, r.body);
      else io.stdout.write(`${r.body.id}: revoked (${r.body.usedCount} of ${r.body.maxCount} used; provisioned devices keep their identity)\n`);
      return ExitCode.Ok;
    }
    case 'refusals': {
      if (rest.length > 0) throw usageError(`unexpected argument "${rest[0]}"`, CLAIM_USAGE);
      const r = await api().request<{ items: Event[]; counts: Record<string, number> }>('/api/v1/claims/refusals');
      if (values.json) { printJson(io.stdout, r.body); return ExitCode.Ok; }
      table(io.stdout, ['at', 'claim', 'serial', 'detail'], r.body.items.map((e) => [e.at, e.claimId, e.serial, e.detail]));
      return ExitCode.Ok;
    }
    default:
      throw usageError(`unknown action "${action}"`, CLAIM_USAGE);
  }
}
