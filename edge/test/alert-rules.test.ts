import { describe, expect, it } from 'vitest';
import {
  AlertLevel, AlertState, AlertType, DEFAULT_CARE_SETTINGS, MERGE_WINDOW_MS, activeMsBetween, alertId, applyInput, applyTick,
  type AlertRecord, type DeviceCareSettings, type DeviceRuleState, type RuleInput,
} from '../src/index.js';

// 2024-06-01 12:00 Asia/Shanghai (UTC+8).
const T0 = Date.UTC(2024, 5, 1, 4, 0, 0);
const DEV = 'fall-0001';
const opts = { watchSinceMs: T0 - 3_600_000, warmupMs: 0 };

let seq = 100;
const ev = (eventType: string, attributes: Record<string, string> = {}, tsMs = T0, s = ++seq): RuleInput =>
  ({ kind: 'event', deviceId: DEV, site: 'xuhui', seq: s, tsMs, eventType, attributes });
const tel = (fields: Record<string, number>, tsMs = T0, s = ++seq): RuleInput =>
  ({ kind: 'telemetry', deviceId: DEV, site: 'xuhui', seq: s, tsMs, fields });

/** Feeds inputs at `now` = their device time and returns the state plus every emitted revision. */
function run(inputs: RuleInput[], state?: DeviceRuleState): { state: DeviceRuleState; out: AlertRecord[] } {
  const out: AlertRecord[] = [];
  let s = state;
  for (const i of inputs) {
    const r = applyInput(s, i, Math.max(i.tsMs, s?.lastHeardMs ?? 0));
    s = r.state;
    out.push(...r.alerts);
  }
  return { state: s as DeviceRuleState, out };
}
const latest = (out: AlertRecord[]): AlertRecord[] => [...new Map(out.map((a) => [a.id, a])).values()];

describe('alert rules: the table of docs/care.md §2', () => {
  it('sos.pressed → urgent sos, skipping the cancel window', () => {
    const { out } = run([ev('sos.pressed', { at_ms: String(T0) })]);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ type: 'sos', level: 'urgent', skipCancelWindow: true, state: 'open', revision: 1, eventCount: 1 });
  });

  it('radar fall → unconfirmed; long lie of the same fall → urgent, confirmed, skip-cancel (one alert, two revisions)', () => {
    const s = seq + 1;
    const { out } = run([
      ev('fall.detected', { fall_id: 'f1', source: 'radar' }, T0),
      ev('fall.long_lie', { fall_id: 'f1', lying_ms: '120000' }, T0 + 120_000),
    ]);
    expect(out.map((a) => [a.revision, a.level, a.confirmed])).toEqual([[1, 'unconfirmed', false], [2, 'urgent', true]]);
    expect(new Set(out.map((a) => a.id)).size).toBe(1);
    expect(out[1]).toMatchObject({
      id: alertId(DEV, AlertType.Fall, s), skipCancelWindow: true, eventCount: 2, firstEventAtMs: T0, lastEventAtMs: T0 + 120_000,
      message: 'fall confirmed: still on the floor after 120 s',
    });
    expect(out[1]?.events.map((e) => e.type)).toEqual(['fall.detected', 'fall.long_lie']);
  });

  it('a long lie with another fall_id ≤ 10 min after a fall confirms it; a long lie without any fall raises a confirmed fall', () => {
    const a = run([ev('fall.detected', { fall_id: 'f1' }, T0), ev('fall.long_lie', { fall_id: 'other' }, T0 + 9 * 60_000)]).out;
    expect(latest(a)).toHaveLength(1);
    expect(latest(a)[0]).toMatchObject({ level: 'urgent', confirmed: true });
    const b = run([ev('fall.long_lie', { fall_id: 'f9' }, T0)]).out;
    expect(b).toHaveLength(1);
    expect(b[0]).toMatchObject({ type: 'fall', level: 'urgent', confirmed: true, skipCancelWindow: true });
  });

  it('wearable fall → urgent without skipping the cancel window', () => {
    const { out } = run([ev('fall.detected', { fall_id: 'w1', source: 'wearable' })]);
    expect(out[0]).toMatchObject({ type: 'fall', level: 'urgent', skipCancelWindow: false, confirmed: false });
  });

  it('fall.cancelled → cancelled; a later long lie of that fall never makes it urgent', () => {
    const { out, state } = run([
      ev('fall.detected', { fall_id: 'f1', source: 'wearable' }, T0),
      ev('fall.cancelled', { fall_id: 'f1', by: 'resident' }, T0 + 10_000),
    ]);
    expect(out.at(-1)).toMatchObject({ state: 'cancelled', revision: 2, eventCount: 2 });
    // A late copy from before the cancel stays with the cancelled alert, level unchanged.
    const late = run([ev('fall.long_lie', { fall_id: 'f1' }, T0 + 5_000)], state).out;
    expect(late).toHaveLength(1);
    expect(late[0]).toMatchObject({ id: out[0]?.id, state: 'cancelled', level: 'urgent', confirmed: false, revision: 3 });
  });

  it('a long lie sent after the cancel in the same second is a new urgent fall; one sent before it stays cancelled', () => {
    // Device clocks that count whole seconds give the cancel and what follows it one time;
    // the seq says which came first.
    const at = T0 + 10_000;
    const before = ++seq; // sent before the cancel, delivered after it
    const { out, state } = run([
      ev('fall.long_lie', { fall_id: 'f1', lying_ms: '120000' }, T0),
      ev('fall.cancelled', { fall_id: 'f1', by: 'resident' }, at),
    ]);
    const cancelled = out.at(-1)!;
    expect(cancelled).toMatchObject({ state: 'cancelled' });
    const late = run([ev('fall.long_lie', { fall_id: 'f1', lying_ms: '120000' }, at, before)], state);
    expect(late.out).toEqual([expect.objectContaining({ id: cancelled.id, state: 'cancelled' })]);
    const again = run([ev('fall.long_lie', { fall_id: 'f1', lying_ms: '120000' }, at)], late.state).out;
    expect(again).toHaveLength(1);
    expect(again[0]!.id).not.toBe(cancelled.id);
    expect(again[0]).toMatchObject({ type: 'fall', state: 'open', level: 'urgent', confirmed: true });
  });

  it('fall.cleared → stays unconfirmed and open, for review', () => {
    const { out } = run([ev('fall.detected', { fall_id: 'f1' }), ev('fall.cleared', { fall_id: 'f1', lying_ms: '30000' }, T0 + 30_000)]);
    expect(latest(out)).toHaveLength(1);
    expect(out.at(-1)).toMatchObject({ level: 'unconfirmed', state: 'open', eventCount: 2, revision: 2 });
  });

  it('battery.low → info; cleared when the battery reads ≥ 50 %', () => {
    const { out } = run([ev('battery.low', { battery_pct: '18.5' }), tel({ battery_pct: 19 }, T0 + 60_000), tel({ battery_pct: 100 }, T0 + 120_000)]);
    expect(out.map((a) => [a.level, a.state, a.message])).toEqual([
      ['info', 'open', 'battery low (18.5 %)'], ['info', 'cleared', 'battery recovered (100 %)']]);
  });

  it('no message for 3 × heartbeatSec → device_silent (wellness), cleared when heard again', () => {
    const settings: DeviceCareSettings = { ...DEFAULT_CARE_SETTINGS, heartbeatSec: 10 };
    const { state } = run([tel({ presence: 1, motion: 3 }, T0)]);
    expect(applyTick(state, settings, opts, T0 + 30_000).alerts).toEqual([]);
    const silent = applyTick(state, settings, opts, T0 + 30_001);
    expect(silent.alerts).toHaveLength(1);
    expect(silent.alerts[0]).toMatchObject({ type: 'device_silent', level: 'wellness', state: 'open' });
    expect(applyTick(silent.state, settings, opts, T0 + 60_000).alerts).toEqual([]);
    const back = applyInput(silent.state, tel({ presence: 1 }, T0 + 70_000), T0 + 70_000);
    expect(back.alerts[0]).toMatchObject({ id: silent.alerts[0]?.id, state: 'cleared', revision: 2 });
  });

  it('silence is never measured across the edge’s own downtime', () => {
    const settings: DeviceCareSettings = { ...DEFAULT_CARE_SETTINGS, heartbeatSec: 10 };
    const { state } = run([tel({ presence: 1 }, T0)]);
    const restarted = { watchSinceMs: T0 + 3_600_000, warmupMs: 0 };
    expect(applyTick(state, settings, restarted, T0 + 3_600_000 + 5_000).alerts).toEqual([]);
  });

  it('inactivity: no motion for inactivityHours, quiet hours not counted; cleared by motion', () => {
    const settings: DeviceCareSettings = {
      ...DEFAULT_CARE_SETTINGS, routine: { wakeBy: null, quietHours: { from: '22:00', to: '07:00' }, inactivityHours: 4 },
    };
    // Last motion at 20:00 local; 20:00-22:00 counts (2 h), 22:00-07:00 does not, 07:00-09:00 counts (2 h).
    const lastMotion = Date.UTC(2024, 5, 1, 12, 0, 0);
    const { state } = run([tel({ presence: 1, motion: 3, movement_level: 50 }, lastMotion), tel({ presence: 1, motion: 2, movement_level: 2 }, lastMotion + 60_000)]);
    const at0859 = Date.UTC(2024, 5, 2, 0, 59, 0);
    expect(activeMsBetween(lastMotion, at0859, settings.routine.quietHours, 480)).toBe(4 * 3_600_000 - 60_000);
    const silentOk = { ...settings, heartbeatSec: 86_400 };
    expect(applyTick(state, silentOk, opts, at0859).alerts).toEqual([]);
    const r = applyTick(state, silentOk, opts, at0859 + 60_000);
    expect(r.alerts[0]).toMatchObject({ type: 'inactivity', level: 'wellness', state: 'open' });
    const moved = applyInput(r.state, tel({ presence: 1, motion: 3 }, at0859 + 120_000), at0859 + 120_000);
    expect(moved.alerts[0]).toMatchObject({ type: 'inactivity', state: 'cleared' });
  });

  it('routine wakeBy passed with no motion since the end of quiet hours → routine_missed; cleared by motion', () => {
    const settings: DeviceCareSettings = {
      heartbeatSec: 86_400, utcOffsetMin: 480, routine: { wakeBy: '10:00', quietHours: { from: '22:00', to: '07:00' }, inactivityHours: 24 },
    };
    // Moving at 23:00 local (inside quiet hours), nothing after 07:00.
    const night = Date.UTC(2024, 5, 1, 15, 0, 0);
    const { state } = run([tel({ presence: 1, motion: 3 }, night)]);
    expect(applyTick(state, settings, opts, Date.UTC(2024, 5, 2, 1, 59, 0)).alerts).toEqual([]); // 09:59
    const r = applyTick(state, settings, opts, Date.UTC(2024, 5, 2, 2, 0, 0)); // 10:00
    expect(r.alerts[0]).toMatchObject({ type: 'routine_missed', level: 'wellness', message: 'no motion by 10:00 local time' });
    expect(applyTick(r.state, settings, opts, Date.UTC(2024, 5, 2, 3, 0, 0)).alerts).toEqual([]); // once a day
    const moved = applyInput(r.state, tel({ presence: 1, motion: 3 }, Date.UTC(2024, 5, 2, 3, 0, 0)), Date.UTC(2024, 5, 2, 3, 0, 0));
    expect(moved.alerts[0]).toMatchObject({ type: 'routine_missed', state: 'cleared' });
    // Motion after 07:00 satisfies the routine.
    const up = run([tel({ presence: 1, motion: 3 }, night), tel({ presence: 1, motion: 3 }, Date.UTC(2024, 5, 1, 23, 30, 0))]).state;
    expect(applyTick(up, settings, opts, Date.UTC(2024, 5, 2, 2, 0, 0)).alerts).toEqual([]);
  });
});

describe('alert rules: merging, flags, replays', () => {
  it('merges repeated triggers into the open alert; a fall 30 min after the last event opens a new one', () => {
    const { out, state } = run([ev('sos.pressed', {}, T0), ev('sos.pressed', {}, T0 + 10_000)]);
    expect(latest(out)).toHaveLength(1);
    expect(out.at(-1)).toMatchObject({ eventCount: 2, revision: 2, lastEventAtMs: T0 + 10_000 });
    const f = run([ev('fall.detected', { fall_id: 'a' }, T0)], state);
    const later = T0 + 10_000 + MERGE_WINDOW_MS + 1;
    const g = applyInput(f.state, ev('fall.detected', { fall_id: 'b' }, later), later);
    expect(g.alerts[0]?.id).not.toBe(f.out[0]?.id);
    expect(g.alerts[0]).toMatchObject({ revision: 1, eventCount: 1 });
  });

  it('telemetry flags raise only when the matching event was not seen, and never double-raise', () => {
    // Flags only (a device without events): fall, then long lie.
    const flagsOnly = run([tel({ fall: 1, presence: 1 }, T0), tel({ fall: 1, long_lie: 1 }, T0 + 120_000), tel({ fall: 1, long_lie: 1 }, T0 + 180_000)]);
    expect(latest(flagsOnly.out)).toHaveLength(1);
    expect(flagsOnly.out.map((a) => a.level)).toEqual(['unconfirmed', 'urgent']);
    expect(flagsOnly.out.at(-1)).toMatchObject({ confirmed: true, skipCancelWindow: true });
    // Event and flag in either order: one alert.
    const both = run([ev('fall.detected', { fall_id: 'x' }, T0), tel({ fall: 1 }, T0 + 1000), ev('fall.long_lie', { fall_id: 'x' }, T0 + 120_000), tel({ fall: 1, long_lie: 1 }, T0 + 121_000)]);
    expect(latest(both.out)).toHaveLength(1);
    expect(both.out).toHaveLength(2);
    const sos = run([tel({ sos: 1 }, T0), ev('sos.pressed', {}, T0 - 500)]);
    expect(latest(sos.out)).toHaveLength(1);
  });

  it('ignores a replayed seq (applied to alerts.db, then redelivered by the broker)', () => {
    const first = run([ev('sos.pressed', {}, T0, 5000)]);
    const again = applyInput(first.state, ev('sos.pressed', {}, T0, 5000), T0 + 1000);
    expect(again.alerts).toEqual([]);
    expect(again.state).toBe(first.state);
  });

  it('a cancel that overtakes its fall records the fall as cancelled (nobody paged)', () => {
    const { out } = run([ev('fall.cancelled', { fall_id: 'z' }, T0 + 5000), ev('fall.detected', { fall_id: 'z', source: 'wearable' }, T0)]);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ state: AlertState.Cancelled, level: AlertLevel.Urgent });
  });

  it('the state is JSON-safe: a round trip through JSON (a restart) changes nothing', () => {
    const { state } = run([ev('fall.detected', { fall_id: 'r' }, T0)]);
    const restored = JSON.parse(JSON.stringify(state)) as DeviceRuleState;
    const a = applyInput(state, ev('fall.long_lie', { fall_id: 'r' }, T0 + 60_000, 9000), T0 + 60_000);
    const b = applyInput(restored, ev('fall.long_lie', { fall_id: 'r' }, T0 + 60_000, 9000), T0 + 60_000);
    expect(b.alerts).toEqual(a.alerts);
    expect(b.alerts[0]).toMatchObject({ level: 'urgent', revision: 2 });
  });
});
