import { Type } from 'typebox';
import { ID_PATTERN } from '@yulan/protos';

/** The error body every 4xx (and the exposed 5xx) uses. */
export const ErrorResponse = Type.Object(
  {
    statusCode: Type.Integer(),
    error: Type.String(),
    message: Type.String(),
    code: Type.String(),
  },
  { description: 'Error: `code` is stable, `message` is for humans' },
);

/** Same rule as `isValidId` in @yulan/protos (ids and sites never widen an MQTT filter). */
export const Id = Type.String({ pattern: ID_PATTERN.source, minLength: 1, maxLength: 64 });

export const KindSlugSchema = Type.Union(
  [Type.Literal('ev-charger'), Type.Literal('parcel-locker'), Type.Literal('fall-sensor'), Type.Literal('env-monitor')],
  { description: 'device kind slug' },
);

export const StatusSchema = Type.Union([Type.Literal('online'), Type.Literal('offline'), Type.Literal('disabled')]);

export const errorResponses = (...codes: number[]): Record<number, typeof ErrorResponse> =>
  Object.fromEntries(codes.map((c) => [c, ErrorResponse]));

/** OpenAPI security requirement of the admin-token routes. */
export const adminSecurity = [{ adminToken: [] as string[] }];
