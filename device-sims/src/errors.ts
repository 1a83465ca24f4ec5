import { CodedError } from '@yulan/protos';

/** Error codes of the simulator package; callers (the CLI) switch on `code`. */
export const SimErrorCode = {
  BadArgs: 'E_SIM_ARGS',
  /** Not a failure: -h/--help was given; the message is the usage text. */
  Help: 'E_SIM_HELP',
  BadOptions: 'E_SIM_OPTIONS',
  CloudAuth: 'E_SIM_CLOUD_AUTH',
  CloudRegister: 'E_SIM_CLOUD_REGISTER',
  CloudUnreachable: 'E_SIM_CLOUD_UNREACHABLE',
  MissingSecret: 'E_SIM_MISSING_SECRET',
  CredentialsFile: 'E_SIM_CREDENTIALS_FILE',
  MqttAuth: 'E_SIM_MQTT_AUTH',
  MqttConnect: 'E_SIM_MQTT_CONNECT',
  Closed: 'E_SIM_CLOSED',
  /** the cloud refused the claim exchange (reason in the message) */
  ClaimRefused: 'E_SIM_CLAIM_REFUSED',
} as const;
export type SimErrorCode = (typeof SimErrorCode)[keyof typeof SimErrorCode];

export class SimError extends CodedError<SimErrorCode> {}
