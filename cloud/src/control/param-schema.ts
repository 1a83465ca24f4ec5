import { Type, type TSchema } from 'typebox';
import type { ParamSpec } from '@yulan/protos';

/** A catalogue parameter (@yulan/protos control-catalog) as the TypeBox schema the cloud checks. */
export function paramSchema(p: ParamSpec): TSchema {
  const opt = (o: Record<string, unknown>): Record<string, unknown> =>
    Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
  switch (p.type) {
    case 'integer': return Type.Integer(opt({ minimum: p.min, maximum: p.max, description: p.doc }));
    case 'number': return Type.Number(opt({ minimum: p.min, maximum: p.max, description: p.doc }));
    case 'boolean': return Type.Boolean();
    case 'enum': return Type.Union(p.values.map((v) => Type.Literal(v)));
    case 'string': return Type.String(opt({ minLength: p.minLength, maxLength: p.maxLength, pattern: p.pattern }));
  }
}

/** Command arguments: required unless the catalogue marks one optional. `extra`: further
 * keywords of the object (e.g. `x-sent-by`, which the console reads). */
export const requiredObject = (params: Readonly<Record<string, ParamSpec>>, extra: Record<string, unknown> = {}): TSchema =>
  Type.Object(Object.fromEntries(Object.entries(params).map(([k, p]) => [k, p.optional ? Type.Optional(paramSchema(p)) : paramSchema(p)])), { ...extra, additionalProperties: false });

/** All parameters optional (twin settings). */
export const optionalObject = (params: Readonly<Record<string, ParamSpec>>): TSchema =>
  Type.Object(Object.fromEntries(Object.entries(params).map(([k, p]) => [k, Type.Optional(paramSchema(p))])), { additionalProperties: false });
