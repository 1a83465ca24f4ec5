export * from './gen/yulan-v1.js';
export * from './topics.js';
export * from './fields.js';
export { CodedError, ProtoError, ProtoErrorCode } from './errors.js';
export type { Codec, DeepPartial } from './codec.js';
export * from './credentials.js';
export * from './webhook-signature.js';
export * from './care.js';
export * from './data-safety.js';
