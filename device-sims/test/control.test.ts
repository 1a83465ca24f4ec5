import { describe, expect, it } from 'vitest';
import { CommandStatus, ConnectorStatus, DeviceKind } from '@yulan/protos';
import { createDeviceModel, type DeviceModel, type ModelStep } from '../src/models/index.js';
import { CommandRunner, type CommandRunnerHost } from '../src/command-runner.js';
import { applyTwinDesired, INITIAL_TWIN } from '../src/twin.js';

const T0 = Date.UTC(2025, 0, 6, 2, 0); // 10:00 local
const S = ConnectorStatus;
const quietCharger = (): DeviceModel => createDeviceModel(DeviceKind.EV_CHARGER, 5, T0, {
  evCharger: { model: 'ac7', sessionsPerDay: 0, faultsPerDay: 0, unavailablePerDay: 0 },
});
const steps = (m: DeviceModel, n: number, dt = 1000): ModelStep[] => Array.from({ length: n }, () => m.step(dt));
const run = (m: DeviceModel, name: string, args: Record<string, string> = {}) => {
  const check = m.checkCommand(name, args);
  if (!check.ok) return { ok: false, message: check.message };
  return m.executeCommand(name, args);
};

describe('ev-charger commands', () => {
  it('start_session → CHARGING with current; set_current_limit caps current_a; stop_session → current 0', () => {
    const m = quietCharger();
    steps(m, 2);
    expect(run(m, 'charger.start_session', { connector_id: '1', id_tag: 'RFID-42' })).toMatchObject({ ok: true });
    const after = steps(m, 3).map((s) => s.reading.evCharger!);
    expect(after[0]!.status).toBe(S.CHARGING);
    expect(after[2]!.currentA).toBeGreaterThan(0);
    expect(after[2]!.transactionId).not.toBe('');
    expect(run(m, 'charger.set_current_limit', { limit_a: '10' })).toMatchObject({ ok: true });
    for (const s of steps(m, 20)) expect(s.reading.evCharger!.currentA).toBeLessThanOrEqual(10);
    const [stop] = steps(m, 1);
    expect(stop!.reading.evCharger!.currentA).toBeGreaterThan(9);
    expect(run(m, 'charger.stop_session', { connector_id: '1' })).toMatchObject({ ok: true });
    const [stopped] = steps(m, 1);
    expect(stopped!.reading.evCharger).toMatchObject({ currentA: 0, status: S.FINISHING, transactionId: '' });
    expect(stopped!.events.find((e) => e.type === 'charger.session_stopped')?.attributes.reason).toBe('Remote');
  });

  it('set_site_limit caps power at the share in W; an older division is refused; bad args are refused', () => {
    const m = quietCharger();
    steps(m, 2);
    expect(run(m, 'charger.start_session', { connector_id: '1', id_tag: 'RFID-42' })).toMatchObject({ ok: true });
    steps(m, 5);
    expect(run(m, 'charger.set_site_limit', { limit_w: '3000', site_cap_w: '6000', chargers: '2', generation: '4' })).toMatchObject({ ok: true });
    for (const s of steps(m, 20)) expect(s.reading.evCharger!.powerW).toBeLessThanOrEqual(3000);
    expect(steps(m, 1)[0]!.reading.evCharger!.powerW).toBeGreaterThan(2500);
    expect(run(m, 'charger.set_site_limit', { limit_w: '6000', site_cap_w: '6000', chargers: '1', generation: '3' })).toMatchObject({ ok: false, message: expect.stringContaining('superseded') });
    for (const s of steps(m, 5)) expect(s.reading.evCharger!.powerW).toBeLessThanOrEqual(3000);
    expect(m.checkCommand('charger.set_site_limit', { limit_w: '-1', generation: '1' })).toMatchObject({ ok: false });
    expect(m.checkCommand('charger.set_site_limit', { limit_w: '1000' })).toMatchObject({ ok: false, message: 'missing argument "generation"' });
  });

  it('clear_site_limit lifts the share (an older one is refused); the next share caps again', () => {
    const m = quietCharger();
    steps(m, 2);
    expect(run(m, 'charger.start_session', { connector_id: '1', id_tag: 'RFID-42' })).toMatchObject({ ok: true });
    steps(m, 5);
    expect(run(m, 'charger.set_site_limit', { limit_w: '2000', site_cap_w: '2000', chargers: '1', generation: '5' })).toMatchObject({ ok: true });
    for (const s of steps(m, 10)) expect(s.reading.evCharger!.powerW).toBeLessThanOrEqual(2000);
    expect(run(m, 'charger.clear_site_limit', { generation: '4' })).toMatchObject({ ok: false, message: expect.stringContaining('superseded') });
    for (const s of steps(m, 5)) expect(s.reading.evCharger!.powerW).toBeLessThanOrEqual(2000);
    expect(run(m, 'charger.clear_site_limit', { generation: '6' })).toMatchObject({ ok: true });
    expect(Math.max(...steps(m, 20).map((s) => s.reading.evCharger!.powerW))).toBeGreaterThan(2000);
    expect(run(m, 'charger.set_site_limit', { limit_w: '1500', site_cap_w: '1500', chargers: '1', generation: '7' })).toMatchObject({ ok: true });
    for (const s of steps(m, 10)) expect(s.reading.evCharger!.powerW).toBeLessThanOrEqual(1500);
    expect(m.checkCommand('charger.clear_site_limit', {})).toMatchObject({ ok: false, message: 'missing argument "generation"' });
  });

  it('change_availability makes it UNAVAILABLE until made available; start is refused meanwhile', () => {
    const m = quietCharger();
    steps(m, 1);
    expect(run(m, 'charger.change_availability', { available: 'false' })).toMatchObject({ ok: true, output: { ocpp_status: 'Accepted' } });
    expect(steps(m, 200, 60_000).every((s) => s.reading.evCharger!.status === S.UNAVAILABLE)).toBe(true);
    expect(run(m, 'charger.start_session', { connector_id: '1', id_tag: 'x' })).toMatchObject({ ok: false, message: 'connector unavailable' });
    run(m, 'charger.change_availability', { available: 'true' });
    expect(steps(m, 1)[0]!.reading.evCharger!.status).toBe(S.AVAILABLE);
  });

  it('reset ends the session (SoftReset) and asks for a reboot; arguments are validated', () => {
    const m = quietCharger();
    run(m, 'charger.start_session', { connector_id: '1', id_tag: 'x' });
    steps(m, 3);
    expect(m.checkCommand('charger.reset', { type: 'soft' })).toEqual({ ok: true, reboot: true });
    run(m, 'charger.reset', { type: 'soft' });
    const [s] = steps(m, 1);
    expect(s!.reading.evCharger!.currentA).toBe(0);
    expect(s!.events.find((e) => e.type === 'charger.session_stopped')?.attributes.reason).toBe('SoftReset');
    expect(m.checkCommand('charger.set_current_limit', { limit_a: '100' })).toMatchObject({ ok: false, message: expect.stringContaining('6..80') });
    expect(m.checkCommand('charger.set_current_limit', {})).toMatchObject({ ok: false, message: 'missing argument "limit_a"' });
    expect(m.checkCommand('charger.start_session', { connector_id: '2', id_tag: 'x' })).toMatchObject({ ok: false, message: expect.stringContaining('unknown connector 2') });
    expect(m.checkCommand('charger.reset', { type: 'warm' })).toMatchObject({ ok: false });
    expect(m.checkCommand('locker.open', { compartment: '1' })).toMatchObject({ ok: false, message: expect.stringContaining('unsupported') });
  });
});

describe('parcel-locker commands', () => {
  const locker = (): DeviceModel => createDeviceModel(DeviceKind.PARCEL_LOCKER, 9, T0, {
    parcelLocker: { compartments: 6, depositsPerCompartmentDay: 0, tampersPerDay: 0 },
  });
  const comp = (s: ModelStep, i: number) => s.reading.parcelLocker!.compartments.find((c) => c.index === i)!;

  it('open shows door_open even at a long interval, then the door closes again', () => {
    const m = locker();
    expect(run(m, 'locker.open', { compartment: '3' })).toMatchObject({ ok: true });
    const [first, second] = steps(m, 2, 120_000);
    expect(comp(first!, 3)).toMatchObject({ doorOpen: true, locked: false });
    expect(comp(second!, 3).doorOpen).toBe(false);
  });

  it('unlock/lock flip locked; lock fails on an open door; clear empties a compartment', () => {
    const m = locker();
    run(m, 'locker.unlock', { compartment: '2' });
    expect(comp(m.step(1000), 2).locked).toBe(false);
    run(m, 'locker.lock', { compartment: '2' });
    expect(comp(m.step(1000), 2).locked).toBe(true);
    run(m, 'locker.open', { compartment: '4' });
    expect(run(m, 'locker.lock', { compartment: '4' })).toMatchObject({ ok: false, message: expect.stringContaining('open') });
    for (let i = 1; i <= 6; i++) run(m, 'locker.clear', { compartment: String(i) });
    expect(m.step(1000).reading.parcelLocker!.compartments.every((c) => !c.occupied)).toBe(true);
    expect(m.checkCommand('locker.open', { compartment: '7' })).toMatchObject({ ok: false, message: expect.stringContaining('1..6') });
  });
});

describe('fall-sensor and env-monitor commands', () => {
  it('fall.test_alarm raises a test.alarm event in the next step', () => {
    const m = createDeviceModel(DeviceKind.FALL_SENSOR, 2, T0);
    run(m, 'fall.test_alarm');
    expect(m.step(1000).events.map((e) => e.type)).toContain('test.alarm');
    expect(m.step(1000).events.map((e) => e.type)).not.toContain('test.alarm');
  });

  it('env.sleep silences the monitor until env.wake; a reboot wakes it; set_interval sets the interval', () => {
    const m = createDeviceModel(DeviceKind.ENV_MONITOR, 2, T0);
    run(m, 'env.sleep');
    expect(steps(m, 5).every((s) => s.silent && s.events.length === 0)).toBe(true);
    run(m, 'env.wake');
    expect(m.step(1000).silent).toBe(false);
    run(m, 'env.sleep');
    run(m, 'reboot');
    expect(m.step(1000).silent).toBe(false);
    expect(run(m, 'env.set_interval', { interval_s: '30' })).toMatchObject({ ok: true });
    expect(m.reportIntervalS).toBe(30);
    expect(m.checkCommand('env.set_interval', { interval_s: '0' })).toMatchObject({ ok: false });
    expect(m.checkCommand('env.set_interval', { interval_s: '2.5' })).toMatchObject({ ok: false });
  });
});

describe('failure modes on the model (CommandRunner with a fake clock)', () => {
  const host = () => {
    let now = 0;
    const q: { at: number; fn: () => void }[] = [];
    const results: CommandStatus[] = [];
    const h: CommandRunnerHost = {
      clock: () => now, schedule: (fn, d) => void q.push({ at: now + d, fn }), result: (_id, s) => void results.push(s),
      reboot: () => undefined, firmwareUpdate: () => undefined,
    };
    const advance = (ms: number) => {
      now += ms;
      q.sort((a, b) => a.at - b.at);
      while (q.length && q[0]!.at <= now) q.shift()!.fn();
    };
    return { h, results, advance };
  };
  const open = { commandId: 'c', name: 'locker.open', args: { compartment: '1' }, issuedMs: 0, expiresMs: 0 };
  const cases = [
    { failures: { refuse: 1 }, statuses: [CommandStatus.REJECTED], opened: false },
    { failures: { timeout: 1 }, statuses: [], opened: false },
    { failures: { noEffect: 1 }, statuses: [CommandStatus.ACCEPTED, CommandStatus.SUCCEEDED], opened: false },
    { failures: { slow: 1, slowMs: 3000 }, statuses: [CommandStatus.ACCEPTED, CommandStatus.SUCCEEDED], opened: true },
  ];
  for (const c of cases) {
    it(`${Object.keys(c.failures)[0]}: answers ${c.statuses.length} times, door opened: ${c.opened}`, () => {
      const m = createDeviceModel(DeviceKind.PARCEL_LOCKER, 9, T0, { parcelLocker: { compartments: 2, depositsPerCompartmentDay: 0 } });
      const { h, results, advance } = host();
      new CommandRunner(h, { model: m, failures: c.failures, seed: 1 }).handle(open);
      advance(2900);
      if (c.failures.slow) expect(results).toEqual([]); // nothing before the delay
      advance(1000);
      expect(results).toEqual(c.statuses);
      expect(m.step(1000).reading.parcelLocker!.compartments[0]!.doorOpen).toBe(c.opened);
    });
  }
});

describe('twin settings', () => {
  it('applies valid settings, reports an error and keeps the old value for an out-of-range one', () => {
    const m = createDeviceModel(DeviceKind.EV_CHARGER, 5, T0, { evCharger: { model: 'ac7', sessionsPerDay: 0, faultsPerDay: 0, unavailablePerDay: 0 } });
    let r = applyTwinDesired(m, INITIAL_TWIN, { version: 3, issuedMs: 0, settings: { kind: 'evCharger', evCharger: { reportIntervalS: 15, currentLimitA: 16 } } });
    expect(r.report).toEqual({ appliedVersion: 3, error: '', settings: { kind: 'evCharger', evCharger: { reportIntervalS: 15, currentLimitA: 16 } } });
    expect(m.reportIntervalS).toBe(15);
    r = applyTwinDesired(m, r.mem, { version: 4, issuedMs: 0, settings: { kind: 'evCharger', evCharger: { currentLimitA: 500 } } });
    expect(r.report.appliedVersion).toBe(4);
    expect(r.report.error).toContain('current_limit_a 500');
    expect(r.report.settings?.evCharger?.currentLimitA).toBe(16);
    // An older or repeated (retained) version is not applied again, only re-reported.
    const again = applyTwinDesired(m, r.mem, { version: 3, issuedMs: 0, settings: { kind: 'evCharger', evCharger: { currentLimitA: 20 } } });
    expect(again.applied).toBe(false);
    expect(again.report.settings?.evCharger?.currentLimitA).toBe(16);
    // Wrong kind: nothing applied, said so.
    const wrong = applyTwinDesired(m, r.mem, { version: 5, issuedMs: 0, settings: { kind: 'envMonitor', envMonitor: { noiseZoneClass: 1 } } });
    expect(wrong.report.error).toMatch(/envMonitor/);
  });

  it('locker band change raises temperature_out_of_band; fall sensitivity scales false alarms', () => {
    const m = createDeviceModel(DeviceKind.PARCEL_LOCKER, 4, T0, { parcelLocker: { freshFood: true, excursionsPerDay: 0, depositsPerCompartmentDay: 0 } });
    steps(m, 30, 60_000);
    expect(m.applySettings({ kind: 'parcelLocker', parcelLocker: { tempMinC: 8, tempMaxC: 12 } })).toEqual([]);
    expect(m.step(1000).events.map((e) => e.type)).toContain('locker.temperature_out_of_band');
    expect(m.applySettings({ kind: 'parcelLocker', parcelLocker: { tempMinC: 14 } })[0]).toMatch(/empty/);

    const falls = (sensitivity: number): number => {
      const f = createDeviceModel(DeviceKind.FALL_SENSOR, 8, T0, { fallSensor: { fallsPerDay: 0, sosPerDay: 0, outingsPerDay: 0, falseAlarmsAtDefault: 2 } });
      expect(f.applySettings({ kind: 'fallSensor', fallSensor: { sensitivity, cancelWindowS: 20 } })).toEqual([]);
      return steps(f, 24 * 60, 60_000).flatMap((s) => s.events).filter((e) => e.type === 'fall.detected').length;
    };
    expect(falls(10)).toBeGreaterThan(falls(1) * 3);
  });

  it('env zone class changes the noise limit (GB 3096); an out-of-range class is an error', () => {
    const m = createDeviceModel(DeviceKind.ENV_MONITOR, 2, T0, { envMonitor: { zone: '4a' } });
    expect(m.applySettings({ kind: 'envMonitor', envMonitor: { noiseZoneClass: 0, pm25AlertUgm3: 5, noiseAlertDba: 45 } })).toEqual([]);
    expect(m.settings()).toEqual({ kind: 'envMonitor', envMonitor: { noiseZoneClass: 0, pm25AlertUgm3: 5, noiseAlertDba: 45 } });
    const types = steps(m, 60, 60_000).flatMap((s) => s.events).map((e) => e.type);
    expect(types).toContain('env.noise_exceeded');
    expect(types).toContain('env.pollution_episode_started');
    expect(m.applySettings({ kind: 'envMonitor', envMonitor: { noiseZoneClass: 7 } })[0]).toMatch(/noise_zone_class 7/);
  });
});
