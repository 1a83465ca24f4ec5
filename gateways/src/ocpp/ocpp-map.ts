import { ConnectorStatus, type EvChargerTelemetry } from '@yulan/protos';

/** OCPP 1.6 ChargePointStatus → the wire enum (same values, spec §4.9). */
const STATUS: Record<string, ConnectorStatus> = {
  Available: ConnectorStatus.AVAILABLE,
  Preparing: ConnectorStatus.PREPARING,
  Charging: ConnectorStatus.CHARGING,
  SuspendedEVSE: ConnectorStatus.SUSPENDED_EVSE,
  SuspendedEV: ConnectorStatus.SUSPENDED_EV,
  Finishing: ConnectorStatus.FINISHING,
  Reserved: ConnectorStatus.RESERVED,
  Unavailable: ConnectorStatus.UNAVAILABLE,
  Faulted: ConnectorStatus.FAULTED,
};
export function connectorStatus(ocpp: string): ConnectorStatus {
  return STATUS[ocpp] ?? ConnectorStatus.UNSPECIFIED;
}

/** What the gateway knows of one connector, merged from StatusNotification, MeterValues
 * and the transaction messages; every report publishes the whole of it. */
export interface ConnectorState {
  connectorId: number;
  status: ConnectorStatus;
  faultCode: string;
  powerW: number;
  currentA: number;
  voltageV: number;
  /** lifetime Energy.Active.Import.Register, Wh */
  meterWh: number;
  transactionId: string;
  meterStartWh: number;
  socPct?: number;
  currentL1A?: number;
  currentL2A?: number;
  currentL3A?: number;
  currentOfferedA?: number;
  temperatureC?: number;
}

export function emptyConnector(connectorId: number): ConnectorState {
  return {
    connectorId, status: ConnectorStatus.UNSPECIFIED, faultCode: '', powerW: 0, currentA: 0, voltageV: 0,
    meterWh: 0, transactionId: '', meterStartWh: 0,
  };
}

export interface SampledValue {
  value: string; context?: string; format?: string; measurand?: string; phase?: string; location?: string; unit?: string;
}
export interface MeterValue { timestamp: string; sampledValue: SampledValue[] }

/** Scale to the base unit (Wh, W, A, V, Celsius, Percent); undefined for a unit we do not
 * convert (Fahrenheit, K, var…), so a wrong number is never stored under a right name. */
function scaled(v: number, unit: string): number | undefined {
  switch (unit) {
    case 'Wh': case 'W': case 'A': case 'V': case 'Celsius': case 'Percent': return v;
    case 'kWh': case 'kW': return v * 1000;
    case 'K': return v - 273.15;
    case 'Fahrenheit': return (v - 32) * (5 / 9);
    default: return undefined;
  }
}

const DEFAULT_UNIT: Record<string, string> = {
  'Energy.Active.Import.Register': 'Wh', 'Power.Active.Import': 'W', 'Current.Import': 'A', 'Current.Offered': 'A',
  Voltage: 'V', SoC: 'Percent', Temperature: 'Celsius',
};

interface Acc { total?: number; phases: Record<string, number> }

/** Applies the sampled values of MeterValues (oldest first) to a connector. Per-phase
 * currents keep their phase; current_a is the highest phase (what a per-phase limit is
 * checked against), power and energy sum their phases when no total is given, voltage
 * averages its phases. Values that are not numbers or whose unit is not convertible are
 * skipped and counted in the returned `skipped`. */
export function applyMeterValues(prev: ConnectorState, values: readonly MeterValue[]): { state: ConnectorState; skipped: number } {
  const s: ConnectorState = { ...prev };
  let skipped = 0;
  for (const mv of values) {
    const acc = new Map<string, Acc>();
    for (const sv of mv.sampledValue) {
      if (sv.format === 'SignedData') { skipped++; continue; }
      const measurand = sv.measurand ?? 'Energy.Active.Import.Register';
      const raw = Number(sv.value);
      const v = Number.isFinite(raw) ? scaled(raw, sv.unit ?? DEFAULT_UNIT[measurand] ?? 'Wh') : undefined;
      if (v === undefined) { skipped++; continue; }
      const a = acc.get(measurand) ?? { phases: {} };
      if (sv.phase) a.phases[sv.phase] = v; else a.total = v;
      acc.set(measurand, a);
    }
    const sum = (a: Acc): number => a.total ?? Object.values(a.phases).reduce((x, y) => x + y, 0);
    const energy = acc.get('Energy.Active.Import.Register');
    if (energy) s.meterWh = sum(energy);
    const power = acc.get('Power.Active.Import');
    if (power) s.powerW = sum(power);
    const current = acc.get('Current.Import');
    if (current) {
      const ph = current.phases;
      if (ph.L1 !== undefined) s.currentL1A = ph.L1;
      if (ph.L2 !== undefined) s.currentL2A = ph.L2;
      if (ph.L3 !== undefined) s.currentL3A = ph.L3;
      const perPhase = [ph.L1, ph.L2, ph.L3].filter((x): x is number => x !== undefined);
      s.currentA = perPhase.length > 0 ? Math.max(...perPhase) : (current.total ?? 0);
    }
    const voltage = acc.get('Voltage');
    if (voltage) {
      const ph = Object.values(voltage.phases);
      s.voltageV = voltage.total ?? (ph.length ? ph.reduce((x, y) => x + y, 0) / ph.length : s.voltageV);
    }
    const offered = acc.get('Current.Offered');
    if (offered) s.currentOfferedA = offered.total ?? Math.max(...Object.values(offered.phases));
    const soc = acc.get('SoC');
    if (soc) s.socPct = sum(soc);
    const temp = acc.get('Temperature');
    if (temp) s.temperatureC = temp.total ?? Math.max(...Object.values(temp.phases));
  }
  return { state: s, skipped };
}

/** A connector that is not Charging draws nothing (a charger stops sampling when it stops). */
export function applyStatus(prev: ConnectorState, status: ConnectorStatus, errorCode: string): ConnectorState {
  const s: ConnectorState = { ...prev, status, faultCode: errorCode === 'NoError' ? '' : errorCode };
  if (status !== ConnectorStatus.CHARGING) {
    s.powerW = 0;
    s.currentA = 0;
    if (s.currentL1A !== undefined) s.currentL1A = 0;
    if (s.currentL2A !== undefined) s.currentL2A = 0;
    if (s.currentL3A !== undefined) s.currentL3A = 0;
  }
  return s;
}

const r = (v: number, d = 4): number => Math.round(v * 10 ** d) / 10 ** d;

export function toReading(s: ConnectorState): EvChargerTelemetry {
  const t: EvChargerTelemetry = {
    connectorId: s.connectorId,
    status: s.status,
    powerW: r(s.powerW, 1),
    energyKwh: s.transactionId ? r(Math.max(0, s.meterWh - s.meterStartWh) / 1000) : 0,
    currentA: r(s.currentA, 3),
    voltageV: r(s.voltageV, 1),
    faultCode: s.faultCode,
    meterKwh: r(s.meterWh / 1000),
    transactionId: s.transactionId,
  };
  if (s.socPct !== undefined) t.socPct = s.socPct;
  if (s.currentL1A !== undefined) t.currentL1A = s.currentL1A;
  if (s.currentL2A !== undefined) t.currentL2A = s.currentL2A;
  if (s.currentL3A !== undefined) t.currentL3A = s.currentL3A;
  if (s.currentOfferedA !== undefined) t.currentOfferedA = s.currentOfferedA;
  if (s.temperatureC !== undefined) t.temperatureC = s.temperatureC;
  return t;
}
