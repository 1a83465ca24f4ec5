import { CloudApi, enc } from './api.js';
import { ExitCode, usageError } from './errors.js';
import { HELP, parse, parseArgs, type CommandIo } from './io.js';
import { fields, printJson, table } from './output.js';

export const INTEGRATION_USAGE = `usage: yulan integration add <name> [--read FILTER]… [--write FILTER]… [--rw FILTER]… [--namespace] [--health] [--description TEXT]
       yulan integration set <name> [--read …] [--write …] [--rw …] [--namespace | --no-namespace] [--health | --no-health]
       yulan integration list
       yulan integration show|disable|enable|rotate|delete|audit <name>
       yulan integration token add|list|show|revoke …   (scoped API tokens; yulan integration token --help)
MQTT accounts for outside tools (docs/integrations.md). The MQTT username is int:<name>;
client ids must be int:<name> or start with int:<name>: . Rules are topic filters, e.g.
--read 'yulan/v1/xuhui/env-monitor/+/telemetry'; --namespace adds ext/<name>/# (read and
write); --health lets the account read fall-sensor topics (audited). \`set\` with any of
--read/--write/--rw replaces the whole rule list. All take --json.
Uses YULAN_CLOUD_URL and YULAN_ADMIN_TOKEN.`;

interface Rule { filter: string; read: boolean; write: boolean }
interface View {
  name: string; mqttUsername: string; status: string; rules: Rule[]; namespace: boolean; namespaceFilter: string | null;
  healthGrant: boolean; description: string | null; createdAt: string; updatedAt: string; secretRotatedAt: string;
}

const ruleText = (r: Rule): string => `${r.read && r.write ? 'rw' : r.read ? 'r' : 'w'} ${r.filter}`;

export async function integrationCommand(args: string[], io: CommandIo): Promise<number> {
  // API tokens have options of their own (integration-token.ts).
  if (args[0] === 'token') return (await import('./integration-token.js')).integrationTokenCommand(args.slice(1), io);
  const { values, positionals } = parse(() => parseArgs({
    args, allowPositionals: true,
    options: {
      ...HELP, json: { type: 'boolean' }, read: { type: 'string', multiple: true }, write: { type: 'string', multiple: true },
      rw: { type: 'string', multiple: true }, namespace: { type: 'boolean' }, 'no-namespace': { type: 'boolean' },
      health: { type: 'boolean' }, 'no-health': { type: 'boolean' }, description: { type: 'string' },
    },
  }), INTEGRATION_USAGE);
  const [action, ...rest] = positionals;
  if (values.help || action === undefined) { (values.help ? io.stdout : io.stderr).write(`${INTEGRATION_USAGE}\n`); return values.help ? ExitCode.Ok : ExitCode.Usage; }
  const one = (): string => {
    if (rest.length !== 1) throw usageError(`yulan integration ${action} needs exactly one name`, INTEGRATION_USAGE);
    return rest[0]!;
  };
  const rules = (): Rule[] | undefined => {
    const out: Rule[] = [
      ...(values.read ?? []).map((filter) => ({ filter, read: true, write: false })),
      ...(values.write ?? []).map((filter) => ({ filter, read: false, write: true })),
      ...(values.rw ?? []).map((filter) => ({ filter, read: true, write: true })),
    ];
    return out.length > 0 ? out : undefined;
  };
  const flag = (on: boolean | undefined, off: boolean | undefined, name: string): boolean | undefined => {
    if (on && off) throw usageError(`--${name} and --no-${name} together`, INTEGRATION_USAGE);
    return on ? true : off ? false : undefined;
  };
  const api = (): CloudApi => CloudApi.fromEnv(io.env);
  const showSecret = (v: View, secret: string): void => {
    io.stdout.write(`mqtt username: ${v.mqttUsername}\nsecret: ${secret}\n(the secret is shown only once; store it in the tool's credential store)\n`);
    const example = v.rules.find((r) => r.read && !r.filter.startsWith('$'))?.filter ?? v.namespaceFilter;
    if (example) io.stdout.write(`try: mosquitto_sub -h <broker> -u ${v.mqttUsername} -P '<secret>' -I ${v.mqttUsername}: -t '${example}' -v\n`);
  };

  switch (action) {
    case 'add': {
      const name = one();
      const body = {
        name, rules: rules() ?? [], namespace: values.namespace ?? false, healthGrant: values.health ?? false,
        ...(values.description !== undefined ? { description: values.description } : {}),
      };
      const r = await api().request<{ integration: View; secret: string }>('/api/v1/integrations', { body });
      if (values.json) { printJson(io.stdout, r.body); return ExitCode.Ok; }
      io.stdout.write(`created integration ${name}: ${r.body.integration.rules.map(ruleText).join(', ') || '(no rules)'}${r.body.integration.namespaceFilter ? `, rw ${r.body.integration.namespaceFilter}` : ''}${r.body.integration.healthGrant ? ' (health grant)' : ''}\n`);
      showSecret(r.body.integration, r.body.secret);
      return ExitCode.Ok;
    }
    case 'set': {
      const name = one();
      const body = {
        ...(rules() ? { rules: rules() } : {}),
        ...(flag(values.namespace, values['no-namespace'], 'namespace') !== undefined ? { namespace: flag(values.namespace, values['no-namespace'], 'namespace') } : {}),
        ...(flag(values.health, values['no-health'], 'health') !== undefined ? { healthGrant: flag(values.health, values['no-health'], 'health') } : {}),
        ...(values.description !== undefined ? { description: values.description } : {}),
      };
      if (Object.keys(body).length === 0) throw usageError('nothing to change', INTEGRATION_USAGE);
      const r = await api().request<View>(`/api/v1/integrations/${enc(name)}`, { method: 'PATCH', body });
      if (values.json) printJson(io.stdout, r.body);
      else io.stdout.write(`${name}: updated (live sessions ${r.headers.get('x-yulan-notice') === 'sent' ? 'updated' : 'update pending'})\n`);
      return ExitCode.Ok;
    }
    case 'list': {
      if (rest.length > 0) throw usageError(`unexpected argument "${rest[0]}"`, INTEGRATION_USAGE);
      const r = await api().request<{ items: View[] }>('/api/v1/integrations');
      if (values.json) { printJson(io.stdout, r.body); return ExitCode.Ok; }
      table(io.stdout, ['name', 'username', 'status', 'rules', 'namespace', 'health'],
        r.body.items.map((v) => [v.name, v.mqttUsername, v.status, v.rules.map(ruleText).join('; '), v.namespaceFilter, v.healthGrant ? 'granted' : 'no']));
      return ExitCode.Ok;
    }
    case 'show': {
      const r = await api().request<View>(`/api/v1/integrations/${enc(one())}`);
      if (values.json) printJson(io.stdout, r.body);
      else fields(io.stdout, { ...r.body, rules: r.body.rules.map(ruleText).join('; ') });
      return ExitCode.Ok;
    }
    case 'disable':
    case 'enable': {
      const name = one();
      const r = await api().request<View>(`/api/v1/integrations/${enc(name)}/${action}`, { method: 'POST' });
      if (values.json) printJson(io.stdout, r.body);
      else io.stdout.write(`${name}: ${action}d${action === 'disable' ? ` (sessions cut: ${r.headers.get('x-yulan-notice') === 'sent' ? 'yes' : 'pending'})` : ''}\n`);
      return ExitCode.Ok;
    }
    case 'rotate': {
      const r = await api().request<{ integration: View; secret: string }>(`/api/v1/integrations/${enc(one())}/rotate`, { method: 'POST' });
      if (values.json) printJson(io.stdout, r.body);
      else showSecret(r.body.integration, r.body.secret);
      return ExitCode.Ok;
    }
    case 'delete': {
      const name = one();
      await api().request(`/api/v1/integrations/${enc(name)}`, { method: 'DELETE' });
      if (values.json) printJson(io.stdout, { name, deleted: true });
      else io.stdout.write(`${name}: deleted\n`);
      return ExitCode.Ok;
    }
    case 'audit': {
      const r = await api().request<{ items: { at: string; actor: string; action: string; detail: string | null }[] }>(`/api/v1/integrations/${enc(one())}/audit`);
      if (values.json) printJson(io.stdout, r.body);
      else table(io.stdout, ['at', 'actor', 'action', 'detail'], r.body.items.map((e) => [e.at, e.actor, e.action, e.detail]));
      return ExitCode.Ok;
    }
    default:
      throw usageError(`unknown action "${action}"`, INTEGRATION_USAGE);
  }
}
