import { CloudApi, enc } from './api.js';
import { ExitCode, usageError } from './errors.js';
import { HELP, parse, parseArgs, type CommandIo } from './io.js';
import { fields, printJson, table } from './output.js';

export const TOKEN_USAGE = `usage: yulan integration token add <integration> --scope SCOPE… [--site ID]… [--kind KIND]… [--expires-days N] [--description TEXT]
       yulan integration token add --standalone --scope SCOPE… [--site …] [--kind …]
       yulan integration token list [<integration>]
       yulan integration token show|revoke <id>
Scoped API tokens for tools such as the Node-RED nodes, instead of the admin token
(docs/integrations.md). Scopes: telemetry:read events:read alerts:read commands:send
twin:read twin:write. --site/--kind limit the devices a token reaches (default: all).
alerts:read and fall-sensor data need the integration's health grant. The token is
shown once; revoke cuts it at the next request. All take --json.
Uses YULAN_CLOUD_URL and YULAN_ADMIN_TOKEN.`;

interface TokenView {
  id: string; integration: string | null; scopes: string[]; sites: string[]; kinds: string[]; description: string | null;
  createdAt: string; expiresAt: string | null; revokedAt: string | null;
}

const state = (t: TokenView): string => (t.revokedAt ? `revoked ${t.revokedAt}` : t.expiresAt && Date.parse(t.expiresAt) <= Date.now() ? 'expired' : 'active');

/** `yulan integration token …` (dispatched from integration.ts). */
export async function integrationTokenCommand(args: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parse(() => parseArgs({
    args, allowPositionals: true,
    options: {
      ...HELP, json: { type: 'boolean' }, scope: { type: 'string', multiple: true }, site: { type: 'string', multiple: true },
      kind: { type: 'string', multiple: true }, standalone: { type: 'boolean' }, 'expires-days': { type: 'string' }, description: { type: 'string' },
    },
  }), TOKEN_USAGE);
  const [action, ...rest] = positionals;
  if (values.help || action === undefined) { (values.help ? io.stdout : io.stderr).write(`${TOKEN_USAGE}\n`); return values.help ? ExitCode.Ok : ExitCode.Usage; }
  const api = (): CloudApi => CloudApi.fromEnv(io.env);
  const one = (what: string): string => {
    if (rest.length !== 1) throw usageError(`yulan integration token ${action} needs exactly one ${what}`, TOKEN_USAGE);
    return rest[0]!;
  };
  switch (action) {
    case 'add': {
      if (values.standalone ? rest.length !== 0 : rest.length !== 1) throw usageError('name one integration, or give --standalone', TOKEN_USAGE);
      if (!values.scope?.length) throw usageError('at least one --scope', TOKEN_USAGE);
      const days = values['expires-days'];
      if (days !== undefined && !/^\d+$/.test(days)) throw usageError(`--expires-days "${days}" is not a whole number of days`, TOKEN_USAGE);
      const body = {
        integration: values.standalone ? null : rest[0]!, scopes: values.scope, sites: values.site ?? [], kinds: values.kind ?? [],
        ...(days !== undefined ? { expiresInDays: Number(days) } : {}), ...(values.description !== undefined ? { description: values.description } : {}),
      };
      const r = await api().request<{ apiToken: TokenView; token: string }>('/api/v1/api-tokens', { body });
      if (values.json) { printJson(io.stdout, r.body); return ExitCode.Ok; }
      const t = r.body.apiToken;
      io.stdout.write(`created API token ${t.id}${t.integration ? ` for integration ${t.integration}` : ' (standalone)'}: ${t.scopes.join(' ')}; sites ${t.sites.join(' ') || '*'}; kinds ${t.kinds.join(' ') || '*'}\n`);
      io.stdout.write(`token: ${r.body.token}\n(shown only once; put it in the tool's credential store, e.g. the Node-RED yulan-config node's API token)\n`);
      return ExitCode.Ok;
    }
    case 'list': {
      if (rest.length > 1) throw usageError(`unexpected argument "${rest[1]}"`, TOKEN_USAGE);
      const r = await api().request<{ items: TokenView[] }>(`/api/v1/api-tokens${rest[0] ? `?integration=${enc(rest[0])}` : ''}`);
      if (values.json) { printJson(io.stdout, r.body); return ExitCode.Ok; }
      table(io.stdout, ['id', 'integration', 'scopes', 'sites', 'kinds', 'state', 'created'],
        r.body.items.map((t) => [t.id, t.integration ?? '(standalone)', t.scopes.join(' '), t.sites.join(' ') || '*', t.kinds.join(' ') || '*', state(t), t.createdAt]));
      return ExitCode.Ok;
    }
    case 'show': {
      const r = await api().request<TokenView>(`/api/v1/api-tokens/${enc(one('token id'))}`);
      if (values.json) printJson(io.stdout, r.body);
      else fields(io.stdout, { ...r.body, scopes: r.body.scopes.join(' '), sites: r.body.sites.join(' ') || '*', kinds: r.body.kinds.join(' ') || '*', state: state(r.body) });
      return ExitCode.Ok;
    }
    case 'revoke': {
      const r = await api().request<TokenView>(`/api/v1/api-tokens/${enc(one('token id'))}/revoke`, { method: 'POST' });
      if (values.json) printJson(io.stdout, r.body);
      else io.stdout.write(`${r.body.id}: revoked (refused from the next request on)\n`);
      return ExitCode.Ok;
    }
    default:
      throw usageError(`unknown action "token ${action}"`, TOKEN_USAGE);
  }
}
