import type { TSchema } from 'typebox';
import { Value } from 'typebox/value';
import { COMMAND_CATALOG, type KindSlug } from '@yulan/protos';
import { requiredObject } from './param-schema.js';
import { CloudError, CloudErrorCode } from '../errors.js';

/**
 * The command catalogue (docs/control.md §1) is COMMAND_CATALOG in @yulan/protos; here it
 * becomes typed schemas. Args travel as strings on the wire, and the CLI sends `k=v`
 * strings, so numbers and booleans given as strings are coerced before checking.
 */
export const COMMANDS: Record<KindSlug, Record<string, TSchema>> = Object.fromEntries(
  Object.entries(COMMAND_CATALOG).map(([kind, cmds]) => [kind, Object.fromEntries(Object.entries(cmds).map(([name, c]) => [name, requiredObject(c.args, { ...(c.sentBy ? { 'x-sent-by': c.sentBy } : {}), ...(c.ocppOnly ? { 'x-ocpp-only': true } : {}) })]))]),
) as Record<KindSlug, Record<string, TSchema>>;

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
