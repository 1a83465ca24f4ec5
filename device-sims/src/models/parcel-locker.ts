import { Severity, type LockerCompartment, type ParcelLockerTelemetry } from '@yulan/protos';
import { hazard, type Rng } from '../rng.js';
import {
  DEFAULT_UTC_OFFSET_MIN, MINUTE_MS, clamp, hourBump, localHour, round, type SimEvent, type StepResult,
} from './types.js';

export const CompartmentSize = { S: 'S', M: 'M', L: 'L', XL: 'XL' } as const;
export type CompartmentSize = (typeof CompartmentSize)[keyof typeof CompartmentSize];
const SIZES: readonly CompartmentSize[] = ['S', 'M', 'L', 'XL'];

export interface ParcelLockerConfig {
  compartments: number;
  freshFood: boolean;
  utcOffsetMin: number;
  /** Deposits per compartment per day (spread over courier hours). */
  depositsPerCompartmentDay: number;
  /** Chilled band, °C (parcel-lockers.md: about 2–7 °C). */
  tempBandC: readonly [number, number];
  /** A door open longer than this raises locker.door_ajar. */
  doorAjarTimeoutMs: number;
  tampersPerDay: number;
  excursionsPerDay: number;
}

/** `remote`: opened by an operator (locker.open); closing it changes no occupancy. */
type Op = 'deposit' | 'pickup' | 'remote' | 'none';

export interface CompartmentState {
  index: number;
  size: CompartmentSize;
  occupied: boolean;
  doorOpen: boolean;
  /** What the open door is for; the occupancy flips when that door closes. */
  op: Op;
  closesAtMs: number;
  openedAtMs: number;
  ajarReported: boolean;
  parcelId: string;
  /** Latch released by locker.unlock until locker.lock (reported as locked = false). */
  unlocked: boolean;
  /** A reading has shown this door open (a remote open is never closed unseen). */
  shown: boolean;
}

export interface ParcelLockerState {
  config: ParcelLockerConfig;
  nowMs: number;
  compartments: CompartmentState[];
  cabinetTempC: number;
  /** Sensor/air-mixing fluctuation (OU process) on top of the cabinet's thermal state. */
  tempNoise: number;
  /** While set, the chiller has failed and the cabinet warms until this time. */
  excursionUntilMs: number;
  outOfBand: boolean;
  tamperUntilMs: number;
  parcelCounter: number;
  supplyVoltageV: number;
}

export function defaultParcelLockerConfig(p: Partial<ParcelLockerConfig> = {}): ParcelLockerConfig {
  return {
    compartments: 24, freshFood: false, utcOffsetMin: DEFAULT_UTC_OFFSET_MIN, depositsPerCompartmentDay: 0.6,
    tempBandC: [2, 7], doorAjarTimeoutMs: 2 * MINUTE_MS, tampersPerDay: 1 / 90, excursionsPerDay: 0.15, ...p,
  };
}

export function initParcelLocker(config: ParcelLockerConfig, startMs: number, rng: Rng): ParcelLockerState {
  if (!Number.isInteger(config.compartments) || config.compartments < 1) {
    throw new RangeError(`compartments must be a positive integer, got ${config.compartments}`);
  }
  // Typical cabinet mix: mostly small and medium doors.
  const sizeFor = (i: number): CompartmentSize => {
    const f = i / config.compartments;
    return f < 0.4 ? 'S' : f < 0.75 ? 'M' : f < 0.92 ? 'L' : 'XL';
  };
  let parcelCounter = 0;
  const compartments = Array.from({ length: config.compartments }, (_, i): CompartmentState => {
    const occupied = rng.chance(0.3);
    return {
      index: i + 1, size: sizeFor(i), occupied, doorOpen: false, op: 'none', closesAtMs: 0, openedAtMs: 0,
      ajarReported: false, parcelId: occupied ? `p-${++parcelCounter}` : '', unlocked: false, shown: false,
    };
  });
  return {
    config, nowMs: startMs, compartments, cabinetTempC: 4.5, tempNoise: rng.normal(0, 0.2), excursionUntilMs: 0,
    outOfBand: false, tamperUntilMs: 0, parcelCounter, supplyVoltageV: 230,
  };
}

/** Courier deliveries cluster in working hours; recipients collect after work. */
const depositProfile = (h: number): number => 0.1 + 1.8 * hourBump(h, 11, 2.5) + 1.2 * hourBump(h, 15.5, 2);
const pickupProfile = (h: number): number => 0.1 + 0.6 * hourBump(h, 12.5, 1.5) + 2.4 * hourBump(h, 19, 2);

const ev = (type: string, severity: Severity, message: string, attributes: Record<string, string>): SimEvent => ({
  type, severity, message, attributes,
});

export function stepParcelLocker(prev: ParcelLockerState, elapsedMs: number, rng: Rng): StepResult<ParcelLockerState, ParcelLockerTelemetry> {
  const c = prev.config;
  const s: ParcelLockerState = { ...prev, nowMs: prev.nowMs + elapsedMs, compartments: prev.compartments.map((x) => ({ ...x })) };
  const events: SimEvent[] = [];
  const hour = localHour(s.nowMs, c.utcOffsetMin);
  const attrs = (x: CompartmentState): Record<string, string> => ({
    compartment: String(x.index), size: x.size, parcel_id: x.parcelId,
  });

  // 1. Doors whose visit is over close; the close completes the deposit or pickup.
  let doorsOpen = 0;
  for (const x of s.compartments) {
    if (!x.doorOpen) continue;
    // A door opened by an operator stays open until a reading has shown it: the cloud
    // confirms locker.open by door_open = true, whatever the reporting interval.
    if (s.nowMs >= x.closesAtMs && (x.op !== 'remote' || x.shown)) {
      x.doorOpen = false;
      x.shown = false;
      if (x.op === 'deposit') {
        x.occupied = true;
        events.push(ev('locker.deposit', Severity.INFO, `parcel ${x.parcelId} deposited in ${x.index}`, attrs(x)));
      } else if (x.op === 'pickup') {
        events.push(ev('locker.pickup', Severity.INFO, `parcel ${x.parcelId} picked up from ${x.index}`, attrs(x)));
        x.occupied = false;
        x.parcelId = '';
      }
      x.op = 'none';
      x.ajarReported = false;
    } else {
      doorsOpen += 1;
      if (!x.ajarReported && s.nowMs - x.openedAtMs >= c.doorAjarTimeoutMs) {
        x.ajarReported = true;
        events.push(ev('locker.door_ajar', Severity.WARNING, `door ${x.index} open for over ${Math.round(c.doorAjarTimeoutMs / 1000)} s`, {
          ...attrs(x), open_ms: String(s.nowMs - x.openedAtMs),
        }));
      }
    }
  }

  // 2. New visits. Visit length: 10–40 s, but ~3 % of people walk off leaving the door open.
  const open = (x: CompartmentState, op: Op): void => {
    x.doorOpen = true;
    x.op = op;
    x.openedAtMs = s.nowMs;
    x.ajarReported = false;
    const leftOpen = rng.chance(0.03);
    x.closesAtMs = s.nowMs + (leftOpen ? rng.range(3, 15) * MINUTE_MS : rng.range(10_000, 40_000));
  };
  const depositRate = c.depositsPerCompartmentDay * c.compartments / 24 * depositProfile(hour);
  if (rng.chance(hazard(depositRate, elapsedMs))) {
    const wanted = rng.pick(SIZES);
    // The locker picks an empty compartment of the right size, else the next larger size.
    const free = SIZES.slice(SIZES.indexOf(wanted))
      .map((size) => s.compartments.filter((x) => x.size === size && !x.occupied && !x.doorOpen))
      .find((list) => list.length > 0);
    if (free) {
      const x = rng.pick(free);
      x.parcelId = `p-${++s.parcelCounter}`;
      open(x, 'deposit');
    }
  }
  const waiting = s.compartments.filter((x) => x.occupied && !x.doorOpen);
  const pickupRate = waiting.length * 0.7 / 24 * pickupProfile(hour);
  if (waiting.length > 0 && rng.chance(hazard(pickupRate, elapsedMs))) open(rng.pick(waiting), 'pickup');

  // 3. Tamper (forced door / cabinet shock), rare.
  if (s.nowMs >= s.tamperUntilMs && rng.chance(hazard(c.tampersPerDay / 24, elapsedMs))) {
    s.tamperUntilMs = s.nowMs + rng.range(1, 5) * MINUTE_MS;
    events.push(ev('locker.tamper', Severity.CRITICAL, 'cabinet tamper switch triggered', {}));
  }
  s.supplyVoltageV = clamp(rng.normal(230, 2), 210, 250);

  // 4. Fresh-food cabinet: first-order relaxation towards the set point (or ambient during a
  // chiller failure); open doors let warm air in.
  if (c.freshFood) {
    const [lo, hi] = c.tempBandC;
    if (s.nowMs >= s.excursionUntilMs && rng.chance(hazard(c.excursionsPerDay / 24, elapsedMs))) {
      s.excursionUntilMs = s.nowMs + rng.range(20, 90) * MINUTE_MS;
    }
    const failing = s.nowMs < s.excursionUntilMs;
    const target = failing ? 26 : (lo + hi) / 2 + 0.25 * doorsOpen;
    const tau = failing ? 40 * MINUTE_MS : 10 * MINUTE_MS;
    const k = 1 - Math.exp(-elapsedMs / tau);
    s.cabinetTempC += (target - s.cabinetTempC) * k;
    // Exact OU update: the noise level does not depend on the publish rate.
    const a = Math.exp(-elapsedMs / (5 * MINUTE_MS));
    s.tempNoise = s.tempNoise * a + 0.2 * Math.sqrt(1 - a * a) * rng.normal();
    const t = s.cabinetTempC + s.tempNoise;
    // 0.3 °C hysteresis on the way back so a reading on the edge does not flap.
    const out = s.outOfBand ? t < lo + 0.3 || t > hi - 0.3 : t < lo || t > hi;
    if (out && !s.outOfBand) {
      events.push(ev('locker.temperature_out_of_band', Severity.WARNING,
        `cabinet at ${t.toFixed(1)} °C, outside ${lo}–${hi} °C`, {
          temperature_c: t.toFixed(2), band_low_c: String(lo), band_high_c: String(hi),
        }));
    } else if (!out && s.outOfBand) {
      events.push(ev('locker.temperature_restored', Severity.INFO, `cabinet back in band at ${t.toFixed(1)} °C`, {
        temperature_c: t.toFixed(2),
      }));
    }
    s.outOfBand = out;
  }

  for (const x of s.compartments) if (x.doorOpen) x.shown = true;
  return { state: s, reading: lockerReading(s), events };
}

function lockerReading(s: ParcelLockerState): ParcelLockerTelemetry {
  const compartments: LockerCompartment[] = s.compartments.map((x) => ({
    index: x.index, doorOpen: x.doorOpen, occupied: x.occupied, size: x.size, locked: !x.doorOpen && !x.unlocked,
  }));
  const reading: ParcelLockerTelemetry = {
    compartments, tamper: s.nowMs < s.tamperUntilMs, mainsPower: true, supplyVoltageV: round(s.supplyVoltageV, 1),
  };
  if (s.config.freshFood) reading.cabinetTempC = round(s.cabinetTempC + s.tempNoise, 2);
  return reading;
}
