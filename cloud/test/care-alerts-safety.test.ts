import { describe, expect, it } from 'vitest';
import type { LadderPlan, Recipient } from '../src/care/contracts.js';
import {
  DEFAULT_SAFETY, FALLBACK_USER, decide, initialPosition, markUnreachable, type LadderInput, type LadderPosition, type SafetyPolicy,
} from '../src/care/alerts/ladder.js';

// The safety net of the ladder (docs/care.md §3): nobody left to page is an incident, new
// events reach whoever handles the alert, a claim that ignores a new event lapses.

const person = (userId: string, role: Recipient['role'] = 'family'): Recipient => ({ userId, name: userId, role, locale: 'en', channels: [] });
const fallback: Recipient = { userId: FALLBACK_USER, name: 'Fallback', role: 'callcentre', locale: 'en', channels: [{ type: 'webhook', address: 'http://x/h', secret: 's' }] };
const safety: SafetyPolicy = { ...DEFAULT_SAFETY, fallback };
const T0 = 1_764_380_000_000;

function plan(family: string[] = ['f1'], workers: string[] = ['w1'], cc: string[] = ['cc1']): LadderPlan {
  return {
    residentId: 'r1', residentName: 'Grandma',
    config: { cancelWindowSec: 30, familyAckSec: 180, workerAckSec: 300, reminderSec: 120 },
    steps: [
      ...family.map((f) => ({ kind: 'family' as const, recipients: [person(f)], ackSec: 180 })),
      { kind: 'worker' as const, recipients: workers.map((w) => person(w, 'worker')), ackSec: 300 },
      { kind: 'callcentre' as const, recipients: cc.map((c) => person(c, 'callcentre')), ackSec: null },
    ],
  };
}

function runner(base: Partial<LadderInput> = {}) {
  let position: LadderPosition = initialPosition();
  const keys = new Set<string>();
  return {
    at(now: number, over: Partial<LadderInput> = {}) {
      const d = decide({
        alertId: 'al_1', level: 'urgent', skipCancelWindow: true, status: 'raised', firstEventAtMs: T0, claimedBy: null, resolvedBy: null,
        plan: plan(), position, now, safety, ...base, ...over,
      });
      position = d.position;
      for (const i of d.intents) {
        expect(keys.has(i.key), `intent ${i.key} issued twice`).toBe(false);
        keys.add(i.key);
      }
      return d;
    },
    unreachable(userId: string) { position = markUnreachable(position, userId); },
    get position() { return position; },
  };
}

const pages = (d: { intents: { kind: string; userId: string }[] }) => d.intents.filter((i) => i.kind === 'page').map((i) => i.userId);

describe('nobody left to page', () => {
  it('a ladder with nobody in it pages the fallback at once and says why', () => {
    const r = runner({ plan: plan([], [], []) });
    const d = r.at(T0);
    expect(pages(d)).toEqual([FALLBACK_USER]);
    expect(d.notes).toContainEqual({ kind: 'unreached', detail: { reason: 'nobody_left', paged: 0 } });
    expect(r.position.unreachedAtMs).toBe(T0);
    expect(d.nextDueAtMs).toBe(T0 + 60_000);
  });

  it('every channel of everyone failing (app channels with no page open) ends in the fallback, not in silence', () => {
    const r = runner();
    expect(pages(r.at(T0))).toEqual(['f1']);
    r.unreachable('f1');
    expect(pages(r.at(T0 + 10))).toEqual(['w1']);
    r.unreachable('w1');
    expect(pages(r.at(T0 + 20))).toEqual(['cc1']);
    r.unreachable('cc1');
    const d = r.at(T0 + 30);
    expect(pages(d)).toEqual([FALLBACK_USER]);
    expect(d.notes.map((n) => n.kind)).toEqual(['unreached']);
  });

  it('without a fallback channel it is still an incident (noted, counted, retried)', () => {
    const r = runner({ plan: plan([], [], []), safety: DEFAULT_SAFETY });
    const d = r.at(T0);
    expect(d.intents).toEqual([]);
    expect(d.notes.map((n) => n.kind)).toEqual(['unreached', 'no_fallback']);
    expect(r.position.unreachedAtMs).toBe(T0);
    expect(d.nextDueAtMs).toBe(T0 + 60_000);
  });

  it('retries on its interval under new keys: everyone the plan names now, and the fallback again', () => {
    const r = runner({ plan: plan([], [], []) });
    r.at(T0);
    // A call-centre person was enabled in the meantime; the retry finds them.
    const d = r.at(T0 + 60_000, { plan: plan([], [], ['cc9']) });
    expect(pages(d).sort()).toEqual([FALLBACK_USER, 'cc9'].sort());
    expect(d.intents.find((i) => i.userId === 'cc9')?.key).toBe('al_1/r1/1/cc9/page/0');
    expect(d.notes.map((n) => n.kind)).toContain('unreached_retry');
    // Nothing more until the next retry or reminder.
    expect(r.at(T0 + 61_000, { plan: plan([], [], ['cc9']) }).intents).toEqual([]);
  });

  it('retries at once when told someone may be reachable', () => {
    const r = runner({ plan: plan(['f1'], [], []) });
    r.at(T0);
    r.unreachable('f1');
    r.at(T0 + 10);
    expect(r.position.unreachedAtMs).toBe(T0 + 10);
    const d = r.at(T0 + 20, { retryNow: true, plan: plan(['f1'], [], []) });
    expect(pages(d).sort()).toEqual([FALLBACK_USER, 'f1'].sort());
  });

  it('an alert nobody claims by the deadline is unreached even though pages were delivered', () => {
    const r = runner();
    r.at(T0);
    let d = r.at(T0 + 180_000);
    d = r.at(T0 + 480_000);
    expect(r.position.unreachedAtMs).toBeNull();
    d = r.at(T0 + 900_000);
    expect(d.notes).toContainEqual({ kind: 'unreached', detail: { reason: 'claim_deadline', paged: 3 } });
    expect(pages(d)).toContain(FALLBACK_USER);
  });

  it('a claim ends the incident and stops the retries', () => {
    const r = runner({ plan: plan([], [], []) });
    r.at(T0);
    const d = r.at(T0 + 5_000, { status: 'acknowledged', claimedBy: 'cc1' });
    expect(r.position.unreachedAtMs).toBeNull();
    expect(d.nextDueAtMs).toBeNull();
    expect(r.at(T0 + 600_000, { status: 'acknowledged', claimedBy: 'cc1' }).intents).toEqual([]);
  });
});

describe('new events on an alert being handled', () => {
  it('on a running ladder, everyone already paged (and reachable) hears of it at once', () => {
    const r = runner({ plan: plan(['f1', 'f2']) });
    r.at(T0);
    r.at(T0 + 180_000);
    r.unreachable('f1');
    const d = r.at(T0 + 200_000, { newEvents: 1 });
    expect(d.intents.filter((i) => i.kind === 'update').map((i) => i.userId)).toEqual(['f2']);
    // A second new event is a second notice, under its own key.
    const d2 = r.at(T0 + 210_000, { newEvents: 1 });
    expect(d2.intents.filter((i) => i.kind === 'update').map((i) => i.key)).toEqual(['al_1/1/f2/update/2']);
  });

  it('on a claimed alert, the claimer is told at once and must confirm within their step\'s wait', () => {
    const r = runner();
    r.at(T0);
    r.at(T0 + 1_000, { status: 'acknowledged', claimedBy: 'f1' });
    const d = r.at(T0 + 60_000, { status: 'acknowledged', claimedBy: 'f1', newEvents: 1 });
    expect(d.intents.map((i) => [i.kind, i.userId])).toEqual([['update', 'f1']]);
    expect(d.nextDueAtMs).toBe(T0 + 60_000 + 180_000);
    expect(d.status).toBeUndefined();
  });

  it('a claimer who does not confirm the new event loses the claim: the ladder starts again', () => {
    const r = runner();
    r.at(T0);
    r.at(T0 + 1_000, { status: 'acknowledged', claimedBy: 'f1' });
    r.at(T0 + 60_000, { status: 'acknowledged', claimedBy: 'f1', newEvents: 1 });
    const d = r.at(T0 + 240_000, { status: 'acknowledged', claimedBy: 'f1' });
    expect(d.status).toBe('notifying');
    expect(d.notes.map((n) => n.kind)).toContain('claim_lapsed');
    expect(d.intents.map((i) => i.key)).toEqual(['al_1/r1/0/f1/page/0']);
  });

  it('a claimer who confirms keeps the claim, and nobody else is paged', () => {
    const r = runner();
    r.at(T0);
    r.at(T0 + 1_000, { status: 'acknowledged', claimedBy: 'f1' });
    r.at(T0 + 60_000, { status: 'acknowledged', claimedBy: 'f1', newEvents: 1 });
    // The lifecycle clears `reconfirm` when the claimer claims again.
    const confirmed = { ...r.position, reconfirm: null };
    const d = decide({
      alertId: 'al_1', level: 'urgent', skipCancelWindow: true, status: 'acknowledged', firstEventAtMs: T0, claimedBy: 'f1', resolvedBy: null,
      plan: plan(), position: confirmed, now: T0 + 600_000, safety,
    });
    expect(d.intents).toEqual([]);
    expect(d.status).toBeUndefined();
    expect(d.nextDueAtMs).toBeNull();
  });
});
