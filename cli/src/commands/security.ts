import { CloudApi } from './api.js';
import { ExitCode, usageError } from './errors.js';
import { HELP, numberOption, parse, parseArgs, type CommandIo } from './io.js';
import { printJson, table } from './output.js';

export const SECURITY_USAGE = `usage: yulan security alerts [--open] [--limit N] [--json]
       yulan security rules [--json]
       yulan security minimum [<kind> <version> [--fixes-vulnerability] [--advisory TEXT] | <kind> --clear]
       yulan security updates [--kind KIND] [--json]
The cloud's security monitor (docs/security.md, "Security alerts") samples the broker's
and the cloud's refusal counters (wrong passwords, throttled connects, ACL denials, TLS
refusals, refused claims and sign-ins …) and opens one alert per episode when a rate
crosses its rule's threshold; it closes when the rate falls back. alerts lists them,
newest first (--open: only open ones), with the monitor's state; rules lists the rules
in force (YULAN_SECURITY_RULES). minimum sets (or lists, or clears) the lowest firmware
still supported for a kind; updates lists the enabled devices below it ("update
required"), which keep the update-required alert open. Uses YULAN_CLOUD_URL and
YULAN_ADMIN_TOKEN.`;

interface Alert {
  id: number; rule: string; source: string; description: string; threshold: number; windowSec: number; openedAt: string;
  closedAt: string | null; openedCount: number; peakCount: number; events: number; delivery: string | null;
}
interface Listing {
  items: Alert[];
  rules: { id: string; source: string; description: string; threshold: number; windowSec: number }[];
  monitor: { samples: number; brokerSampleFailures: number; brokerReachable: boolean | null; lastSampleAt: string | null; openAlerts: number; sampleMs: number };
}

export async function securityCommand(args: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parse(() => parseArgs({
    args, allowPositionals: true,
    options: {
      ...HELP, json: { type: 'boolean' }, open: { type: 'boolean' }, limit: { type: 'string' }, kind: { type: 'string' },
      'fixes-vulnerability': { type: 'boolean' }, advisory: { type: 'string' }, clear: { type: 'boolean' },
    },
  }), SECURITY_USAGE);
  const [action, ...rest] = positionals;
  if (values.help || action === undefined) { (values.help ? io.stdout : io.stderr).write(`${SECURITY_USAGE}\n`); return values.help ? ExitCode.Ok : ExitCode.Usage; }
  if (action === 'minimum') return minimum(rest, values, io);
  if (rest.length > 0) throw usageError(`unexpected argument "${rest[0]}"`, SECURITY_USAGE);
  if (action === 'updates') return updates(values, io);
  if (action !== 'alerts' && action !== 'rules') throw usageError(`unknown action "${action}"`, SECURITY_USAGE);
  const limit = numberOption(values.limit, 'limit', 50, 1, 500);
  const r = await CloudApi.fromEnv(io.env).request<Listing>('/api/v1/security/alerts', {
    query: { limit: String(limit), ...(values.open ? { open: 'true' } : {}) },
  });
  const { items, rules, monitor } = r.body;
  if (action === 'rules') {
    if (values.json) { printJson(io.stdout, rules); return ExitCode.Ok; }
    table(io.stdout, ['rule', 'source', 'threshold', 'window', 'watches'], rules.map((x) => [x.id, x.source, x.threshold, `${x.windowSec} s`, x.description]));
    return ExitCode.Ok;
  }
  if (values.json) { printJson(io.stdout, r.body); return ExitCode.Ok; }
  table(io.stdout, ['id', 'rule', 'status', 'opened', 'closed', 'seen', 'peak', 'threshold'], items.map((a) => [
    a.id, a.rule, a.closedAt === null ? 'OPEN' : 'closed', a.openedAt, a.closedAt, a.events, a.peakCount, `${a.threshold}/${a.windowSec}s`,
  ]));
  const broker = monitor.brokerReachable === null ? 'not watched (YULAN_BROKER_ADMIN_URL unset)' : monitor.brokerReachable ? 'readable' : `NOT readable (${monitor.brokerSampleFailures} failed samples)`;
  io.stdout.write(`\n${monitor.openAlerts} open; ${monitor.samples} samples every ${monitor.sampleMs} ms, last ${monitor.lastSampleAt ?? '-'}; broker counters ${broker}\n`);
  return ExitCode.Ok;
}

interface Minimum { kind: string; version: string; security: boolean; advisory: string | null; setAt: string; setBy: string }
type Values = { json?: boolean; kind?: string; 'fixes-vulnerability'?: boolean; advisory?: string; clear?: boolean };

async function minimum(rest: string[], values: Values, io: CommandIo): Promise<number> {
  const api = CloudApi.fromEnv(io.env);
  if (rest.length === 0) {
    const r = await api.request<{ items: Minimum[] }>('/api/v1/firmware/minimum');
    if (values.json) { printJson(io.stdout, r.body); return ExitCode.Ok; }
    table(io.stdout, ['kind', 'minimum', 'security', 'advisory', 'set', 'by'], r.body.items.map((m) => [m.kind, m.version, m.security ? 'yes' : 'no', m.advisory, m.setAt, m.setBy]));
    return ExitCode.Ok;
  }
  const [kind, version, ...extra] = rest;
  if (extra.length > 0) throw usageError(`unexpected argument "${extra[0]}"`, SECURITY_USAGE);
  if (values.clear) {
    if (version !== undefined) throw usageError('--clear takes a kind only', SECURITY_USAGE);
    await api.request(`/api/v1/firmware/minimum/${encodeURIComponent(kind!)}`, { method: 'DELETE' });
    io.stdout.write(`${kind}: no minimum firmware version any more\n`);
    return ExitCode.Ok;
  }
  if (version === undefined) throw usageError('a kind and a version are required (or --clear)', SECURITY_USAGE);
  const r = await api.request<Minimum>(`/api/v1/firmware/minimum/${encodeURIComponent(kind!)}`, {
    method: 'PUT', body: { version, security: values['fixes-vulnerability'] === true, ...(values.advisory !== undefined ? { advisory: values.advisory } : {}) },
  });
  if (values.json) { printJson(io.stdout, r.body); return ExitCode.Ok; }
  const below = await api.request<{ total: number }>('/api/v1/firmware/update-required', { query: { kind: r.body.kind, limit: '1' } });
  io.stdout.write(`${r.body.kind}: firmware below ${r.body.version} is no longer supported${r.body.security ? ' (security update)' : ''}; ${below.body.total} device(s) need an update (yulan security updates)\n`);
  return ExitCode.Ok;
}

async function updates(values: Values, io: CommandIo): Promise<number> {
  const r = await CloudApi.fromEnv(io.env).request<{ total: number; items: { id: string; kind: string; site: string; status: string; firmwareVersion: string | null; minimumVersion: string; security: boolean }[] }>(
    '/api/v1/firmware/update-required', { query: { limit: '1000', ...(values.kind !== undefined ? { kind: values.kind } : {}) } },
  );
  if (values.json) { printJson(io.stdout, r.body); return ExitCode.Ok; }
  table(io.stdout, ['device', 'kind', 'site', 'status', 'firmware', 'minimum', 'security'], r.body.items.map((d) => [d.id, d.kind, d.site, d.status, d.firmwareVersion, d.minimumVersion, d.security ? 'yes' : 'no']));
  io.stdout.write(`\n${r.body.total} device(s) need a firmware update\n`);
  return ExitCode.Ok;
}
