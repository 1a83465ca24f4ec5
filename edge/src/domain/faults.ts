/**
 * When a device counts as faulted (the console's fleet counts and filter, issue 15): its
 * newest reading says so. Per kind, from the fields the device itself reports:
 *
 * - ev-charger: a fault code is set (`faulted` = 1) or the connector status is Faulted (9, OCPP).
 * - parcel-locker: tamper / forced open (`tamper` = 1) or mains power lost (`mains_power` = 0).
 * - fall-sensor, env-monitor: their telemetry has no fault state, so never by this rule.
 *
 * A later reading without the condition clears it. Being offline is not a fault (that is
 * the offline count); neither is an alert such as a fall.
 */
export type FaultReason = 'fault_code' | 'status_faulted' | 'tamper' | 'mains_power_lost';

const EV_STATUS_FAULTED = 9;

export function faultOf(kind: string, fields: Readonly<Record<string, number>>): FaultReason | null {
  switch (kind) {
    case 'ev-charger':
      if (fields.faulted === 1) return 'fault_code';
      if (fields.status === EV_STATUS_FAULTED) return 'status_faulted';
      return null;
    case 'parcel-locker':
      if (fields.tamper === 1) return 'tamper';
      if (fields.mains_power === 0) return 'mains_power_lost';
      return null;
    default:
      return null;
  }
}
