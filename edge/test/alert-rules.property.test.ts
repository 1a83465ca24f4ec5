import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyInput, applyTick, DEFAULT_CARE_SETTINGS, type AlertRecord, type DeviceRuleState, type RuleInput } from '../src/index.js';

const T0 = Date.UTC(2024, 5, 1, 4, 0, 0);
const DEV = 'fall-0001';

const eventArb = fc.oneof(
  fc.record({ t: fc.constant('fall.detected'), fallId: fc.constantFrom('f1', 'f2', 'f3', ''), source: fc.constantFrom('radar', 'wearable', '') }),
  fc.record({ t: fc.constant('fall.long_lie'), fallId: fc.constantFrom('f1', 'f2', 'f3', ''), source: fc.constant('') }),
  fc.record({ t: fc.constant('fall.cancelled'), fallId: fc.constantFrom('f1', 'f2', 'f3', ''), source: fc.constant('') }),
  fc.record({ t: fc.constant('fall.cleared'), fallId: fc.constantFrom('f1', 'f2', ''), source: fc.constant('') }),
  fc.record({ t: fc.constant('sos.pressed'), fallId: fc.constant(''), source: fc.constant('') }),
  fc.record({ t: fc.constant('battery.low'), fallId: fc.constant(''), source: fc.constant('') }),
  fc.record({ t: fc.constant('tel'), fallId: fc.constant(''), source: fc.constant('') }),
);

/** A device's messages: distinct seqs, device times within 20 minutes. */
const streamArb = fc.array(
  fc.record({ e: eventArb, dt: fc.integer({ min: 0, max: 20 * 60_000 }), flags: fc.tuple(fc.boolean(), fc.boolean(), fc.boolean(), fc.boolean()) }),
  { minLength: 1, maxLength: 25 },
).map((items) => items.map((it, i): RuleInput => {
  const tsMs = T0 + it.dt;
  if (it.e.t === 'tel') {
    const [fall, longLie, sos, moving] = it.flags;
    return { kind: 'telemetry', deviceId: DEV, site: 's', seq: i + 1, tsMs, fields: {
      fall: fall ? 1 : 0, long_lie: longLie ? 1 : 0, sos: sos ? 1 : 0, presence: 1, motion: moving ? 3 : 2, battery_pct: 60 } };
  }
  const attributes: Record<string, string> = {};
  if (it.e.fallId) attributes.fall_id = it.e.fallId;
  if (it.e.source) attributes.source = it.e.source;
  return { kind: 'event', deviceId: DEV, site: 's', seq: i + 1, tsMs, eventType: it.e.t, attributes };
}));

/** Delivers the stream in a shuffled order with exact duplicates (as the broker may), with
 * optional JSON round trips of the state (restarts) and ticks in between. */
const scenarioArb = streamArb.chain((msgs) => fc.record({
  msgs: fc.constant(msgs),
  order: fc.shuffledSubarray([...msgs.keys(), ...msgs.keys()], { minLength: msgs.length * 2, maxLength: msgs.length * 2 }),
  restarts: fc.array(fc.boolean(), { minLength: msgs.length * 2, maxLength: msgs.length * 2 }),
}));

function play(msgs: RuleInput[], order: number[], restarts: boolean[]): AlertRecord[] {
  let s: DeviceRuleState | undefined;
  let now = T0;
  const out: AlertRecord[] = [];
  order.forEach((k, i) => {
    const m = msgs[k] as RuleInput;
    now = Math.max(now + 1000, m.tsMs);
    const r = applyInput(s, m, now);
    s = r.state;
    out.push(...r.alerts);
    if (restarts[i]) s = JSON.parse(JSON.stringify(s)) as DeviceRuleState;
    const t = applyTick(s, DEFAULT_CARE_SETTINGS, { watchSinceMs: T0, warmupMs: 0 }, now);
    s = t.state;
    out.push(...t.alerts);
  });
  return out;
}

describe('alert rules properties (any interleaving of duplicate/reordered events)', () => {
  it('never two open alerts of one type per device; revisions strictly increase; confirmed ⇒ urgent; cancelled stays down', () => {
    fc.assert(fc.property(scenarioArb, ({ msgs, order, restarts }) => {
      const out = play(msgs, order, restarts);
      const latestById = new Map<string, AlertRecord>();
      const cancelledLevel = new Map<string, string>();
      for (const a of out) {
        const prev = latestById.get(a.id);
        if (prev) expect(a.revision).toBeGreaterThan(prev.revision);
        else expect(a.revision).toBe(1);
        if (a.confirmed) expect(a.level).toBe('urgent');
        const downAt = cancelledLevel.get(a.id);
        if (downAt !== undefined) {
          expect(a.state).toBe('cancelled');
          expect(a.level).toBe(downAt);
        } else if (a.state === 'cancelled') {
          cancelledLevel.set(a.id, a.level);
        }
        expect(a.events.length).toBeLessThanOrEqual(20);
        latestById.set(a.id, a);
        // All device times lie within 20 min (< the 30-min merge window): per type at most one open.
        const openByType = new Map<string, number>();
        for (const x of latestById.values()) if (x.state === 'open') openByType.set(x.type, (openByType.get(x.type) ?? 0) + 1);
        for (const n of openByType.values()) expect(n).toBeLessThanOrEqual(1);
      }
    }), { numRuns: 400 });
  });

  it('a replayed stream (the same seqs again, as after a lost PUBACK) changes nothing', () => {
    fc.assert(fc.property(streamArb, (msgs) => {
      let s: DeviceRuleState | undefined;
      let now = T0 + 20 * 60_000;
      for (const m of msgs) s = applyInput(s, m, (now += 1000)).state;
      for (const m of msgs.slice(-60)) expect(applyInput(s, m, (now += 1000)).alerts).toEqual([]);
    }), { numRuns: 200 });
  });
});
