import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { LadderPlan, Recipient } from '../src/care/contracts.js';
import { decide, initialPosition, markUnreachable, type LadderInput, type LadderPosition } from '../src/care/alerts/ladder.js';
import type { AlertLevel, AlertStatus } from '../src/care/alerts/model.js';

const person = (userId: string, role: Recipient['role'] = 'family'): Recipient => ({ userId, name: userId, role, locale: 'en', channels: [] });

function plan(over: Partial<{ family: string[]; workers: string[]; callcentre: string[] }> = {}): LadderPlan {
  const family = over.family ?? ['f1', 'f2'];
  const workers = over.workers ?? ['w1'];
  const cc = over.callcentre ?? ['cc1'];
  return {
    residentId: 'r1',
    residentName: 'Grandma',
    config: { cancelWindowSec: 30, familyAckSec: 180, workerAckSec: 300, reminderSec: 120 },
    steps: [
      ...family.map((f) => ({ kind: 'family' as const, recipients: [person(f)], ackSec: 180 })),
      { kind: 'worker' as const, recipients: workers.map((w) => person(w, 'worker')), ackSec: 300 },
      { kind: 'callcentre' as const, recipients: cc.map((c) => person(c, 'callcentre')), ackSec: null },
    ],
  };
}

const T0 = 1_764_380_000_000;
function input(over: Partial<LadderInput> = {}): LadderInput {
  return {
    alertId: 'al_1', level: 'urgent', skipCancelWindow: false, status: 'raised', firstEventAtMs: T0, claimedBy: null, resolvedBy: null,
    plan: plan(), position: initialPosition(), now: T0, ...over,
  };
}

/** Runs decide at `now`, carrying the position forward like the repository does. */
function runner(base: Partial<LadderInput> = {}) {
  let position: LadderPosition = initialPosition();
  const keys: string[] = [];
  return {
    at(now: number, over: Partial<LadderInput> = {}) {
      const d = decide(input({ ...base, ...over, position, now }));
      position = d.position;
      keys.push(...d.intents.map((i) => i.key));
      return d;
    },
    get position() { return position; },
    keys,
  };
}

describe('ladder: urgent', () => {
  it('waits the cancel window, then pages step 0 and schedules step 1', () => {
    const r = runner();
    const d0 = r.at(T0);
    expect(d0.intents).toEqual([]);
    expect(d0.nextDueAtMs).toBe(T0 + 30_000);
    const d1 = r.at(T0 + 30_000);
    expect(d1.intents.map((i) => i.key)).toEqual(['al_1/0/f1/page/0']);
    expect(d1.nextDueAtMs).toBe(T0 + 30_000 + 120_000); // reminder before the 180 s ack deadline
  });

  it('skips the cancel window when asked, and counts the window from the first event', () => {
    expect(decide(input({ skipCancelWindow: true })).intents.map((i) => i.userId)).toEqual(['f1']);
    // the edge reported 40 s after the fall: the resident's window is already over
    expect(decide(input({ firstEventAtMs: T0 - 40_000 })).intents.map((i) => i.userId)).toEqual(['f1']);
    // an edge clock ahead of ours cannot stretch the window
    expect(decide(input({ firstEventAtMs: T0 + 3_600_000 })).nextDueAtMs).toBe(T0 + 30_000);
  });

  it('escalates family → family → worker → call centre, keeping earlier people paged with reminders', () => {
    const r = runner({ skipCancelWindow: true });
    r.at(T0);
    const d1 = r.at(T0 + 120_000);
    expect(d1.intents.map((i) => i.key)).toEqual(['al_1/0/f1/reminder/1']);
    const d2 = r.at(T0 + 180_000);
    expect(d2.intents.map((i) => i.key)).toEqual(['al_1/1/f2/page/0']);
    r.at(T0 + 240_000); // f1 reminder 2
    const d3 = r.at(T0 + 360_000);
    expect(d3.intents.map((i) => i.key)).toContain('al_1/2/w1/page/0');
    const d4 = r.at(T0 + 660_000);
    expect(d4.intents.map((i) => i.key)).toContain('al_1/3/cc1/page/0');
    expect(r.position.paged.map((p) => p.userId)).toEqual(['f1', 'f2', 'w1', 'cc1']);
    expect(d4.nextDueAtMs).not.toBeNull(); // reminders go on until someone claims
  });

  it('after an outage pages one step at a time, each with its full time to acknowledge', () => {
    const r = runner({ skipCancelWindow: true });
    r.at(T0);
    // 10 minutes: within the claim deadline (15 min), so the ladder keeps its pace.
    const late = r.at(T0 + 600_000);
    expect(late.intents.filter((i) => i.kind === 'page').map((i) => i.userId)).toEqual(['f2']);
    expect(late.nextDueAtMs).toBe(T0 + 600_000 + 120_000);
  });

  it('skips empty steps at once (no family, no worker on duty) so the call centre is reached', () => {
    const d = decide(input({ skipCancelWindow: true, plan: plan({ family: [], workers: [] }) }));
    expect(d.intents.map((i) => i.key)).toEqual(['al_1/1/cc1/page/0']);
  });

  it('pages a person in two steps only once', () => {
    const r = runner({ skipCancelWindow: true, plan: plan({ family: ['x'], workers: ['x', 'w2'] }) });
    r.at(T0);
    const d = r.at(T0 + 180_000);
    expect(d.intents.filter((i) => i.kind === 'page').map((i) => i.userId)).toEqual(['w2']);
  });

  it('moves on at once when everyone of the current step is unreachable', () => {
    const r = runner({ skipCancelWindow: true });
    r.at(T0);
    const d = decide(input({ skipCancelWindow: true, position: markUnreachable(r.position, 'f1'), now: T0 + 5_000 }));
    expect(d.intents.map((i) => i.key)).toEqual(['al_1/1/f2/page/0']);
  });

  it('claim: stops the ladder and tells everyone else already paged', () => {
    const r = runner({ skipCancelWindow: true });
    r.at(T0);
    r.at(T0 + 180_000);
    const d = r.at(T0 + 200_000, { status: 'acknowledged', claimedBy: 'f2' });
    expect(d.intents.map((i) => i.key)).toEqual(['al_1/0/f1/claimed/0']);
    expect(d.nextDueAtMs).toBeNull();
    expect(r.at(T0 + 10_000_000, { status: 'acknowledged', claimedBy: 'f2' }).intents).toEqual([]);
  });

  it('resolve after a claim tells the paged people once; the resolver is not told', () => {
    const r = runner({ skipCancelWindow: true });
    r.at(T0);
    r.at(T0 + 180_000);
    r.at(T0 + 190_000, { status: 'acknowledged', claimedBy: 'f1' });
    const d = r.at(T0 + 200_000, { status: 'resolved', claimedBy: 'f1', resolvedBy: 'f1' });
    expect(d.intents.map((i) => i.key)).toEqual(['al_1/1/f2/resolved/0']);
  });

  it('resolve without a claim (admin) sends claimed? no: only resolved', () => {
    const r = runner({ skipCancelWindow: true });
    r.at(T0);
    const d = r.at(T0 + 1000, { status: 'resolved', resolvedBy: 'admin-token' });
    expect(d.intents.map((i) => i.key)).toEqual(['al_1/0/f1/resolved/0']);
  });

  it('resident cancel in the window pages nobody; after paging everyone paged is told', () => {
    const r = runner();
    r.at(T0);
    expect(r.at(T0 + 10_000, { status: 'cancelled' }).intents).toEqual([]);
    const r2 = runner({ skipCancelWindow: true });
    r2.at(T0);
    expect(r2.at(T0 + 5000, { status: 'cancelled' }).intents.map((i) => i.key)).toEqual(['al_1/0/f1/cancelled/0']);
  });
});

describe('ladder: other levels', () => {
  it('unconfirmed pages nobody until upgraded; the upgrade honours skipCancelWindow', () => {
    const r = runner({ level: 'unconfirmed' });
    expect(r.at(T0).intents).toEqual([]);
    expect(r.at(T0 + 600_000).nextDueAtMs).toBeNull();
    const up = r.at(T0 + 700_000, { level: 'urgent', skipCancelWindow: true });
    expect(up.intents.map((i) => i.userId)).toEqual(['f1']);
  });

  it('an alert once urgent keeps its ladder through a later downgrade', () => {
    const r = runner();
    r.at(T0);
    expect(r.at(T0 + 30_000, { level: 'unconfirmed' }).intents.map((i) => i.userId)).toEqual(['f1']);
  });

  it('wellness pages the worker(s) once, no reminders, no escalation', () => {
    const r = runner({ level: 'wellness', plan: plan({ workers: ['w1', 'w2'] }) });
    const d = r.at(T0);
    expect(d.intents.map((i) => i.key)).toEqual(['al_1/2/w1/page/0', 'al_1/2/w2/page/0']);
    expect(d.nextDueAtMs).toBeNull();
    expect(r.at(T0 + 10_000_000).intents).toEqual([]);
  });

  it('wellness with no worker on duty falls back to the call centre', () => {
    const d = decide(input({ level: 'wellness', plan: plan({ workers: [] }) }));
    expect(d.intents.map((i) => i.userId)).toEqual(['cc1']);
  });

  it('info pages nobody', () => {
    const d = decide(input({ level: 'info', skipCancelWindow: true }));
    expect(d).toMatchObject({ intents: [], nextDueAtMs: null });
  });

  it('an unassigned device (call-centre-only plan) still pages someone', () => {
    const p: LadderPlan = { residentId: null, residentName: null, config: plan().config, steps: [{ kind: 'callcentre', recipients: [person('cc1', 'callcentre')], ackSec: null }] };
    expect(decide(input({ plan: p, skipCancelWindow: true })).intents.map((i) => i.userId)).toEqual(['cc1']);
  });
});

describe('ladder: properties', () => {
  type Ev =
    | { t: 'tick'; dt: number }
    | { t: 'claim'; who: number }
    | { t: 'cancel' }
    | { t: 'resolve' }
    | { t: 'level'; level: AlertLevel }
    | { t: 'unreachable'; who: number };
  const ev: fc.Arbitrary<Ev> = fc.oneof(
    { arbitrary: fc.record({ t: fc.constant('tick' as const), dt: fc.integer({ min: 0, max: 400_000 }) }), weight: 6 },
    fc.record({ t: fc.constant('claim' as const), who: fc.nat(5) }),
    fc.constant({ t: 'cancel' as const }),
    fc.constant({ t: 'resolve' as const }),
    fc.record({ t: fc.constant('level' as const), level: fc.constantFrom<AlertLevel>('urgent', 'unconfirmed', 'wellness', 'info') }),
    fc.record({ t: fc.constant('unreachable' as const), who: fc.nat(5) }),
  );
  const users = ['f1', 'f2', 'w1', 'cc1', 'x', 'y'];

  it('no intent key twice, no page after a claim/cancel/resolve, urgent always reaches someone', () => {
    fc.assert(
      fc.property(fc.constantFrom<AlertLevel>('urgent', 'unconfirmed', 'wellness', 'info'), fc.boolean(), fc.array(ev, { maxLength: 40 }), (level0, skip, events) => {
        let level = level0;
        let status: AlertStatus = 'raised';
        let claimedBy: string | null = null;
        let now = T0;
        let everUrgent = level === 'urgent';
        let position = initialPosition();
        const seen = new Set<string>();
        const step = () => {
          const d = decide(input({ level, skipCancelWindow: skip, status, claimedBy, position, now }));
          position = d.position;
          for (const i of d.intents) {
            expect(seen.has(i.key)).toBe(false);
            seen.add(i.key);
            if (status !== 'raised') expect(['claimed', 'cancelled', 'resolved']).toContain(i.kind);
          }
          if (d.nextDueAtMs !== null) expect(d.nextDueAtMs).toBeGreaterThan(now);
          return d;
        };
        step();
        for (const e of events) {
          if (e.t === 'tick') now += e.dt;
          else if (e.t === 'level' && status === 'raised') { level = e.level; everUrgent ||= level === 'urgent'; }
          else if (e.t === 'claim' && status === 'raised') { status = 'acknowledged'; claimedBy = users[e.who] as string; }
          else if (e.t === 'cancel' && status === 'raised') status = 'cancelled';
          else if (e.t === 'resolve' && (status === 'raised' || status === 'acknowledged')) status = 'resolved';
          else if (e.t === 'unreachable') position = markUnreachable(position, users[e.who] as string);
          step();
        }
        // Left alone long enough, an urgent alert nobody stopped pages at least one person.
        if (everUrgent && status === 'raised') {
          for (let k = 0; k < 10; k++) { now += 400_000; step(); }
          expect(position.paged.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
