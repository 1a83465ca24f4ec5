import { ConnectorStatus } from '@yulan/protos';

type S = ConnectorStatus;
const {
  AVAILABLE, PREPARING, CHARGING, SUSPENDED_EV, SUSPENDED_EVSE, FINISHING, RESERVED, UNAVAILABLE, FAULTED,
} = ConnectorStatus;

/** OCPP 1.6 §4.9 allowed connector status transitions (shared/domain/ocpp-1.6j.md). */
export const OCPP_TRANSITIONS: Readonly<Record<number, readonly S[]>> = {
  [AVAILABLE]: [PREPARING, CHARGING, SUSPENDED_EV, SUSPENDED_EVSE, RESERVED, UNAVAILABLE, FAULTED],
  [PREPARING]: [AVAILABLE, CHARGING, SUSPENDED_EV, SUSPENDED_EVSE, FINISHING, FAULTED],
  [CHARGING]: [AVAILABLE, SUSPENDED_EV, SUSPENDED_EVSE, FINISHING, UNAVAILABLE, FAULTED],
  [SUSPENDED_EV]: [AVAILABLE, CHARGING, SUSPENDED_EVSE, FINISHING, UNAVAILABLE, FAULTED],
  [SUSPENDED_EVSE]: [AVAILABLE, CHARGING, SUSPENDED_EV, FINISHING, UNAVAILABLE, FAULTED],
  [FINISHING]: [AVAILABLE, PREPARING, UNAVAILABLE, FAULTED],
  [RESERVED]: [AVAILABLE, PREPARING, UNAVAILABLE, FAULTED],
  [UNAVAILABLE]: [AVAILABLE, PREPARING, CHARGING, SUSPENDED_EV, SUSPENDED_EVSE, FAULTED],
  [FAULTED]: [AVAILABLE, PREPARING, CHARGING, SUSPENDED_EV, SUSPENDED_EVSE, FINISHING, RESERVED, UNAVAILABLE],
};

export function isAllowedTransition(from: ConnectorStatus, to: ConnectorStatus): boolean {
  return OCPP_TRANSITIONS[from]?.includes(to) ?? false;
}

/** OCPP 1.6 ChargePointErrorCode values a real connector reports (NoError excluded). */
export const OCPP_ERROR_CODES = [
  'ConnectorLockFailure', 'EVCommunicationError', 'GroundFailure', 'HighTemperature', 'InternalError',
  'OverCurrentFailure', 'OverVoltage', 'PowerMeterFailure', 'PowerSwitchFailure', 'ReaderFailure',
  'UnderVoltage', 'WeakSignal', 'OtherError',
] as const;
export type OcppErrorCode = (typeof OCPP_ERROR_CODES)[number];

/** Faults that concern people's safety rather than availability. */
export const SAFETY_ERROR_CODES: ReadonlySet<string> = new Set(['GroundFailure', 'OverCurrentFailure', 'OverVoltage', 'HighTemperature']);
