import { Type, type TSchema } from 'typebox';
import { Value } from 'typebox/value';
import type { KindSlug } from '@yulan/protos';
import { CloudError, CloudErrorCode } from '../errors.js';

/**
 * The command catalogue (docs/control.md §1): which names each kind accepts and the typed
 * schema of their arguments. Args travel as strings on the wire, and the CLI sends
 * `k=v` strings, so numbers and booleans given as strings are coerced before checking.
 */
const connector = Type.Integer({ minimum: 0, maximum: 32 });
const compartment = Type.Integer({ minimum: 0, maximum: 9999 });
const none = Type.Object({}, { additionalProperties: false });
const args = (props: Record<string, TSchema>): TSchema => Type.Object(props, { additionalProperties: false });

const COMMON: Record<string, TSchema> = {
  reboot: none,
  'firmware.update': args({
    version: Type.String({ minLength: 1, maxLength: 64 }),
    url: Type.String({ minLength: 1, maxLength: 2048 }),
    token: Type.String({ maxLength: 4096 }),
    sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    signature: Type.String({ minLength: 1, maxLength: 1024 }),
    size: Type.Integer({ minimum: 1 }),
    key_id: Type.String({ minLength: 1, maxLength: 128 }),
  }),
};

export const COMMANDS: Record<KindSlug, Record<string, TSchema>> = {
  'ev-charger': {
    ...COMMON,
    'charger.start_session': args({ connector_id: connector, id_tag: Type.String({ minLength: 1, maxLength: 20 }) }),
    'charger.stop_session': args({ connector_id: connector }),
    'charger.set_current_limit': args({ limit_a: Type.Number({ minimum: 6, maximum: 80 }) }),
    'charger.change_availability': args({ available: Type.Boolean() }),
    'charger.reset': args({ type: Type.Union([Type.Literal('soft'), Type.Literal('hard')]) }),
    // OCPP chargers through the gateway (docs/ocpp.md); OCPP CiString50 keys, CiString500 values.
    'charger.unlock_connector': args({ connector_id: connector }),
    'charger.get_configuration': args({ key: Type.Optional(Type.String({ minLength: 1, maxLength: 50 })) }),
    'charger.change_configuration': args({ key: Type.String({ minLength: 1, maxLength: 50 }), value: Type.String({ maxLength: 500 }) }),
    'charger.trigger_message': args({
      message: Type.Union(['BootNotification', 'DiagnosticsStatusNotification', 'FirmwareStatusNotification', 'Heartbeat', 'MeterValues', 'StatusNotification'].map((m) => Type.Literal(m))),
      connector_id: Type.Optional(connector),
    }),
  },
  'parcel-locker': {
    ...COMMON,
    'locker.open': args({ compartment }),
    'locker.lock': args({ compartment }),
    'locker.unlock': args({ compartment }),
    'locker.clear': args({ compartment }),
  },
  'fall-sensor': { ...COMMON, 'fall.test_alarm': none },
  'env-monitor': {
    ...COMMON,
    'env.sleep': none,
    'env.wake': none,
    'env.set_interval': args({ interval_s: Type.Integer({ minimum: 1, maximum: 86_400 }) }),
  },
};

function coerce(schema: TSchema, value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const type = (schema as { type?: string }).type;
  if ((type === 'number' || type === 'integer') && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
  if (type === 'boolean' && (value === 'true' || value === 'false')) return value === 'true';
  return value;
}

/**
 * Checks a command for a device kind and returns its args as wire strings.
 * @throws CloudError(E_VALIDATION) naming the unknown command or the bad argument.
 */
export function validateCommand(kind: KindSlug, name: string, raw: Record<string, unknown>): Record<string, string> {
  const schema = COMMANDS[kind][name];
  if (!schema) {
    const other = (Object.keys(COMMANDS) as KindSlug[]).find((k) => COMMANDS[k][name]);
    throw new CloudError(CloudErrorCode.Validation, other
      ? `command "${name}" is for ${other} devices, not ${kind}`
      : `unknown command "${name}" for ${kind}; known: ${Object.keys(COMMANDS[kind]).join(', ')}`);
  }
  const props = (schema as { properties?: Record<string, TSchema> }).properties ?? {};
  const typed: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) typed[k] = props[k] ? coerce(props[k], v) : v;
  const [e] = Value.Errors(schema, typed);
  if (e) {
    const extra = (e.params as { additionalProperties?: string[] } | undefined)?.additionalProperties;
    const missing = (e.params as { requiredProperties?: string[] } | undefined)?.requiredProperties;
    const key = e.instancePath.split('/')[1];
    const unknown = extra?.[0] ?? (key !== undefined && !props[key] ? key : undefined);
    const what = unknown !== undefined ? `unknown argument "${unknown}"`
      : e.keyword === 'required' && missing?.length ? `missing argument "${missing[0]}"`
        : key ? `argument "${key}": ${e.message}` : e.message;
    throw new CloudError(CloudErrorCode.Validation, `${name}: ${what}`);
  }
  return Object.fromEntries(Object.entries(typed).map(([k, v]) => [k, String(v)]));
}
