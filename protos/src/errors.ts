/** Error codes of the wire contract. Consumers count and log by `code`. */
export const ProtoErrorCode = {
  Decode: 'E_PROTO_DECODE',
  Encode: 'E_PROTO_ENCODE',
  Topic: 'E_TOPIC',
} as const;
export type ProtoErrorCode = (typeof ProtoErrorCode)[keyof typeof ProtoErrorCode];

export class ProtoError extends Error {
  readonly code: ProtoErrorCode;
  constructor(code: ProtoErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ProtoError';
    this.code = code;
  }
}
