/** Error codes of the wire contract. Consumers count and log by `code`. */
export const ProtoErrorCode = {
  Decode: 'E_PROTO_DECODE',
  Encode: 'E_PROTO_ENCODE',
  Topic: 'E_TOPIC',
} as const;
export type ProtoErrorCode = (typeof ProtoErrorCode)[keyof typeof ProtoErrorCode];

/**
 * The base of every typed error in Yulan: a stable `code` that callers branch and count on
 * (never the message text) and, where there is one, the underlying `cause`. Each service
 * narrows `C` to its own `as const` code list.
 */
export class CodedError<C extends string = string> extends Error {
  readonly code: C;
  constructor(code: C, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

export class ProtoError extends CodedError<ProtoErrorCode> {}
