import protobuf from 'protobufjs';
import { ProtoError, ProtoErrorCode } from './errors.js';

/** What callers may hand to `encode`: every field optional, recursively. */
export type DeepPartial<T> = T extends Uint8Array
  ? T
  : T extends readonly (infer U)[]
    ? DeepPartial<U>[]
    : T extends object
      ? { [K in keyof T]?: DeepPartial<T[K]> }
      : T;

export interface Codec<T> {
  /** Fully qualified protobuf name, e.g. `yulan.v1.Telemetry`. */
  readonly typeName: string;
  encode(message: DeepPartial<T>): Uint8Array;
  /** Decodes and normalises (64-bit integers as numbers, proto3 defaults filled in).
   * Throws ProtoError(E_PROTO_DECODE) on malformed bytes. */
  decode(bytes: Uint8Array): T;
}

const TO_OBJECT: protobuf.IConversionOptions = {
  longs: Number,
  enums: Number,
  bytes: Uint8Array as unknown as typeof String,
  defaults: true,
  arrays: true,
  objects: true,
  oneofs: true,
};

export function loadRoot(json: string): protobuf.Root {
  return protobuf.Root.fromJSON(JSON.parse(json) as protobuf.INamespace);
}

/** toObject({defaults:true}) sets absent singular message fields to null; the generated
 * types say `field?: T`, so strip those nulls (recursively, via a plan built once per type). */
type Plan = { field: string; sub: Plan | null; repeated: boolean }[];
function planFor(type: protobuf.Type, seen = new Map<protobuf.Type, Plan>()): Plan {
  const cached = seen.get(type);
  if (cached) return cached;
  const plan: Plan = [];
  seen.set(type, plan);
  for (const f of type.fieldsArray) {
    f.resolve();
    if (f.map || !(f.resolvedType instanceof protobuf.Type)) continue;
    plan.push({ field: f.name, sub: planFor(f.resolvedType, seen), repeated: f.repeated });
  }
  return plan;
}
function stripNulls(obj: Record<string, unknown>, plan: Plan): void {
  for (const step of plan) {
    const v = obj[step.field];
    if (v === null || v === undefined) {
      delete obj[step.field];
    } else if (step.sub && step.sub.length > 0) {
      if (step.repeated) for (const item of v as Record<string, unknown>[]) stripNulls(item, step.sub);
      else stripNulls(v as Record<string, unknown>, step.sub);
    }
  }
}

export function createCodec<T>(root: protobuf.Root, typeName: string): Codec<T> {
  const type = root.lookupType(typeName);
  const plan = planFor(type);
  return {
    typeName,
    encode(message) {
      const problem = type.verify(message as Record<string, unknown>);
      if (problem) throw new ProtoError(ProtoErrorCode.Encode, `${typeName}: ${problem}`);
      return type.encode(message as Record<string, unknown>).finish();
    },
    decode(bytes) {
      let decoded: protobuf.Message;
      try {
        decoded = type.decode(bytes);
      } catch (err) {
        throw new ProtoError(ProtoErrorCode.Decode, `${typeName}: ${(err as Error).message}`, { cause: err });
      }
      const obj = type.toObject(decoded, TO_OBJECT);
      stripNulls(obj, plan);
      return obj as T;
    },
  };
}
