import { CodedError } from '@yulan/protos';

/** Typed errors of the OCPP gateway; `code` is what callers branch and count on. */
export const GatewayErrorCode = {
  Config: 'E_CONFIG',
  Outbox: 'E_OUTBOX',
  DeviceAuth: 'E_DEVICE_AUTH',
  Mqtt: 'E_MQTT',
} as const;
export type GatewayErrorCode = (typeof GatewayErrorCode)[keyof typeof GatewayErrorCode];

export class GatewayError extends CodedError<GatewayErrorCode> {}

/** Lists every bad variable at once, so an operator fixes the environment in one go. */
export class GatewayConfigError extends GatewayError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(GatewayErrorCode.Config, `invalid OCPP gateway configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'GatewayConfigError';
    this.problems = problems;
  }
}
