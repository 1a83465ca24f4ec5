import { Type } from 'typebox';
import { MAX_QUERY_LIMIT } from '@yulan/protos';

/** Epoch milliseconds or ISO-8601, as the edge API accepts (docs/architecture.md). */
const Time = Type.String({ minLength: 1, maxLength: 40, description: 'epoch ms or ISO-8601' });

export const TelemetryQuery = Type.Object(
  {
    from: Type.Optional(Time),
    to: Type.Optional(Time),
    fields: Type.Optional(
      Type.String({ pattern: '^[a-z0-9_]{1,64}(,[a-z0-9_]{1,64}){0,49}$', description: 'comma-separated field names' }),
    ),
    resolution: Type.Union([Type.Literal('raw'), Type.Literal('1m')], { default: 'raw' }),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_QUERY_LIMIT })),
  },
  { additionalProperties: false },
);

export const EventsQuery = Type.Object(
  {
    from: Type.Optional(Time),
    to: Type.Optional(Time),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_QUERY_LIMIT })),
  },
  { additionalProperties: false },
);

export const TelemetryResponse = Type.Object(
  {
    deviceId: Type.String(),
    resolution: Type.String(),
    points: Type.Array(
      Type.Object({
        ts: Type.Number(),
        seq: Type.Optional(Type.Number()),
        fields: Type.Record(Type.String(), Type.Unknown({ description: 'number (raw) or {count,min,max,mean,last} (1m)' })),
      }),
    ),
    redacted: Type.Optional(Type.Array(Type.String(), { description: 'health fields left out (no health grant for the resident)' })),
  },
  { description: 'proxied from the edge /v1/telemetry' },
);

export const EventsResponse = Type.Object(
  {
    events: Type.Array(
      Type.Object({
        ts: Type.Number(),
        seq: Type.Optional(Type.Number()),
        deviceId: Type.String(),
        type: Type.String(),
        severity: Type.Unknown(),
        message: Type.String(),
        attributes: Type.Record(Type.String(), Type.String()),
      }),
    ),
  },
  { description: 'proxied from the edge /v1/events' },
);

export const DeviceAuthBody = Type.Object({
  // Deliberately loose: a malformed id gets the same 401 as an unknown one.
  deviceId: Type.String({ maxLength: 256 }),
  secret: Type.String({ maxLength: 512 }),
});
export const DeviceAuthOk = Type.Object({
  ok: Type.Literal(true),
  device: Type.Object({ id: Type.String(), site: Type.String(), kind: Type.String() }),
});
export const DeviceAuthRefused = Type.Object({
  ok: Type.Literal(false),
  reason: Type.Union([Type.Literal('bad-credentials'), Type.Literal('disabled')]),
});

export const HealthResponse = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('degraded'), Type.Literal('down')]),
  db: Type.Boolean(),
  mqtt: Type.Boolean(),
  edge: Type.Boolean(),
});
