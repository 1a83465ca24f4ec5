import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import { Event, Telemetry, isValidId, parseDeviceTopic, slugFromKind, TOPIC_ROOT } from '@yulan/protos';
import { ApiError, CloudApi, enc } from './api.js';
import { CliError, ExitCode, usageError } from './errors.js';
import { HELP, numberOption, parse, parseArgs, type CommandIo } from './io.js';

export const TAIL_USAGE = `usage: yulan tail <device|site> [--count N] [--json]

Live telemetry and events of one device (or every device of a site), decoded, one line
per message, until Ctrl-C (or N messages). Connects to the broker as the edge service
account: YULAN_EDGE_MQTT_PASSWORD (from <data dir>/secrets.json, edgeMqttPassword),
YULAN_MQTT_URL (default mqtt://127.0.0.1:1883), YULAN_EDGE_MQTT_USERNAME (default edge).
The id is first looked up in the registry (YULAN_CLOUD_URL, YULAN_ADMIN_TOKEN): an
unknown device or site is refused (exit 4) instead of waiting for messages that never come.`;

/** Whether `id` names a registered device or a site (registered, or with devices). */
export async function registeredAs(api: CloudApi, id: string): Promise<'device' | 'site'> {
  const notFound = (err: unknown): boolean => err instanceof ApiError && err.status === 404;
  try {
    await api.request(`/api/v1/devices/${enc(id)}`);
    return 'device';
  } catch (err) { if (!notFound(err)) throw err; }
  const page = await api.request<{ total: number }>('/api/v1/devices', { query: { site: id, limit: '1' } });
  if (page.body.total > 0) return 'site';
  try {
    await api.request(`/api/v1/sites/${enc(id)}`);
    return 'site';
  } catch (err) { if (!notFound(err)) throw err; }
  throw new CliError('E_UNKNOWN_TARGET', `no device or site "${id}" is registered (yulan device list, yulan site list)`, ExitCode.Refused);
}

/** Flattens a decoded reading to `key=value` pairs (nested objects as a.b=…). */
function flat(obj: unknown, prefix = '', out: string[] = []): string[] {
  if (obj === null || obj === undefined) return out;
  if (typeof obj !== 'object' || obj instanceof Uint8Array) { out.push(`${prefix}=${String(obj)}`); return out; }
  if (Array.isArray(obj)) { obj.forEach((v, i) => flat(v, `${prefix}[${i}]`, out)); return out; }
  for (const [k, v] of Object.entries(obj)) flat(v, prefix ? `${prefix}.${k}` : k, out);
  return out;
}

export function describeMessage(topic: string, payload: Uint8Array): Record<string, unknown> | undefined {
  const t = parseDeviceTopic(topic);
  if (!t) return undefined;
  const base = { device: t.deviceId, site: t.site, kind: slugFromKind(t.kind), channel: t.channel };
  try {
    if (t.channel === 'telemetry') {
      const m = Telemetry.decode(payload);
      return { ...base, ts: m.header?.tsMs, seq: m.header?.seq, reading: m.reading ? m[m.reading] : undefined };
    }
    const e = Event.decode(payload);
    return { ...base, ts: e.header?.tsMs, seq: e.header?.seq, type: e.type, severity: e.severity, message: e.message, attributes: e.attributes };
  } catch (err) {
    return { ...base, undecodable: (err as Error).message };
  }
}

export function formatLine(d: Record<string, unknown>): string {
  const ts = typeof d.ts === 'number' && d.ts > 0 ? new Date(d.ts).toISOString() : new Date().toISOString();
  const head = `${ts} ${String(d.site)}/${String(d.device)} ${String(d.channel)}`;
  if (d.undecodable) return `${head} (undecodable: ${String(d.undecodable)})`;
  if (d.channel === 'event') return `${head} ${String(d.type)} ${[String(d.message ?? ''), ...flat(d.attributes)].filter(Boolean).join(' ')}`.trimEnd();
  return `${head} ${flat(d.reading).join(' ')}`;
}

export async function tailCommand(args: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parse(() => parseArgs({
    args, allowPositionals: true, options: { ...HELP, count: { type: 'string' }, json: { type: 'boolean' } },
  }), TAIL_USAGE);
  if (values.help) { io.stdout.write(`${TAIL_USAGE}\n`); return ExitCode.Ok; }
  const [target, ...extra] = positionals;
  if (!target || extra.length > 0) throw usageError('name one device id or site', TAIL_USAGE);
  if (!isValidId(target)) throw usageError(`"${target}" is not a valid device id or site`, TAIL_USAGE);
  const count = numberOption(values.count, 'count', Infinity, 1);
  const password = io.env.YULAN_EDGE_MQTT_PASSWORD;
  if (!password) {
    throw new CliError('E_CLI_CONFIG', 'yulan tail reads the broker as the edge service account: set YULAN_EDGE_MQTT_PASSWORD (edgeMqttPassword in <data dir>/secrets.json for `yulan up`) and YULAN_MQTT_URL if the broker is not on mqtt://127.0.0.1:1883', ExitCode.Usage);
  }
  const what = await registeredAs(CloudApi.fromEnv(io.env), target);
  const username = io.env.YULAN_EDGE_MQTT_USERNAME ?? 'edge';
  const url = io.env.YULAN_MQTT_URL ?? 'mqtt://127.0.0.1:1883';
  // Service client ids must start with "<username>:" (broker ACL); a random suffix keeps
  // a tail from kicking the edge agent's own session off.
  const client = mqtt.connect(url, { username, password, clientId: `${username}:tail-${randomBytes(4).toString('hex')}`, clean: true, reconnectPeriod: 0, connectTimeout: 10_000 });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', (err) => { client.end(true); reject(new CliError('E_MQTT_CONNECT', `cannot connect to ${url} as ${username}: ${err.message}`, ExitCode.Io, { cause: err })); });
    client.once('close', () => reject(new CliError('E_MQTT_CONNECT', `the broker at ${url} closed the connection`, ExitCode.Io)));
  });
  // The id could be a device or a site: listen for both, the topic tells them apart.
  const filters = ['telemetry', 'event'].flatMap((ch) => [`${TOPIC_ROOT}/+/+/${target}/${ch}`, `${TOPIC_ROOT}/${target}/+/+/${ch}`]);
  await client.subscribeAsync(filters, { qos: 0 });
  io.stderr.write(`tailing ${what} ${target} on ${url} (Ctrl-C stops)\n`);
  let seen = 0;
  return new Promise<number>((resolve) => {
    let stopped = false;
    const stop = (code: number): void => {
      if (stopped) return;
      stopped = true;
      process.off('SIGINT', onSignal);
      client.end(true, {}, () => resolve(code));
    };
    const onSignal = (): void => stop(ExitCode.Ok);
    process.once('SIGINT', onSignal);
    client.on('close', () => { if (!stopped) { io.stderr.write('connection to the broker lost\n'); stop(ExitCode.Io); } });
    client.on('message', (topic, payload) => {
      if (seen >= count) return;
      const d = describeMessage(topic, new Uint8Array(payload));
      if (!d) return;
      seen++;
      io.stdout.write(`${values.json ? JSON.stringify(d) : formatLine(d)}\n`);
      if (seen >= count) stop(ExitCode.Ok);
    });
  });
}
