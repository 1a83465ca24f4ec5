// The §4.9 transition table lives in @yulan/protos, shared with the OCPP gateway.
export { OCPP_TRANSITIONS, isAllowedTransition } from '@yulan/protos';

/** OCPP 1.6 ChargePointErrorCode values a real connector reports (NoError excluded). */
export const OCPP_ERROR_CODES = [
  'ConnectorLockFailure', 'EVCommunicationError', 'GroundFailure', 'HighTemperature', 'InternalError',
  'OverCurrentFailure', 'OverVoltage', 'PowerMeterFailure', 'PowerSwitchFailure', 'ReaderFailure',
  'UnderVoltage', 'WeakSignal', 'OtherError',
] as const;
export type OcppErrorCode = (typeof OCPP_ERROR_CODES)[number];

/** Faults that concern people's safety rather than availability. */
export const SAFETY_ERROR_CODES: ReadonlySet<string> = new Set(['GroundFailure', 'OverCurrentFailure', 'OverVoltage', 'HighTemperature']);
