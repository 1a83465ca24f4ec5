import { CodedError } from '@yulan/protos';

/**
 * Typed errors of the cloud service. Every error carries a stable `code` (what callers
 * branch and count on) and, where there is one, the underlying `cause`.
 */
export const CloudErrorCode = {
  Config: 'E_CONFIG',
  Database: 'E_DATABASE',
  Duplicate: 'E_DUPLICATE',
  Conflict: 'E_CONFLICT',
  NotFound: 'E_NOT_FOUND',
  Validation: 'E_VALIDATION',
  Unauthorized: 'E_UNAUTHORIZED',
  Forbidden: 'E_FORBIDDEN',
  /** the device exists but is disabled: what it sends is refused until it is enabled again */
  DeviceDisabled: 'E_DEVICE_DISABLED',
  TooManyRequests: 'E_TOO_MANY_REQUESTS',
  EdgeUnreachable: 'E_EDGE_UNREACHABLE',
  EdgeBadRequest: 'E_EDGE_BAD_REQUEST',
  EdgeBadResponse: 'E_EDGE_BAD_RESPONSE',
  BrokerUnreachable: 'E_BROKER_UNREACHABLE',
  Mqtt: 'E_MQTT',
  Internal: 'E_INTERNAL',
} as const;
export type CloudErrorCode = (typeof CloudErrorCode)[keyof typeof CloudErrorCode];

export class CloudError extends CodedError<CloudErrorCode> {}

/** Thrown by `loadCloudConfig`; lists every bad variable at once so an operator fixes
 * the environment in one go instead of one restart per mistake. */
export class ConfigError extends CloudError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[], options?: { cause?: unknown }) {
    super(CloudErrorCode.Config, `invalid cloud configuration:\n  - ${problems.join('\n  - ')}`, options);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** An error meant for an HTTP client. `expose` marks 5xx messages we wrote ourselves
 * (e.g. "edge unreachable") as safe to show; other 5xx details stay in the log. */
export class HttpError extends CloudError {
  readonly statusCode: number;
  readonly expose: boolean;
  constructor(
    statusCode: number,
    code: CloudErrorCode,
    message: string,
    options?: { cause?: unknown; expose?: boolean },
  ) {
    super(code, message, options);
    this.name = 'HttpError';
    this.statusCode = statusCode;
    this.expose = options?.expose ?? statusCode < 500;
  }
}
