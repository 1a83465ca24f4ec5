import { Type, type Static } from 'typebox';
import { Id, KindSlugSchema, StatusSchema } from './common.js';

export const LastValues = Type.Object({
  ts: Type.String({ format: 'date-time' }),
  fields: Type.Record(Type.String(), Type.Number()),
  text: Type.Record(Type.String(), Type.String()),
  redacted: Type.Optional(Type.Array(Type.String(), { description: "health fields left out: the caller has no health grant for the device's resident" })),
});

const FirmwareUpdatesSchema = Type.Union([Type.Literal('ota'), Type.Literal('none')], {
  description: '"ota": firmware campaigns may update it (default); "none": updated offline only (e.g. a sensor behind a serial gateway, `yulan flash`), so campaigns leave it out',
});

export const DeviceView = Type.Object(
  {
    id: Type.String(),
    site: Type.String(),
    kind: KindSlugSchema,
    name: Type.Union([Type.String(), Type.Null()]),
    status: StatusSchema,
    lastSeen: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    firmwareVersion: Type.Union([Type.String(), Type.Null()]),
    firmwareUpdates: FirmwareUpdatesSchema,
    createdAt: Type.String({ format: 'date-time' }),
    lastValues: Type.Union([LastValues, Type.Null()]),
  },
  { description: 'a registered device, enriched with the edge latest reading' },
);
export type DeviceView = Static<typeof DeviceView>;

export const RegisterBody = Type.Object(
  {
    id: Type.Optional(Id),
    site: Id,
    kind: KindSlugSchema,
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    firmwareVersion: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    firmwareUpdates: Type.Optional(FirmwareUpdatesSchema),
  },
  { additionalProperties: false },
);

export const RegisterResponse = Type.Object({
  device: DeviceView,
  secret: Type.String({ description: 'the device secret (MQTT password); shown only in this response' }),
});

export const ListQuery = Type.Object(
  {
    site: Type.Optional(Id),
    kind: Type.Optional(KindSlugSchema),
    status: Type.Optional(StatusSchema),
    limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
    offset: Type.Integer({ minimum: 0, maximum: 1_000_000_000, default: 0 }),
  },
  { additionalProperties: false },
);

export const ListResponse = Type.Object({
  items: Type.Array(DeviceView),
  total: Type.Integer(),
  limit: Type.Integer(),
  offset: Type.Integer(),
  edgeAvailable: Type.Boolean({ description: 'false when the edge could not supply lastValues' }),
});

export const DeviceParams = Type.Object({ id: Id });
