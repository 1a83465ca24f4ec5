import type { LadderPlan, Recipient } from '../contracts.js';
import type { Intent, LadderNote, LadderPosition } from './ladder.js';
import { NotificationKind, type NotificationKind as Kind } from './model.js';

/** The cloud-wide safety net (docs/care.md §3, "nobody left to page"). */
export interface SafetyPolicy {
  /** an urgent alert not claimed this long after its ladder started is unreached */
  claimDeadlineSec: number;
  /** how often an unreached alert pages everyone (and the fallback) again */
  unreachedRetrySec: number;
  /** the fallback channels (call centre), or null when none is configured */
  fallback: Recipient | null;
}

export const DEFAULT_SAFETY: SafetyPolicy = { claimDeadlineSec: 900, unreachedRetrySec: 60, fallback: null };

/** The user id fallback notifications are addressed to; never a person's id. */
export const FALLBACK_USER = '@fallback';

export interface SafetyNetInput {
  alertId: string;
  plan: LadderPlan;
  now: number;
  /** the urgent ladder's position, already advanced; changed in place */
  pos: LadderPosition;
  safety: SafetyPolicy;
  retryNow: boolean;
  newEvents: number;
  intents: Intent[];
  notes: LadderNote[];
  emit(step: number, userId: string, kind: Kind, n: number, r: Recipient | null): void;
}

/**
 * Rule 3 of the invariant (docs/care.md §3), for an urgent alert nobody has claimed: with
 * nobody left to page, or past the claim deadline, the alert is unreached — the fallback is
 * paged, and everyone the plan names now is paged again on every retry (at once when
 * someone may have become reachable, or a new event came). Returns the claim deadline, for
 * the caller's next due time.
 */
export function applySafetyNet(x: SafetyNetInput): number {
  const { alertId, plan, now, pos, safety, retryNow, newEvents, intents, notes, emit } = x;
  const deadlineAt = (pos.startedAtMs as number) + safety.claimDeadlineSec * 1000;
  const lastStep = pos.step >= plan.steps.length - 1;
  const nobodyLeft = lastStep && pos.paged.every((e) => pos.unreachable.includes(e.userId));
  const pageFallback = (): void => {
    if (safety.fallback === null) {
      notes.push({ kind: 'no_fallback', detail: {} });
      return;
    }
    pos.fallbackPages += 1;
    intents.push({
      key: `${alertId}/fallback/${pos.fallbackPages}`, alertId, step: -1, userId: FALLBACK_USER, kind: NotificationKind.Page,
      n: pos.fallbackPages, recipient: safety.fallback,
    });
  };
  if (pos.unreachedAtMs === null && (nobodyLeft || now >= deadlineAt)) {
    pos.unreachedAtMs = now;
    pos.retryAtMs = now + Math.max(1, safety.unreachedRetrySec) * 1000;
    notes.push({ kind: 'unreached', detail: { reason: nobodyLeft ? 'nobody_left' : 'claim_deadline', paged: pos.paged.length } });
    pageFallback();
  } else if (pos.unreachedAtMs !== null && (retryNow || (pos.retryAtMs !== null && now >= pos.retryAtMs) || newEvents > 0)) {
    // Try everyone the plan names now, under new keys (people, channels or open pages may
    // have changed), and page the fallback again: an unclaimed urgent alert must stay loud.
    pos.round += 1;
    pos.unreachable = [];
    pos.retryAtMs = now + Math.max(1, safety.unreachedRetrySec) * 1000;
    const everyone = new Map<string, [Recipient, number]>();
    plan.steps.forEach((s, i) => { for (const r of s.recipients) if (!everyone.has(r.userId)) everyone.set(r.userId, [r, i]); });
    for (const [r, i] of everyone.values()) {
      const entry = pos.paged.find((e) => e.userId === r.userId);
      if (entry) entry.nextReminderAtMs = now + Math.max(1, plan.config.reminderSec) * 1000;
      else pos.paged.push({ userId: r.userId, step: i, atMs: now, reminders: 0, nextReminderAtMs: now + Math.max(1, plan.config.reminderSec) * 1000 });
      emit(i, r.userId, NotificationKind.Page, 0, r);
    }
    notes.push({ kind: 'unreached_retry', detail: { round: pos.round, paged: everyone.size } });
    pageFallback();
  }

  return deadlineAt;
}
