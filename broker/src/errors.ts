import { CodedError } from '@yulan/protos';

/** Error codes of the broker. Callers log and count by `code`, never by message text. */
export const BrokerErrorCode = {
  Config: 'E_BROKER_CONFIG',
  Accounts: 'E_BROKER_ACCOUNTS',
  Listen: 'E_BROKER_LISTEN',
  DeviceAuth: 'E_BROKER_DEVICE_AUTH',
  PacketTooLarge: 'E_BROKER_PACKET_TOO_LARGE',
  Refused: 'E_BROKER_CONNECT_REFUSED',
} as const;
export type BrokerErrorCode = (typeof BrokerErrorCode)[keyof typeof BrokerErrorCode];

export class BrokerError extends CodedError<BrokerErrorCode> {}

export interface ConfigIssue {
  variable: string;
  message: string;
}

/** Thrown once at start-up with every bad variable, so an operator fixes them in one go. */
export class ConfigError extends BrokerError {
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[], options?: { cause?: unknown }) {
    super(
      BrokerErrorCode.Config,
      `invalid broker configuration: ${issues.map((i) => `${i.variable}: ${i.message}`).join('; ')}`,
      options,
    );
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** MQTT 3.1.1 CONNACK return codes the broker refuses with (section 3.2.2.3). */
export const ConnackCode = {
  IdentifierRejected: 2,
  ServerUnavailable: 3,
  BadUsernameOrPassword: 4,
  NotAuthorized: 5,
} as const;
export type ConnackCode = (typeof ConnackCode)[keyof typeof ConnackCode];

/** A refused CONNECT. Aedes reads `returnCode` to pick the CONNACK code. */
export class ConnectRefusedError extends BrokerError {
  readonly returnCode: ConnackCode;
  constructor(returnCode: ConnackCode, message: string, options?: { cause?: unknown }) {
    super(BrokerErrorCode.Refused, message, options);
    this.name = 'ConnectRefusedError';
    this.returnCode = returnCode;
  }
}

/** The transport guard destroys a connection with this when a frame exceeds the cap. */
export class PacketTooLargeError extends BrokerError {
  readonly size: number;
  readonly limit: number;
  constructor(size: number, limit: number) {
    super(BrokerErrorCode.PacketTooLarge, `MQTT packet of ${size} bytes exceeds the ${limit}-byte cap`);
    this.name = 'PacketTooLargeError';
    this.size = size;
    this.limit = limit;
  }
}
