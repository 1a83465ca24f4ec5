import { describe, expect, it } from 'vitest';
import { ConnectorStatus, Severity } from '@yulan/protos';
import { atDeadline, confirmationMode, observe, type AwaitingCommand } from '../src/control/confirm.js';
import { checkCommandRules } from '../src/control/command-rules.js';
import { validateCommand } from '../src/control/catalog.js';
import { mergeSettings, settingsDelta } from '../src/control/settings.js';

const cmd = (name: string, args: Record<string, string> = {}): AwaitingCommand => ({ name, args, ackedAt: 1000, ackSeq: 50, ackDeviceTs: 1000 });
const tel = (r: object, header: object = { seq: 51, tsMs: 2000 }) => ({ type: 'telemetry' as const, msg: { header: { deviceId: 'd', kind: 1, firmwareVersion: '1.0.0', ...header }, ...r } as never });

describe('confirmation matcher (pure)', () => {
  it('charger effects', () => {
    const ch = (status: number, currentA: number) => tel({ evCharger: { connectorId: 1, status, currentA } });
    expect(observe(cmd('charger.start_session', { connector_id: '1' }), {}, ch(ConnectorStatus.CHARGING, 16)).outcome).toBe('confirmed');
    expect(observe(cmd('charger.start_session', { connector_id: '2' }), {}, ch(ConnectorStatus.CHARGING, 16)).outcome).toBe('pending');
    expect(observe(cmd('charger.set_current_limit', { limit_a: '10' }), {}, ch(ConnectorStatus.CHARGING, 16)).outcome).toBe('pending');
    expect(observe(cmd('charger.change_availability', { available: 'false' }), {}, ch(ConnectorStatus.UNAVAILABLE, 0)).outcome).toBe('confirmed');
  });
  it('locker, fall test alarm, firmware and reboot', () => {
    const lock = tel({ parcelLocker: { compartments: [{ index: 3, doorOpen: true, occupied: true, locked: false }] } });
    expect(observe(cmd('locker.open', { compartment: '3' }), {}, lock).outcome).toBe('confirmed');
    expect(observe(cmd('locker.clear', { compartment: '3' }), {}, lock).outcome).toBe('pending');
    const ev = { type: 'event' as const, msg: { type: 'test.alarm', severity: Severity.INFO, message: '', attributes: {} } as never };
    expect(observe(cmd('fall.test_alarm'), {}, ev).outcome).toBe('confirmed');
    expect(observe(cmd('firmware.update', { version: '1.0.0' }), {}, tel({})).outcome).toBe('confirmed');
    const rb = { type: 'event' as const, msg: { type: 'firmware.rolled_back', attributes: { reason: 'boot loop' }, message: '' } as never };
    expect(observe(cmd('firmware.update', { version: '2.0.0' }), {}, rb)).toEqual({ outcome: 'failed', reason: 'firmware.rolled_back: boot loop' });
    expect(observe(cmd('reboot'), {}, tel({}, { seq: 52 })).outcome).toBe('pending');
    expect(observe(cmd('reboot'), {}, tel({}, { seq: 3 })).outcome).toBe('confirmed');
    expect(observe(cmd('reboot'), {}, { type: 'presence', msg: { online: true, tsMs: 1500, reason: 'birth' } as never }).outcome).toBe('confirmed');
  });
  it('env interval and sleep by silence', () => {
    const env = (ts: number) => tel({ envMonitor: { pm25Ugm3: 1 } }, { seq: 60, tsMs: ts });
    const first = observe(cmd('env.set_interval', { interval_s: '60' }), {}, env(10_000));
    expect(first.outcome).toBe('pending');
    expect(observe(cmd('env.set_interval', { interval_s: '60' }), first.outcome === 'pending' ? first.progress : {}, env(70_500)).outcome).toBe('confirmed');
    expect(atDeadline(cmd('env.sleep'), {}).outcome).toBe('confirmed');
    const seen = observe(cmd('env.sleep'), {}, env(5000));
    expect(atDeadline(cmd('env.sleep'), seen.outcome === 'pending' ? seen.progress : {})).toEqual({ outcome: 'failed', reason: 'no effect' });
  });
  it('catalogue and settings validation name the problem', () => {
    expect(validateCommand('ev-charger', 'charger.set_current_limit', { limit_a: '16' })).toEqual({ limit_a: '16' });
    expect(() => validateCommand('ev-charger', 'charger.set_current_limit', { limit_a: 100 })).toThrow(/limit_a/);
    expect(() => validateCommand('ev-charger', 'charger.start_session', { connector_id: 1 })).toThrow(/missing argument "id_tag"/);
    expect(() => validateCommand('env-monitor', 'reboot', { now: 'yes' })).toThrow(/unknown argument "now"/);
    expect(() => mergeSettings('parcel-locker', {}, { temp_min_c: 8, temp_max_c: 2 })).toThrow(/temp_min_c/);
    expect(mergeSettings('fall-sensor', { sensitivity: 5 }, { sensitivity: null, cancel_window_s: 30 })).toEqual({ cancel_window_s: 30 });
    expect(settingsDelta({ a: 1, b: 2 }, { a: 1, b: 3 })).toEqual({ b: { desired: 2, reported: 3 } });
  });

  it('reservations and ClearCache succeed on the charger\'s answer; a reservation must end in the next 7 days', () => {
    for (const name of ['charger.reserve_now', 'charger.cancel_reservation', 'charger.clear_cache']) expect(confirmationMode(name)).toBe('answer');
    const now = Date.UTC(2026, 0, 1);
    const args = (expiry: string) => ({ connector_id: '1', id_tag: 'T', expiry });
    expect(() => checkCommandRules('charger.reserve_now', args('2026-01-01T00:30:00Z'), now)).not.toThrow();
    expect(() => checkCommandRules('charger.reserve_now', args('2025-12-31T23:59:00Z'), now)).toThrow(/"expiry": 2025-12-31T23:59:00Z has passed/);
    expect(() => checkCommandRules('charger.reserve_now', args('2026-01-09T00:00:00Z'), now)).toThrow(/at most 7 days/);
    expect(() => checkCommandRules('charger.clear_cache', {}, now)).not.toThrow();
    expect(validateCommand('ev-charger', 'charger.reserve_now', { connector_id: 0, id_tag: 'T', expiry: '2026-01-01T00:30:00+08:00', parent_id_tag: 'P' }))
      .toEqual({ connector_id: '0', id_tag: 'T', expiry: '2026-01-01T00:30:00+08:00', parent_id_tag: 'P' });
    expect(() => validateCommand('ev-charger', 'charger.reserve_now', { connector_id: 1, id_tag: 'T', expiry: '2026-01-01 00:30' })).toThrow(/argument "expiry"/);
  });
});
