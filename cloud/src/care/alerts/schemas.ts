import type { FastifySchemaValidationError } from 'fastify';
import { Type } from 'typebox';
import { CloudError, CloudErrorCode } from '../../errors.js';
import { AlertLevel, AlertStatus, AlertType, EdgeState, PersonOutcome } from './model.js';

const values = <T extends Record<string, string>>(o: T) => Object.values(o) as T[keyof T][];
const Ms = Type.Integer({ minimum: 0, maximum: 8_640_000_000_000_000 });
const AlertId = Type.String({ pattern: '^al_[A-Za-z0-9_-]{1,64}$' });

/** The edge's report (docs/care.md §2, "Edge → cloud"). Strict where meaning is at stake:
 * an unknown level, type or state is a 400 the edge dead-letters, never a silently
 * different alert. Unknown extra fields are dropped (Fastify's removeAdditional), so a
 * newer edge adding a field is not dead-lettered for it. */
export const AlertReportBody = Type.Object(
  {
    id: AlertId,
    revision: Type.Integer({ minimum: 1 }),
    deviceId: Type.String({ minLength: 1, maxLength: 64 }),
    site: Type.String({ minLength: 1, maxLength: 64 }),
    type: Type.Enum(values(AlertType)),
    level: Type.Enum(values(AlertLevel)),
    state: Type.Enum(values(EdgeState)),
    skipCancelWindow: Type.Boolean(),
    confirmed: Type.Optional(Type.Boolean()),
    openedAtMs: Ms,
    updatedAtMs: Ms,
    firstEventAtMs: Ms,
    lastEventAtMs: Ms,
    eventCount: Type.Integer({ minimum: 0 }),
    events: Type.Array(
      Type.Object({
        type: Type.String({ maxLength: 64 }), atMs: Ms, seq: Type.Integer({ minimum: 0 }),
        fallId: Type.Optional(Type.String({ maxLength: 64 })), source: Type.Optional(Type.String({ maxLength: 32 })),
      }, { additionalProperties: false }),
      { maxItems: 20 },
    ),
    message: Type.Optional(Type.String({ maxLength: 1000 })),
    edgeNotifications: Type.Optional(
      Type.Array(
        Type.Object(
          { channel: Type.String({ maxLength: 32 }), target: Type.String({ maxLength: 2000 }), atMs: Ms, ok: Type.Boolean() },
          { additionalProperties: false },
        ),
        { maxItems: 50 },
      ),
    ),
  },
  { additionalProperties: false },
);

export const IntakeResponse = Type.Object({ id: Type.String(), revision: Type.Integer(), status: Type.String() });

export const AlertParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 80 }) });

export const ListAlertsQuery = Type.Object(
  {
    status: Type.Optional(Type.Enum(values(AlertStatus))),
    residentId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
  },
  { additionalProperties: false },
);

export const ResolveBody = Type.Object(
  { outcome: Type.Enum(values(PersonOutcome)), note: Type.Optional(Type.String({ maxLength: 2000 })) },
  { additionalProperties: false },
);

/** Validation messages that name the field and, for enums, the allowed values. */
export function schemaErrorFormatter(errors: FastifySchemaValidationError[], dataVar: string): Error {
  const e = errors[0];
  if (!e) return new CloudError(CloudErrorCode.Validation, `${dataVar} is invalid`);
  const path = `${dataVar}${e.instancePath}`;
  const p = e.params as { allowedValues?: unknown[]; additionalProperty?: string; missingProperty?: string };
  let msg = `${path} ${e.message ?? 'is invalid'}`;
  if (e.keyword === 'enum' && p.allowedValues) msg = `${path} must be one of ${p.allowedValues.map((v) => JSON.stringify(v)).join(', ')}`;
  if (e.keyword === 'additionalProperties' && p.additionalProperty) msg = `${path} has an unknown field "${p.additionalProperty}"`;
  if (e.keyword === 'required' && p.missingProperty) msg = `${path} must have the field "${p.missingProperty}"`;
  return new CloudError(CloudErrorCode.Validation, msg);
}
