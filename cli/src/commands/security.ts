import { CloudApi } from './api.js';
import { ExitCode, usageError } from './errors.js';
import { HELP, numberOption, parse, parseArgs, type CommandIo } from './io.js';
import { printJson, table } from './output.js';

export const SECURITY_USAGE = `usage: yulan security alerts [--open] [--limit N] [--json]
       yulan security rules [--json]
The cloud's security monitor (docs/security.md, "Security alerts") samples the broker's
and the cloud's refusal counters (wrong passwords, throttled connects, ACL denials, TLS
refusals, refused claims and sign-ins …) and opens one alert per episode when a rate
crosses its rule's threshold; it closes when the rate falls back. alerts lists them,
newest first (--open: only open ones), with the monitor's state; rules lists the rules
in force (YULAN_SECURITY_RULES). Uses YULAN_CLOUD_URL and YULAN_ADMIN_TOKEN.`;

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
    args, allowPositionals: true, options: { ...HELP, json: { type: 'boolean' }, open: { type: 'boolean' }, limit: { type: 'string' } },
  }), SECURITY_USAGE);
  const [action, ...rest] = positionals;
  if (values.help || action === undefined) { (values.help ? io.stdout : io.stderr).write(`${SECURITY_USAGE}\n`); return values.help ? ExitCode.Ok : ExitCode.Usage; }
  if (rest.length > 0) throw usageError(`unexpected argument "${rest[0]}"`, SECURITY_USAGE);
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
