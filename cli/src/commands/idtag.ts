import { CloudApi, enc } from './api.js';
import { ExitCode, usageError } from './errors.js';
import { HELP, parse, parseArgs, type CommandIo } from './io.js';
import { fields, printJson, table } from './output.js';

export const IDTAG_USAGE = `usage: yulan idtag add <tag> [--site SITE] [--expires ISO-8601] [--parent TAG] [--note TEXT] [--blocked]
       yulan idtag list [--site SITE | --every-site] [--status Accepted|Blocked|Expired]
       yulan idtag show|block|unblock|remove|audit <tag> [--site SITE]
       yulan idtag expire <tag> [--at ISO-8601] [--site SITE]     (default: now)
       yulan idtag set <tag> [--expires ISO-8601|none] [--parent TAG|none] [--note TEXT] [--site SITE]
The id tags (RFID cards, app tokens) OCPP chargers authorize (docs/ocpp.md §1.4). Without
--site a tag is valid at every site; a site's own entry wins over the every-site one. A tag
not listed is Invalid; blocked is Blocked; past its expiry date Expired. Gateways pull the
list (YULAN_OCPP_ID_TAG_SYNC_S) and answer from their last copy while the cloud is away.
All take --json. Uses YULAN_CLOUD_URL and YULAN_ADMIN_TOKEN.`;

interface View {
  tag: string; site: string | null; status: string; effectiveStatus: string; expiryDate: string | null;
  parentIdTag: string | null; note: string | null; createdAt: string; updatedAt: string;
}

export async function idtagCommand(args: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parse(() => parseArgs({
    args, allowPositionals: true,
    options: {
      ...HELP, json: { type: 'boolean' }, site: { type: 'string' }, 'every-site': { type: 'boolean' }, status: { type: 'string' },
      expires: { type: 'string' }, parent: { type: 'string' }, note: { type: 'string' }, blocked: { type: 'boolean' }, at: { type: 'string' },
    },
  }), IDTAG_USAGE);
  const [action, ...rest] = positionals;
  if (values.help || action === undefined) { (values.help ? io.stdout : io.stderr).write(`${IDTAG_USAGE}\n`); return values.help ? ExitCode.Ok : ExitCode.Usage; }
  const one = (): string => {
    if (rest.length !== 1) throw usageError(`yulan idtag ${action} needs exactly one tag`, IDTAG_USAGE);
    return rest[0]!;
  };
  const api = (): CloudApi => CloudApi.fromEnv(io.env);
  const query = { site: values.site };
  const where = (v: View): string => v.site ?? 'every site';
  const orNull = (v: string | undefined): string | null | undefined => (v === undefined ? undefined : v === 'none' ? null : v);
  const patch = async (tag: string, body: Record<string, unknown>, done: string): Promise<number> => {
    const r = await api().request<View>(`/api/v1/id-tags/${enc(tag)}`, { method: 'PATCH', body, query });
    if (values.json) printJson(io.stdout, r.body);
    else io.stdout.write(`${r.body.tag} (${where(r.body)}): ${done}, chargers are told ${r.body.effectiveStatus}\n`);
    return ExitCode.Ok;
  };

  switch (action) {
    case 'add': {
      const body = {
        tag: one(), ...(values.site !== undefined ? { site: values.site } : {}), ...(values.blocked ? { status: 'Blocked' } : {}),
        ...(values.expires !== undefined ? { expiryDate: values.expires } : {}), ...(values.parent !== undefined ? { parentIdTag: values.parent } : {}),
        ...(values.note !== undefined ? { note: values.note } : {}),
      };
      const r = await api().request<View>('/api/v1/id-tags', { body });
      if (values.json) printJson(io.stdout, r.body);
      else io.stdout.write(`${r.body.tag} listed for ${where(r.body)}: ${r.body.effectiveStatus}${r.body.expiryDate ? ` until ${r.body.expiryDate}` : ''}\n`);
      return ExitCode.Ok;
    }
    case 'list': {
      if (rest.length > 0) throw usageError(`unexpected argument "${rest[0]}"`, IDTAG_USAGE);
      const items: View[] = [];
      for (let offset = 0; ; offset += 1000) {
        const r = await api().request<{ items: View[] }>('/api/v1/id-tags', {
          query: { site: values.site, status: values.status, everySite: values['every-site'] ? 'true' : undefined, limit: '1000', offset: String(offset) },
        });
        items.push(...r.body.items);
        if (r.body.items.length < 1000) break;
      }
      if (values.json) { printJson(io.stdout, { items }); return ExitCode.Ok; }
      table(io.stdout, ['tag', 'site', 'status', 'expires', 'parent', 'note'],
        items.map((v) => [v.tag, where(v), v.effectiveStatus, v.expiryDate, v.parentIdTag, v.note]));
      return ExitCode.Ok;
    }
    case 'show': {
      const r = await api().request<View>(`/api/v1/id-tags/${enc(one())}`, { query });
      if (values.json) printJson(io.stdout, r.body);
      else fields(io.stdout, { ...r.body, site: where(r.body) });
      return ExitCode.Ok;
    }
    case 'block': return patch(one(), { status: 'Blocked' }, 'blocked');
    case 'unblock': return patch(one(), { status: 'Accepted' }, 'unblocked');
    case 'expire': {
      const at = values.at ?? new Date().toISOString();
      return patch(one(), { expiryDate: at }, `expires ${at}`);
    }
    case 'set': {
      const body = {
        ...(orNull(values.expires) !== undefined ? { expiryDate: orNull(values.expires) } : {}),
        ...(orNull(values.parent) !== undefined ? { parentIdTag: orNull(values.parent) } : {}),
        ...(values.note !== undefined ? { note: values.note } : {}),
      };
      if (Object.keys(body).length === 0) throw usageError('nothing to change', IDTAG_USAGE);
      return patch(one(), body, 'updated');
    }
    case 'remove': {
      const tag = one();
      await api().request(`/api/v1/id-tags/${enc(tag)}`, { method: 'DELETE', query });
      if (values.json) printJson(io.stdout, { tag, removed: true });
      else io.stdout.write(`${tag.toUpperCase()}: removed (chargers are told Invalid once their gateway has synced)\n`);
      return ExitCode.Ok;
    }
    case 'audit': {
      const r = await api().request<{ items: { at: string; actor: string; scope: string; action: string; detail: string | null }[] }>(`/api/v1/id-tags/${enc(one())}/audit`);
      if (values.json) printJson(io.stdout, r.body);
      else table(io.stdout, ['at', 'actor', 'site', 'action', 'detail'], r.body.items.map((e) => [e.at, e.actor, e.scope === '*' ? 'every site' : e.scope, e.action, e.detail]));
      return ExitCode.Ok;
    }
    default:
      throw usageError(`unknown action "${action}"`, IDTAG_USAGE);
  }
}
