import { CodedError } from '@yulan/protos';

/** Error codes of the edge agent; callers count and log by `code`, never by message. */
export const EdgeErrorCode = {
  Config: 'E_EDGE_CONFIG',
  Store: 'E_EDGE_STORE',
  StoreUnavailable: 'E_EDGE_STORE_UNAVAILABLE',
  Outbox: 'E_EDGE_OUTBOX',
  Mqtt: 'E_EDGE_MQTT',
  Query: 'E_EDGE_QUERY',
  AlertStore: 'E_EDGE_ALERT_STORE',
  /** A cloud or fallback HTTP call failed (network, timeout, status, oversized body). */
  Http: 'E_EDGE_HTTP',
  CareRules: 'E_EDGE_CARE_RULES',
  Fallback: 'E_EDGE_FALLBACK',
  /** `yulan admin influx-migrate` could not copy or verify (store/influx-migrate.ts). */
  InfluxMigrate: 'E_EDGE_INFLUX_MIGRATE',
} as const;
export type EdgeErrorCode = (typeof EdgeErrorCode)[keyof typeof EdgeErrorCode];

export class EdgeError extends CodedError<EdgeErrorCode> {}

export interface ConfigIssue {
  variable: string;
  message: string;
}

/** Thrown once at start-up with every bad variable, so an operator fixes them in one go. */
export class ConfigError extends EdgeError {
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[], options?: { cause?: unknown }) {
    super(
      EdgeErrorCode.Config,
      `invalid edge configuration: ${issues.map((i) => `${i.variable}: ${i.message}`).join('; ')}`,
      options,
    );
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** A store failure. `retryable` tells the forwarder whether backing off can help (server
 * down, 5xx, timeouts) or the batch itself is bad (4xx) and would fail forever. */
export class StoreError extends EdgeError {
  readonly retryable: boolean;
  constructor(message: string, opts: { retryable: boolean; cause?: unknown }) {
    super(opts.retryable ? EdgeErrorCode.StoreUnavailable : EdgeErrorCode.Store, message, { cause: opts.cause });
    this.name = 'StoreError';
    this.retryable = opts.retryable;
  }
}
