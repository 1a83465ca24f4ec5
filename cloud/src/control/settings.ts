import type { TSchema } from 'typebox';
import { Value } from 'typebox/value';
import { SETTINGS_CATALOG, type DeviceSettings, type KindSlug } from '@yulan/protos';
import { optionalObject } from './param-schema.js';
import { CloudError, CloudErrorCode } from '../errors.js';

/** Twin settings as the API shows them: proto field names (snake_case) → number. */
export type Settings = Record<string, number>;

/** Per-kind desired-state schemas, from SETTINGS_CATALOG in @yulan/protos (docs/control.md
 * §1, twin.proto). Ranges are the physically meaningful ones; anything else is an operator
 * typo worth a 400. */
export const SETTINGS_SCHEMAS: Record<KindSlug, TSchema> = Object.fromEntries(
  Object.entries(SETTINGS_CATALOG).map(([kind, settings]) => [kind, optionalObject(settings)]),
) as Record<KindSlug, TSchema>;

const ONEOF_KEY = {
  'ev-charger': 'evCharger',
  'parcel-locker': 'parcelLocker',
  'fall-sensor': 'fallSensor',
  'env-monitor': 'envMonitor',
} as const satisfies Record<KindSlug, NonNullable<DeviceSettings['kind']>>;

const camel = (k: string): string => k.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
const snake = (k: string): string => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** First schema problem as one sentence naming the key, or undefined when valid. */
function problem(schema: TSchema, value: unknown): string | undefined {
  const [e] = Value.Errors(schema, value);
  if (!e) return undefined;
  const key = e.instancePath.split('/')[1];
  const extra = (e.params as { additionalProperties?: string[] } | undefined)?.additionalProperties;
  const props = (schema as { properties?: Record<string, unknown> }).properties ?? {};
  const unknown = extra?.[0] ?? (key !== undefined && !(key in props) ? key : undefined);
  if (unknown !== undefined) return `unknown setting "${unknown}"`;
  return key ? `setting "${key}": ${e.message}` : e.message;
}

/**
 * Applies a merge patch (null removes a key) to the current desired settings and checks
 * the result. @throws CloudError(E_VALIDATION) naming the offending key.
 */
export function mergeSettings(kind: KindSlug, current: Settings, patch: Record<string, unknown>): Settings {
  const next: Record<string, unknown> = { ...current };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete next[k];
    else next[k] = v;
  }
  const bad = problem(SETTINGS_SCHEMAS[kind], next);
  if (bad) throw new CloudError(CloudErrorCode.Validation, `${kind}: ${bad}`);
  if (kind === 'parcel-locker' && next.temp_min_c !== undefined && next.temp_max_c !== undefined
    && (next.temp_min_c as number) >= (next.temp_max_c as number)) {
    throw new CloudError(CloudErrorCode.Validation, 'parcel-locker: temp_min_c must be below temp_max_c');
  }
  return next as Settings;
}

/** API settings → the proto `DeviceSettings` oneof for this kind. */
export function toProtoSettings(kind: KindSlug, s: Settings): DeviceSettings {
  const inner: Record<string, number> = {};
  for (const [k, v] of Object.entries(s)) inner[camel(k)] = v;
  return { [ONEOF_KEY[kind]]: inner } as DeviceSettings;
}

/** A decoded `DeviceSettings` → API settings; undefined when it carries another kind's
 * message (a device reporting settings that are not its own is malformed input). */
export function fromProtoSettings(kind: KindSlug, s: DeviceSettings | undefined): Settings | undefined {
  if (!s || s.kind === undefined) return {};
  if (s.kind !== ONEOF_KEY[kind]) return undefined;
  const inner = (s[ONEOF_KEY[kind]] ?? {}) as Record<string, unknown>;
  const out: Settings = {};
  for (const [k, v] of Object.entries(inner)) if (typeof v === 'number') out[snake(k)] = v;
  return out;
}

/** Keys whose desired value differs from the reported one (reported null when absent). */
export function settingsDelta(desired: Settings, reported: Settings | null): Record<string, { desired: number; reported: number | null }> {
  const delta: Record<string, { desired: number; reported: number | null }> = {};
  for (const [k, v] of Object.entries(desired)) {
    const r = reported?.[k];
    if (r !== v) delta[k] = { desired: v, reported: r ?? null };
  }
  return delta;
}
