import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { Type, type Static } from 'typebox';
import { Value } from 'typebox/value';
import { isValidId, kindFromSlug } from '@yulan/protos';

/**
 * The serial gateway's config file (JSON): which port is which Yulan device. Validated once
 * at start; every problem is reported together, with its place in the file.
 */
const Device = Type.Object({
  id: Type.String({ minLength: 1 }),
  site: Type.String({ minLength: 1 }),
  kind: Type.Union([Type.Literal('env-monitor'), Type.Literal('fall-sensor'), Type.Literal('parcel-locker')]),
  sensor: Type.Union([Type.Literal('pms5003'), Type.Literal('sds011'), Type.Literal('mr60fda1'), Type.Literal('lock-board')]),
  /** By path only; use a udev name (/dev/yulan-…) so a re-plugged adapter keeps its name. */
  port: Type.String({ minLength: 1 }),
  /** Telemetry period (env monitors: one reading per period). */
  intervalS: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400 })),
  /** Particulate sensors: passive = polled by the gateway, active = streamed by the module. */
  mode: Type.Optional(Type.Union([Type.Literal('passive'), Type.Literal('active')])),
  /** Particulate sensors: sleep between readings when the interval allows. */
  dutyCycle: Type.Optional(Type.Boolean()),
  /** Particulate sensors: wake this long before a reading (datasheet: ~30 s). */
  settleS: Type.Optional(Type.Number({ minimum: 0, maximum: 600 })),
  /** Fall radar: twin-style sensitivity 1..10, applied at start (the twin may change it). */
  sensitivity: Type.Optional(Type.Integer({ minimum: 1, maximum: 10 })),
  /** Fall radar: offline after this long without any frame while the port stays open (default 30 s = 3 heartbeats). */
  silenceS: Type.Optional(Type.Number({ minimum: 0.5, maximum: 3600 })),
  /** Lock board: RS-485 address 0..31 and number of doors. */
  address: Type.Optional(Type.Integer({ minimum: 0, maximum: 31 })),
  doors: Type.Optional(Type.Integer({ minimum: 1, maximum: 48 })),
}, { additionalProperties: false });

const ConfigSchema = Type.Object({
  mqttUrl: Type.String({ pattern: '^(mqtts?|wss?)://' }),
  /** `{ "version": 1, "devices": { id: { site, kind, secret } } }`, mode 0600: each device's own secret. */
  credentialsFile: Type.String({ minLength: 1 }),
  devices: Type.Array(Device, { minItems: 1 }),
  /** Reopen back-off for a vanished port. */
  minBackoffMs: Type.Optional(Type.Integer({ minimum: 10, maximum: 60_000 })),
  maxBackoffMs: Type.Optional(Type.Integer({ minimum: 10, maximum: 600_000 })),
}, { additionalProperties: false });

export type SerialDeviceConfig = Static<typeof Device>;
export type SerialGatewayConfig = Static<typeof ConfigSchema>;

const SENSORS: Record<SerialDeviceConfig['kind'], readonly SerialDeviceConfig['sensor'][]> = {
  'env-monitor': ['pms5003', 'sds011'],
  'fall-sensor': ['mr60fda1'],
  'parcel-locker': ['lock-board'],
};

export class SerialConfigError extends Error {
  readonly code = 'E_SERIAL_CONFIG';
  constructor(readonly problems: string[], source: string) {
    super(`${source}: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n  ${problems.join('\n  ')}`);
    this.name = 'SerialConfigError';
  }
}

const where = (path: string): string => (path === '' ? '(top level)' : path.slice(1).replace(/\/(\d+)(?=\/|$)/g, '[$1]').replace(/\//g, '.'));

/** Every problem of a parsed config, as "place: message" lines (empty when valid). */
export function configProblems(input: unknown): string[] {
  const problems: string[] = [];
  for (const e of Value.Errors(ConfigSchema, input)) {
    const missing = (e.params as { requiredProperties?: string[]; additionalProperties?: string[] } | undefined);
    if (e.keyword === 'required' && missing?.requiredProperties) {
      for (const m of missing.requiredProperties) problems.push(`${where(`${e.instancePath}/${m}`)}: required`);
    } else if (e.keyword === 'additionalProperties' && missing?.additionalProperties) {
      for (const m of missing.additionalProperties) problems.push(`${where(`${e.instancePath}/${m}`)}: unknown setting`);
    } else {
      const line = `${where(e.instancePath)}: ${e.message}`;
      if (!problems.includes(line) && !problems.some((p) => p.startsWith(`${where(e.instancePath)}:`))) problems.push(line);
    }
  }
  const devices = (input as { devices?: unknown })?.devices;
  if (!Array.isArray(devices)) return problems;
  const ids = new Map<string, number>();
  const ports = new Map<string, number>();
  devices.forEach((raw: unknown, i) => {
    const d = raw as Partial<SerialDeviceConfig>;
    const at = `devices[${i}]`;
    if (typeof d?.id === 'string') {
      if (!isValidId(d.id)) problems.push(`${at}.id: "${d.id}" is not a valid device id (letters, digits, _ . -, at most 64)`);
      if (ids.has(d.id)) problems.push(`${at}.id: "${d.id}" is also devices[${ids.get(d.id)}]`);
      ids.set(d.id, i);
    }
    if (typeof d?.site === 'string' && !isValidId(d.site)) problems.push(`${at}.site: "${d.site}" is not a valid site id`);
    if (typeof d?.port === 'string') {
      if (ports.has(d.port)) problems.push(`${at}.port: ${d.port} is also used by devices[${ports.get(d.port)}] (one device per port)`);
      ports.set(d.port, i);
    }
    const allowed = d?.kind ? SENSORS[d.kind] : undefined;
    if (allowed && d.sensor && !allowed.includes(d.sensor)) problems.push(`${at}.sensor: a ${d.kind} is built from ${allowed.join(' or ')}, not ${d.sensor}`);
    if (d?.sensor === 'lock-board' && d.doors === undefined) problems.push(`${at}.doors: required for a lock board`);
    if (d?.sensor !== 'lock-board' && (d?.doors !== undefined || d?.address !== undefined)) problems.push(`${at}: doors/address apply to lock boards only`);
    if (d?.sensor !== 'mr60fda1' && d?.sensitivity !== undefined) problems.push(`${at}.sensitivity: applies to the fall radar only`);
    if (d?.sensor !== 'mr60fda1' && d?.silenceS !== undefined) problems.push(`${at}.silenceS: applies to the fall radar only`);
    if (d?.kind !== 'env-monitor' && (d?.mode !== undefined || d?.dutyCycle !== undefined || d?.settleS !== undefined)) problems.push(`${at}: mode/dutyCycle/settleS apply to particulate sensors only`);
  });
  return problems;
}

export interface Credential { site: string; kind: string; secret: string }

/** Reads and validates the config file and the credentials it names; throws SerialConfigError listing every problem. */
export async function loadSerialGatewayConfig(file: string): Promise<{ config: SerialGatewayConfig; secrets: Map<string, string> }> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new SerialConfigError([`cannot read JSON: ${(err as Error).message}`], file);
  }
  const problems = configProblems(parsed);
  if (problems.length) throw new SerialConfigError(problems, file);
  const config = parsed as SerialGatewayConfig;
  const credPath = resolve(dirname(file), config.credentialsFile);
  let creds: Record<string, Partial<Credential>> = {};
  try {
    const c = JSON.parse(await readFile(credPath, 'utf8')) as { version?: number; devices?: Record<string, Partial<Credential>> };
    if (c.version !== 1 || typeof c.devices !== 'object' || c.devices === null) throw new Error('not a version-1 credentials file');
    creds = c.devices;
  } catch (err) {
    throw new SerialConfigError([`credentialsFile: ${credPath}: ${(err as Error).message}`], file);
  }
  const secrets = new Map<string, string>();
  config.devices.forEach((d, i) => {
    const c = creds[d.id];
    if (!c || typeof c.secret !== 'string') problems.push(`devices[${i}]: no secret for "${d.id}" in ${credPath} (register it: yulan device add)`);
    else if (c.site !== d.site || kindFromSlug(c.kind ?? '') === undefined || c.kind !== d.kind) problems.push(`devices[${i}]: "${d.id}" is registered as ${c.kind}@${c.site}, the config says ${d.kind}@${d.site}`);
    else secrets.set(d.id, c.secret);
  });
  if (problems.length) throw new SerialConfigError(problems, file);
  return { config, secrets };
}
