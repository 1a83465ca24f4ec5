import { ConnectorStatus, DeviceKind, Severity } from '@yulan/protos';
import { describe, expect, it } from 'vitest';
import {
  createDeviceModel, createRng, defaultEnvMonitorConfig, defaultEvChargerConfig, defaultFallSensorConfig,
  defaultParcelLockerConfig, initEnvMonitor, initEvCharger, initFallSensor, initParcelLocker, isAllowedTransition,
  stepEnvMonitor, stepEvCharger, stepFallSensor, stepParcelLocker, ChargerModel, FallOutcome, localHour,
  type SimEvent,
} from '../src/index.js';

const START = Date.UTC(2025, 2, 3, 0, 0, 0); // 08:00 in Shanghai
const HOUR = 3_600_000;

describe('seeded PRNG and determinism', () => {
  it('repeats a sequence for the same seed and differs for another', () => {
    const a = createRng(42), b = createRng(42), c = createRng(43);
    const sa = Array.from({ length: 50 }, () => a.next());
    const sb = Array.from({ length: 50 }, () => b.next());
    const sc = Array.from({ length: 50 }, () => c.next());
    expect(sa).toEqual(sb);
    expect(sa).not.toEqual(sc);
    expect(sa.every((x) => x >= 0 && x < 1)).toBe(true);
  });

  it.each([DeviceKind.EV_CHARGER, DeviceKind.PARCEL_LOCKER, DeviceKind.FALL_SENSOR, DeviceKind.ENV_MONITOR])(
    'kind %i: same seed gives the same readings and events', (kind) => {
      const run = (seed: number): unknown[] => {
        const m = createDeviceModel(kind, seed, START);
        return Array.from({ length: 2000 }, () => m.step(30_000));
      };
      const a = run(7);
      expect(run(7)).toEqual(a);
      expect(run(8)).not.toEqual(a);
    });
});

describe('EV charger (OCPP 1.6)', () => {
  it('only takes transitions from the spec table, over long runs with many seeds', () => {
    // Violations are collected and asserted once: expect() in a 120k-step loop is slow.
    const seen = new Set<number>();
    const bad: string[] = [];
    let sessions = 0, faults = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const rng = createRng(seed);
      const model = seed % 2 === 0 ? ChargerModel.Dc60 : ChargerModel.Ac7;
      const maxW = model === ChargerModel.Ac7 ? 7_000 : 60_000;
      // Frequent faults/unavailability so the rare paths are exercised too.
      let s = initEvCharger(defaultEvChargerConfig({ model, sessionsPerDay: 20, faultsPerDay: 2, unavailablePerDay: 1 }), START, rng);
      let prevMeter = s.meterKwh;
      for (let i = 0; i < 3000; i++) {
        const before = s.status;
        const r = stepEvCharger(s, rng.range(1_000, 60_000), rng);
        s = r.state;
        const x = r.reading;
        const where = `seed ${seed} step ${i}`;
        seen.add(x.status);
        if (x.status !== before && !isAllowedTransition(before, x.status)) bad.push(`${where}: ${before} -> ${x.status}`);
        for (const e of r.events) {
          if (e.type === 'charger.session_started') sessions++;
          if (e.type === 'charger.fault') {
            faults++;
            if (!/^[A-Za-z]+$/.test(e.attributes.fault_code ?? '')) bad.push(`${where}: fault code ${e.attributes.fault_code}`);
          }
        }
        if (Math.abs(x.voltageV * x.currentA - x.powerW) > 1e-6 * Math.max(1, x.powerW)) bad.push(`${where}: P != V*I`);
        if (x.powerW < 0 || x.powerW > maxW) bad.push(`${where}: power ${x.powerW}`);
        if (x.meterKwh < prevMeter) bad.push(`${where}: meter went back`);
        if (x.energyKwh < 0) bad.push(`${where}: negative energy`);
        if (x.status === ConnectorStatus.CHARGING && x.transactionId === '') bad.push(`${where}: charging without tx`);
        if ((x.status === ConnectorStatus.FAULTED) !== (x.faultCode !== '')) bad.push(`${where}: fault code vs status`);
        prevMeter = x.meterKwh;
      }
    }
    expect(bad).toEqual([]);
    expect(sessions).toBeGreaterThan(0);
    expect(faults).toBeGreaterThan(0);
    for (const st of [ConnectorStatus.AVAILABLE, ConnectorStatus.PREPARING, ConnectorStatus.CHARGING, ConnectorStatus.FINISHING,
      ConnectorStatus.FAULTED, ConnectorStatus.SUSPENDED_EV, ConnectorStatus.SUSPENDED_EVSE]) expect(seen.has(st)).toBe(true);
  });

  it('with no arrivals, faults or outages (a scripted OCPP charger) it stays Available for a week', () => {
    const rng = createRng(7);
    let s = initEvCharger(defaultEvChargerConfig({ sessionsPerDay: 0, faultsPerDay: 0, unavailablePerDay: 0 }), START, rng);
    const moved: string[] = [];
    for (let i = 0; i < 7 * 24 * 60; i++) {
      const r = stepEvCharger(s, 60_000, rng);
      s = r.state;
      for (const e of r.events) moved.push(`${i}: ${e.type}`);
    }
    expect(moved).toEqual([]);
    expect(s.status).toBe(ConnectorStatus.AVAILABLE);
  });

  it('reports status_changed events matching consecutive readings, and sessions balance', () => {
    const rng = createRng(99);
    let s = initEvCharger(defaultEvChargerConfig({ sessionsPerDay: 30 }), START, rng);
    let open = 0;
    for (let i = 0; i < 20_000; i++) {
      const before = s.status;
      const r = stepEvCharger(s, 5_000, rng);
      s = r.state;
      const changes = r.events.filter((e) => e.type === 'charger.status_changed');
      expect(changes.length).toBe(before === s.status ? 0 : 1);
      for (const e of r.events) {
        if (e.type === 'charger.session_started') open++;
        if (e.type === 'charger.session_stopped') open--;
        expect(open === 0 || open === 1).toBe(true);
      }
    }
  });
});

describe('parcel locker', () => {
  it('never picks up from an empty compartment and keeps occupancy consistent', () => {
    const bad: string[] = [];
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const rng = createRng(seed);
      let s = initParcelLocker(defaultParcelLockerConfig({ compartments: 12, depositsPerCompartmentDay: 3, freshFood: seed % 2 === 0 }), START, rng);
      let occupied = s.compartments.filter((c) => c.occupied).length;
      let deposits = 0, pickups = 0;
      for (let i = 0; i < 8000; i++) {
        const before = s.compartments.map((c) => c.occupied);
        const r = stepParcelLocker(s, 20_000, rng);
        s = r.state;
        for (const e of r.events) {
          const idx = Number(e.attributes.compartment) - 1;
          if (e.type === 'locker.pickup') {
            if (!before[idx]) bad.push(`seed ${seed} step ${i}: pickup from empty ${idx + 1}`);
            pickups++;
            occupied--;
          }
          if (e.type === 'locker.deposit') {
            if (before[idx]) bad.push(`seed ${seed} step ${i}: deposit into occupied ${idx + 1}`);
            deposits++;
            occupied++;
          }
        }
        let reported = 0;
        for (const c of r.reading.compartments) {
          if (c.occupied) reported++;
          if (c.locked === c.doorOpen) bad.push(`seed ${seed} step ${i}: compartment ${c.index} locked with door open`);
        }
        if (reported !== occupied) bad.push(`seed ${seed} step ${i}: ${reported} occupied, events say ${occupied}`);
      }
      expect(deposits).toBeGreaterThan(0);
      expect(pickups).toBeGreaterThan(0);
    }
    expect(bad).toEqual([]);
  });

  it('fresh-food cabinet stays mostly in band and reports excursions', () => {
    const rng = createRng(11);
    let s = initParcelLocker(defaultParcelLockerConfig({ freshFood: true, excursionsPerDay: 2 }), START, rng);
    const events: SimEvent[] = [];
    let inBand = 0, n = 0;
    for (let i = 0; i < 10_000; i++) {
      const r = stepParcelLocker(s, 60_000, rng);
      s = r.state;
      events.push(...r.events);
      const t = r.reading.cabinetTempC;
      expect(t).toBeTypeOf('number');
      if (t !== undefined && t >= 2 && t <= 7) inBand++;
      n++;
    }
    expect(inBand / n).toBeGreaterThan(0.5);
    expect(events.some((e) => e.type === 'locker.temperature_out_of_band')).toBe(true);
    expect(events.some((e) => e.type === 'locker.door_ajar')).toBe(true);
  });

  it('an ordinary locker has no cabinet temperature', () => {
    const rng = createRng(3);
    const s = initParcelLocker(defaultParcelLockerConfig({ freshFood: false }), START, rng);
    expect(stepParcelLocker(s, 1000, rng).reading.cabinetTempC).toBeUndefined();
  });
});

describe('fall sensor', () => {
  const noRandom = { fallsPerDay: 0, sosPerDay: 0 };
  const run = (overrides: Parameters<typeof defaultFallSensorConfig>[0], steps: number, dt: number): SimEvent[] => {
    const rng = createRng(5);
    let s = initFallSensor(defaultFallSensorConfig({ ...noRandom, ...overrides }), START, rng);
    const out: SimEvent[] = [];
    for (let i = 0; i < steps; i++) {
      const r = stepFallSensor(s, dt, rng);
      s = r.state;
      out.push(...r.events);
    }
    return out;
  };

  it('forced fall with long lie: fall.detected then fall.long_lie (critical)', () => {
    const events = run({ forceFallAt: START + 60_000, fallOutcome: FallOutcome.LongLie }, 600, 1000)
      .filter((e) => e.type.startsWith('fall.'));
    expect(events.map((e) => e.type)).toEqual(['fall.detected', 'fall.long_lie']);
    expect(events[1]?.severity).toBe(Severity.CRITICAL);
    expect(events[0]?.attributes.fall_id).toBe(events[1]?.attributes.fall_id);
  });

  it('forced fall where the person gets up: fall.detected then fall.cleared (lower severity, no long lie)', () => {
    const events = run({ forceFallAt: START + 60_000, fallOutcome: FallOutcome.Cleared }, 600, 1000)
      .filter((e) => e.type.startsWith('fall.'));
    expect(events.map((e) => e.type)).toEqual(['fall.detected', 'fall.cleared']);
    expect(events[1]!.severity).toBeLessThan(Severity.CRITICAL);
    expect(Number(events[1]!.attributes.lying_ms)).toBeLessThan(2 * 60_000);
  });

  it('random falls over a long run: radar falls end in long_lie or cleared, wearable falls in cancelled or long_lie', () => {
    const rng = createRng(17);
    let s = initFallSensor(defaultFallSensorConfig({ fallsPerDay: 6, sosPerDay: 0 }), START, rng);
    const bySource = new Map<string, string>();
    const ends: string[] = [];
    for (let i = 0; i < 24 * 60 * 30; i++) {
      const r = stepFallSensor(s, 60_000, rng);
      s = r.state;
      for (const e of r.events) {
        if (e.type === 'fall.detected') bySource.set(e.attributes.fall_id!, e.attributes.source!);
        else if (e.type.startsWith('fall.')) ends.push(`${bySource.get(e.attributes.fall_id!)}:${e.type}`);
      }
    }
    const kinds = new Set(ends);
    expect([...kinds].sort()).toEqual(['radar:fall.cleared', 'radar:fall.long_lie', 'wearable:fall.cancelled', 'wearable:fall.long_lie']);
  });

  it('both stages still appear when one step spans the whole long-lie window', () => {
    const events = run({ forceFallAt: START + 1000, fallOutcome: FallOutcome.LongLie }, 3, 10 * 60_000);
    expect(events.filter((e) => e.type.startsWith('fall.')).map((e) => e.type)).toEqual(['fall.detected', 'fall.long_lie']);
  });

  it('forced SOS press is critical; battery.low fires when draining', () => {
    const events = run({ forceSosAt: START + 5000, batteryDrainPctPerDay: 100 }, 24 * 6, 10 * 60_000);
    expect(events.find((e) => e.type === 'sos.pressed')?.severity).toBe(Severity.CRITICAL);
    expect(events.some((e) => e.type === 'battery.low')).toBe(true);
  });

  it('follows a daily routine: less movement at night, plausible vitals', () => {
    const rng = createRng(21);
    let s = initFallSensor(defaultFallSensorConfig({ ...noRandom, vitals: true, outingsPerDay: 0 }), START, rng);
    const night: number[] = [], day: number[] = [];
    for (let i = 0; i < 24 * 60 * 3; i++) {
      const r = stepFallSensor(s, 60_000, rng);
      s = r.state;
      const h = localHour(s.nowMs, s.config.utcOffsetMin);
      if (h >= 1 && h < 4) night.push(r.reading.movementLevel ?? 0);
      if (h >= 10 && h < 17) day.push(r.reading.movementLevel ?? 0);
      if (r.reading.presence) {
        expect(r.reading.heartRateBpm).toBeGreaterThanOrEqual(40);
        expect(r.reading.heartRateBpm).toBeLessThanOrEqual(140);
        expect(r.reading.breathingRateBpm).toBeGreaterThanOrEqual(6);
      }
    }
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(night)).toBeLessThan(mean(day));
  });
});

describe('environment monitor', () => {
  it('is quieter at 03:00 than at 18:00 and pollutants are never negative', () => {
    const bad: string[] = [];
    for (const seed of [1, 2, 3]) {
      const rng = createRng(seed);
      let s = initEnvMonitor(defaultEnvMonitorConfig({ zone: '4a', episodesPerDay: 1 }), START, rng);
      const at3: number[] = [], at18: number[] = [];
      for (let i = 0; i < 24 * 12 * 14; i++) {
        const r = stepEnvMonitor(s, 5 * 60_000, rng);
        s = r.state;
        const h = Math.floor(localHour(s.nowMs, s.config.utcOffsetMin));
        if (h === 3) at3.push(r.reading.noiseDba);
        if (h === 18) at18.push(r.reading.noiseDba);
        const x = r.reading;
        for (const v of [x.pm1Ugm3, x.pm25Ugm3, x.pm10Ugm3, x.no2Ugm3, x.o3Ugm3, x.coMgm3, x.so2Ugm3]) {
          if (v === undefined || v < 0) bad.push(`seed ${seed} step ${i}: pollutant ${v}`);
        }
        if (x.pm10Ugm3 < x.pm25Ugm3) bad.push(`seed ${seed} step ${i}: pm10 < pm2.5`);
        if (x.humidityPct > 100 || x.humidityPct < 0) bad.push(`seed ${seed} step ${i}: humidity ${x.humidityPct}`);
      }
      const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
      expect(mean(at3)).toBeLessThan(mean(at18));
    }
    expect(bad).toEqual([]);
  });

  it('raises noise and pollution-episode events against the zone limits', () => {
    const rng = createRng(8);
    let s = initEnvMonitor(defaultEnvMonitorConfig({ zone: '1', episodesPerDay: 2 }), START, rng);
    const events: SimEvent[] = [];
    for (let i = 0; i < 24 * 12 * 7; i++) {
      const r = stepEnvMonitor(s, 5 * 60_000, rng);
      s = r.state;
      events.push(...r.events);
    }
    const noise = events.filter((e) => e.type === 'env.noise_exceeded');
    expect(noise.length).toBeGreaterThan(0);
    expect(noise.length).toBeLessThan(7 * 10); // judged on LAeq with hysteresis: no flood
    for (const e of noise) {
      const level = e.attributes.night_peak === 'true' ? Number(e.attributes.noise_dba) - 15 : Number(e.attributes.laeq_dba);
      expect(level).toBeGreaterThan(Number(e.attributes.limit_dba));
      expect(e.attributes.limit_dba).toBe(e.attributes.period === 'day' ? '55' : '45');
    }
    expect(events.some((e) => e.type === 'env.pollution_episode_started')).toBe(true);
  });
});
