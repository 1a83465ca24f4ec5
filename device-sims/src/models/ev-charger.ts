import { ConnectorStatus, ConnectorStatusName, Severity, type EvChargerTelemetry } from '@yulan/protos';
import { hazard, type Rng } from '../rng.js';
import { remoteTransition } from './ev-charger-control.js';
import { OCPP_ERROR_CODES, SAFETY_ERROR_CODES } from './ocpp.js';
import {
  DEFAULT_UTC_OFFSET_MIN, MINUTE_MS, clamp, hourBump, localHour, round, type SimEvent, type StepResult,
} from './types.js';

export const ChargerModel = {
  /** 7 kW AC, single phase 230 V / 32 A. */
  Ac7: 'ac7',
  /** 60 kW DC fast charger. */
  Dc60: 'dc60',
} as const;
export type ChargerModel = (typeof ChargerModel)[keyof typeof ChargerModel];

export interface EvChargerConfig {
  model: ChargerModel;
  connectorId: number;
  utcOffsetMin: number;
  /** Mean sessions per day (distributed over the day with morning/evening peaks). */
  sessionsPerDay: number;
  faultsPerDay: number;
  unavailablePerDay: number;
}

export interface EvChargerState {
  config: EvChargerConfig;
  /** Simulated clock, ms since the epoch. */
  nowMs: number;
  status: ConnectorStatus;
  /** End of the current timed phase (Preparing, Suspended*, Finishing, Faulted, …). */
  phaseEndsMs: number;
  powerW: number;
  sessionEnergyKwh: number;
  sessionTargetKwh: number;
  /** Vehicle state of charge 0..1; drives the DC taper and pack voltage. */
  soc: number;
  batteryKwh: number;
  meterKwh: number;
  transactionId: string;
  txCounter: number;
  faultCode: string;
  lineVoltageV: number;
  /** Operator requests (ev-charger-control.ts) taken by the next step, so every status
   * change still goes through the §4.9 table one transition per step. */
  pending: ChargerPending;
  /** ChangeAvailability Inoperative: stays Unavailable until made Operative again. */
  inoperative: boolean;
  /** SetChargingProfile-style cap on the current, A (0 = none). */
  currentLimitA: number;
  /** This charger's share of its site's power cap, W (charger.set_site_limit; absent = none),
   * and the division it came from (an older one is refused). */
  siteLimitW?: number;
  siteLimitGeneration?: number;
  /** Who started the running session (RemoteStartTransaction idTag), '' for a local start. */
  idTag: string;
  /** An operator's reservation (OCPP ReserveNow) holds the connector Reserved until it is
   * used, cancelled or expires; only a remote start goes past it. */
  reserved?: boolean;
}

export interface ChargerPending {
  /** RemoteStartTransaction idTag. */
  start?: string;
  /** StopTransaction reason (Remote, SoftReset, HardReset, Reboot). */
  stop?: string;
  /** ChangeAvailability Operative while Unavailable. */
  available?: boolean;
  /** The operator's reservation ended (cancelled, expired): Reserved → Available. */
  release?: boolean;
}

const MAX_POWER_W: Record<ChargerModel, number> = { ac7: 7_000, dc60: 60_000 };
/** How fast power converges on its set point, W per second (AC contactors are near-instant,
 * DC chargers ramp over tens of seconds). */
const RAMP_W_PER_S: Record<ChargerModel, number> = { ac7: 3_500, dc60: 4_000 };
const NOMINAL_AC_V = 230;

export function defaultEvChargerConfig(p: Partial<EvChargerConfig> = {}): EvChargerConfig {
  return {
    model: ChargerModel.Ac7, connectorId: 1, utcOffsetMin: DEFAULT_UTC_OFFSET_MIN,
    sessionsPerDay: 8, faultsPerDay: 0.05, unavailablePerDay: 0.02, ...p,
  };
}

export function initEvCharger(config: EvChargerConfig, startMs: number, rng: Rng): EvChargerState {
  return {
    config, nowMs: startMs, status: ConnectorStatus.AVAILABLE, phaseEndsMs: startMs, powerW: 0,
    sessionEnergyKwh: 0, sessionTargetKwh: 0, soc: 0, batteryKwh: 0,
    meterKwh: round(rng.range(500, 20_000), 3), transactionId: '', txCounter: 0, faultCode: '',
    lineVoltageV: NOMINAL_AC_V, pending: {}, inoperative: false, currentLimitA: 0, idTag: '',
  };
}

/** Arrivals per hour relative to the daily mean: commuter peaks at 08:30 and 18:30. */
function arrivalProfile(hour: number): number {
  return 0.25 + 1.2 * hourBump(hour, 8.5, 1.5) + 1.6 * hourBump(hour, 18.5, 2) + 0.6 * hourBump(hour, 13, 2.5);
}

function setPointW(s: EvChargerState): number {
  const max = MAX_POWER_W[s.config.model];
  const cap = Math.min(s.currentLimitA > 0 ? s.currentLimitA * readingVoltage(s) : Infinity, s.siteLimitW ?? Infinity);
  if (s.config.model === ChargerModel.Ac7) return Math.min(max, cap);
  // DC constant-current phase to 80 % SoC, then the usual taper.
  return Math.min(cap, s.soc <= 0.8 ? max : max * clamp(1 - ((s.soc - 0.8) / 0.2) * 0.85, 0.1, 1));
}

/** The voltage the reading reports (rounded as published), so a current cap computed from
 * it holds exactly for current_a = power_w / voltage_v. */
function readingVoltage(s: EvChargerState): number {
  if (s.config.model === ChargerModel.Ac7) return round(s.lineVoltageV, 1);
  return s.transactionId ? round(350 + 60 * s.soc, 1) : 0; // DC pack voltage only with a car on the cable
}

const ev = (type: string, severity: Severity, message: string, attributes: Record<string, string>): SimEvent => ({
  type, severity, message, attributes,
});

/** One step of the charger: accrue energy, then take at most one OCPP status transition, so
 * consecutive readings always show a transition from the spec table. */
export function stepEvCharger(prev: EvChargerState, elapsedMs: number, rng: Rng): StepResult<EvChargerState, EvChargerTelemetry> {
  const s: EvChargerState = { ...prev, nowMs: prev.nowMs + elapsedMs };
  const events: SimEvent[] = [];
  const dtS = elapsedMs / 1000;
  const c = s.config;
  const S = ConnectorStatus;
  const perHour = (perDay: number): number => perDay / 24;

  // Energy: trapezoid over the ramp, so large steps (low rates, time scaling) stay accurate.
  if (s.status === S.CHARGING) {
    const target = setPointW(s);
    const step = RAMP_W_PER_S[c.model] * dtS;
    const next = s.powerW < target ? Math.min(target, s.powerW + step) : Math.max(target, s.powerW - step);
    let kwh = ((s.powerW + next) / 2) * dtS / 3_600_000;
    kwh = Math.min(kwh, Math.max(0, s.sessionTargetKwh - s.sessionEnergyKwh) + 0.05);
    s.powerW = next;
    s.sessionEnergyKwh += kwh;
    s.meterKwh += kwh;
    s.soc = clamp(s.soc + kwh / s.batteryKwh, 0, 1);
  } else {
    s.powerW = 0;
  }
  s.lineVoltageV = clamp(rng.normal(NOMINAL_AC_V, 1.5), 215, 245);
  // The voltage moved after the ramp: re-apply the cap against the voltage that is reported.
  if (s.currentLimitA > 0) s.powerW = Math.min(s.powerW, Math.floor(s.currentLimitA * readingVoltage(s)));
  if (s.siteLimitW !== undefined) s.powerW = Math.min(s.powerW, s.siteLimitW);

  const phaseOver = s.nowMs >= s.phaseEndsMs;
  const full = s.sessionEnergyKwh >= s.sessionTargetKwh;
  const inSession = s.transactionId !== '';
  let to: ConnectorStatus | undefined;
  // An operator request takes this step's one transition (and no random happening competes).
  const remote = remoteTransition(s);
  const stopReason = remote?.reason;

  if (remote) {
    to = remote.to;
  } else if (s.status !== S.FAULTED && rng.chance(hazard(perHour(c.faultsPerDay), elapsedMs))) {
    to = S.FAULTED;
  } else {
    switch (s.status) {
      case S.AVAILABLE:
        if (rng.chance(hazard(perHour(c.unavailablePerDay), elapsedMs))) to = S.UNAVAILABLE;
        else if (rng.chance(hazard(perHour(c.sessionsPerDay) * arrivalProfile(localHour(s.nowMs, c.utcOffsetMin)), elapsedMs))) {
          to = rng.chance(0.1) ? S.RESERVED : S.PREPARING;
        }
        break;
      case S.RESERVED:
        if (phaseOver && !s.reserved) to = rng.chance(0.8) ? S.PREPARING : S.AVAILABLE;
        break;
      case S.PREPARING:
        // Some drivers plug in and walk away without authorising.
        if (phaseOver) to = rng.chance(0.08) ? S.AVAILABLE : S.CHARGING;
        break;
      case S.CHARGING:
        if (full) to = rng.chance(0.6) ? S.SUSPENDED_EV : S.FINISHING;
        else if (rng.chance(hazard(0.4, elapsedMs))) to = S.SUSPENDED_EVSE; // site load management
        else if (rng.chance(hazard(0.3, elapsedMs))) to = S.SUSPENDED_EV; // car pauses (conditioning)
        else if (rng.chance(hazard(0.15, elapsedMs))) to = S.FINISHING; // driver stops early
        break;
      case S.SUSPENDED_EV:
      case S.SUSPENDED_EVSE:
        if (phaseOver) to = full ? S.FINISHING : S.CHARGING;
        break;
      case S.FINISHING:
      case S.FAULTED:
        if (phaseOver) to = s.inoperative ? S.UNAVAILABLE : S.AVAILABLE;
        break;
      case S.UNAVAILABLE:
        if (phaseOver && !s.inoperative) to = S.AVAILABLE;
        break;
      default:
        to = S.AVAILABLE;
    }
  }

  if (to !== undefined && to !== s.status) {
    const from = s.status;
    const phase = (minS: number, maxS: number): void => {
      s.phaseEndsMs = s.nowMs + rng.range(minS, maxS) * 1000;
    };
    const stopSession = (reason: string): void => {
      if (!inSession) return;
      events.push(ev('charger.session_stopped', Severity.INFO, `session ${s.transactionId} stopped (${reason})`, {
        transaction_id: s.transactionId, reason, energy_kwh: s.sessionEnergyKwh.toFixed(3),
        connector_id: String(c.connectorId),
      }));
      s.transactionId = '';
      s.idTag = '';
    };
    s.status = to;
    switch (to) {
      case S.RESERVED: phase(5 * 60, 15 * 60); break;
      case S.PREPARING: phase(15, 90); break;
      case S.UNAVAILABLE: phase(20 * 60, 90 * 60); break;
      case S.FINISHING:
        stopSession(stopReason ?? (full ? 'EVDisconnected' : 'Local'));
        phase(20, 120);
        break;
      case S.SUSPENDED_EV: phase(full ? 5 * 60 : 60, full ? 40 * 60 : 5 * 60); break;
      case S.SUSPENDED_EVSE: phase(2 * 60, 10 * 60); break;
      case S.FAULTED: {
        s.faultCode = rng.pick(OCPP_ERROR_CODES);
        stopSession('EmergencyStop');
        s.powerW = 0;
        phase(2 * 60, 30 * 60);
        events.push(ev('charger.fault', SAFETY_ERROR_CODES.has(s.faultCode) ? Severity.CRITICAL : Severity.WARNING,
          `connector ${c.connectorId} faulted: ${s.faultCode}`, {
            fault_code: s.faultCode, connector_id: String(c.connectorId), previous_status: ConnectorStatusName[from],
          }));
        break;
      }
      case S.CHARGING:
        if (!inSession) {
          const { start, ...rest } = s.pending;
          s.idTag = start ?? '';
          s.pending = rest;
          s.txCounter += 1;
          s.transactionId = `tx-${s.txCounter}`;
          s.sessionEnergyKwh = 0;
          if (c.model === ChargerModel.Ac7) {
            s.batteryKwh = rng.range(30, 80);
            s.soc = rng.range(0.2, 0.7);
            s.sessionTargetKwh = rng.range(4, 28);
          } else {
            s.batteryKwh = rng.range(40, 90);
            s.soc = rng.range(0.08, 0.5);
            s.sessionTargetKwh = (rng.range(0.8, 0.95) - s.soc) * s.batteryKwh;
          }
          events.push(ev('charger.session_started', Severity.INFO, `session ${s.transactionId} started`, {
            transaction_id: s.transactionId, connector_id: String(c.connectorId), model: c.model,
            ...(s.idTag && { id_tag: s.idTag, by: 'remote' }),
          }));
        }
        break;
      case S.AVAILABLE:
        if (from === S.FAULTED) s.faultCode = '';
        stopSession(stopReason ?? 'Other');
        s.sessionEnergyKwh = 0;
        break;
      default:
        break;
    }
    events.push(ev('charger.status_changed', Severity.INFO, `${ConnectorStatusName[from]} → ${ConnectorStatusName[to]}`, {
      from: ConnectorStatusName[from], to: ConnectorStatusName[to], connector_id: String(c.connectorId),
    }));
    if (to !== S.CHARGING) s.powerW = 0;
  }

  return { state: s, reading: evReading(s), events };
}

/** Electrical values are derived from power so that P = V·I holds in every reading. */
function evReading(s: EvChargerState): EvChargerTelemetry {
  const powerW = Math.round(s.powerW);
  const voltageV = readingVoltage(s);
  const currentA = voltageV > 0 ? powerW / voltageV : 0;
  return {
    connectorId: s.config.connectorId,
    status: s.status,
    powerW,
    energyKwh: round(s.sessionEnergyKwh, 4),
    currentA,
    voltageV,
    faultCode: s.faultCode,
    meterKwh: round(s.meterKwh, 4),
    transactionId: s.transactionId,
  };
}
