import type { LadderPlan, LadderStep, Recipient } from '../contracts.js';
import { AlertLevel, AlertStatus, NotificationKind, type AlertStatus as Status, type NotificationKind as Kind } from './model.js';
import { DEFAULT_SAFETY, applySafetyNet, type SafetyPolicy } from './safety-net.js';

export { DEFAULT_SAFETY, FALLBACK_USER, type SafetyPolicy } from './safety-net.js';

/**
 * The escalation ladder as a pure function (docs/care.md §3): persisted position + the
 * alert's current facts + `now` → the new position, when to look again, and the
 * notifications to send. No I/O, so every branch is unit- and property-testable, and the
 * caller can run it inside one SQLite transaction with the intent inserts.
 */

export interface PagedEntry {
  userId: string;
  /** the step that paged this person (part of the intent key) */
  step: number;
  atMs: number;
  reminders: number;
  /** null: no reminders for this person (wellness pages once) */
  nextReminderAtMs: number | null;
}

export interface LadderPosition {
  /** when paging became possible (urgent since), null while not urgent */
  startedAtMs: number | null;
  cancelUntilMs: number | null;
  /** highest step reached; -1 before the first page */
  step: number;
  stepAtMs: number | null;
  paged: PagedEntry[];
  /** people every channel failed for: a step made only of them is not waited on */
  unreachable: string[];
  /** final notices already issued (claimed, cancelled, resolved) */
  finals: Kind[];
  /** wellness: the one page has been issued */
  wellnessDone: boolean;
  /** escalation round: a lapsed claim or a retry of an unreached alert pages again under new keys */
  round: number;
  /** "new event" notices issued so far (their serial) */
  updates: number;
  /** the claimer was told of a new urgent event and must acknowledge it by then */
  reconfirm: { userId: string; dueAtMs: number } | null;
  /** since when nobody could be reached in time (an incident until someone claims), else null */
  unreachedAtMs: number | null;
  /** the next retry of an unreached alert */
  retryAtMs: number | null;
  /** fallback pages issued so far */
  fallbackPages: number;
}

export const initialPosition = (): LadderPosition => ({
  startedAtMs: null,
  cancelUntilMs: null,
  step: -1,
  stepAtMs: null,
  paged: [],
  unreachable: [],
  finals: [],
  wellnessDone: false,
  round: 0,
  updates: 0,
  reconfirm: null,
  unreachedAtMs: null,
  retryAtMs: null,
  fallbackPages: 0,
});

export interface LadderInput {
  alertId: string;
  level: AlertLevel;
  skipCancelWindow: boolean;
  status: Status;
  /** the device's first event; the resident's cancel window counts from it (capped at now) */
  firstEventAtMs: number;
  claimedBy: string | null;
  resolvedBy: string | null;
  plan: LadderPlan;
  position: LadderPosition;
  now: number;
  /** urgent device events this change brought that nobody was told of yet */
  newEvents?: number;
  /** someone may have become reachable: retry an unreached alert now */
  retryNow?: boolean;
  safety?: SafetyPolicy;
}

export interface Intent {
  key: string;
  alertId: string;
  step: number;
  userId: string;
  kind: Kind;
  n: number;
  /** who the plan named, snapshot for when the directory no longer knows the person */
  recipient: Recipient | null;
}

/** Something the caller writes to the timeline and the log (the decision itself is pure). */
export interface LadderNote {
  kind: 'unreached' | 'unreached_retry' | 'claim_lapsed' | 'update_sent' | 'no_fallback';
  detail: Record<string, unknown>;
}

export interface LadderDecision {
  position: LadderPosition;
  nextDueAtMs: number | null;
  intents: Intent[];
  /** set when the alert must go back to notifying (a claim lapsed: nobody confirmed the new event) */
  status?: Status;
  notes: LadderNote[];
}

/** Round 0 keeps the original key form, so rows written before rounds existed still dedupe. */
export const intentKey = (alertId: string, step: number, userId: string, kind: Kind, n: number, round = 0): string =>
  round === 0 ? `${alertId}/${step}/${userId}/${kind}/${n}` : `${alertId}/r${round}/${step}/${userId}/${kind}/${n}`;

const FINAL_BY_STATUS: Partial<Record<Status, Kind>> = {
  [AlertStatus.Acknowledged]: NotificationKind.Claimed,
  [AlertStatus.Cancelled]: NotificationKind.Cancelled,
  [AlertStatus.Resolved]: NotificationKind.Resolved,
};

/** Also fills in fields a position stored by an older version lacks. */
function clone(p: LadderPosition): LadderPosition {
  const base = { ...initialPosition(), ...p };
  return {
    ...base, paged: base.paged.map((e) => ({ ...e })), unreachable: [...base.unreachable], finals: [...base.finals],
    reconfirm: base.reconfirm ? { ...base.reconfirm } : null,
  };
}

function findRecipient(plan: LadderPlan, userId: string): Recipient | null {
  for (const s of plan.steps) for (const r of s.recipients) if (r.userId === userId) return r;
  return null;
}

/**
 * The invariant (docs/care.md §3): every urgent event is, within its deadline, either
 * claimed by a person who was told of this event, or paged to the fallback channels and
 * counted as unreached. Hence: new events re-notify whoever handles the alert; a claimer
 * who does not confirm a new event in time loses the claim and the ladder starts again;
 * a ladder with nobody left to page (or past the claim deadline) is unreached: the
 * fallback is paged and everyone is tried again every `unreachedRetrySec`.
 */
export function decide(input: LadderInput): LadderDecision {
  const pos = clone(input.position);
  const intents: Intent[] = [];
  const notes: LadderNote[] = [];
  const { alertId, plan, now } = input;
  const safety = input.safety ?? DEFAULT_SAFETY;
  const emit = (step: number, userId: string, kind: Kind, n: number, r: Recipient | null): void => {
    intents.push({ key: intentKey(alertId, step, userId, kind, n, pos.round), alertId, step, userId, kind, n, recipient: r });
  };
  const newEvents = input.newEvents ?? 0;
  let status = input.status;
  let claimedBy = input.claimedBy;
  let statusChange: Status | undefined;

  if (status === AlertStatus.Acknowledged && claimedBy !== null) {
    if (newEvents > 0) {
      // Tell the person handling it at once; they confirm by claiming again (§3).
      pos.updates += 1;
      emit(stepOf(pos, claimedBy), claimedBy, NotificationKind.Update, pos.updates, findRecipient(plan, claimedBy));
      notes.push({ kind: 'update_sent', detail: { to: [claimedBy], events: newEvents } });
      pos.reconfirm ??= { userId: claimedBy, dueAtMs: now + ackWaitMs(plan, pos, claimedBy) };
    }
    if (pos.reconfirm !== null && now >= pos.reconfirm.dueAtMs) {
      notes.push({ kind: 'claim_lapsed', detail: { userId: pos.reconfirm.userId } });
      restart(pos, now);
      status = AlertStatus.Notifying;
      statusChange = status;
      claimedBy = null;
    }
  }

  // Terminal-ish states: stop paging; tell everyone paged (but the actor) what happened.
  // A resolve after a claim sends both notices, each once.
  const final = FINAL_BY_STATUS[status];
  if (final !== undefined) {
    const kinds: Kind[] = status === AlertStatus.Resolved && claimedBy !== null && !pos.finals.includes(NotificationKind.Claimed)
      ? [NotificationKind.Claimed, final]
      : [final];
    for (const kind of kinds) {
      if (pos.finals.includes(kind)) continue;
      pos.finals.push(kind);
      const actor = kind === NotificationKind.Claimed ? claimedBy : kind === NotificationKind.Resolved ? input.resolvedBy : null;
      for (const e of pos.paged) if (e.userId !== actor) emit(e.step, e.userId, kind, 0, findRecipient(plan, e.userId));
    }
    for (const e of pos.paged) e.nextReminderAtMs = null;
    // A claimed alert waiting for its claimer to confirm a new event stays on the clock.
    const waiting = status === AlertStatus.Acknowledged ? pos.reconfirm : null;
    if (status !== AlertStatus.Acknowledged) pos.reconfirm = null;
    pos.unreachedAtMs = null;
    pos.retryAtMs = null;
    return { position: pos, nextDueAtMs: waiting?.dueAtMs ?? null, intents, notes, ...(statusChange ? { status: statusChange } : {}) };
  }

  const pagedIds = new Set(pos.paged.map((e) => e.userId));
  const page = (stepIndex: number, recipients: Recipient[], reminderSec: number | null): void => {
    for (const r of recipients) {
      // One person in two steps (a relative who is also the worker) is paged once.
      if (pagedIds.has(r.userId)) continue;
      pagedIds.add(r.userId);
      pos.paged.push({ userId: r.userId, step: stepIndex, atMs: now, reminders: 0, nextReminderAtMs: reminderSec === null ? null : now + Math.max(1, reminderSec) * 1000 });
      emit(stepIndex, r.userId, NotificationKind.Page, 0, r);
    }
  };

  if (input.level === AlertLevel.Wellness && pos.startedAtMs === null) {
    if (!pos.wellnessDone) {
      pos.wellnessDone = true;
      let steps = plan.steps.map((s, i) => [s, i] as const).filter(([s]) => s.kind === 'worker' && s.recipients.length > 0);
      if (steps.length === 0) steps = plan.steps.map((s, i) => [s, i] as const).filter(([s]) => s.kind === 'callcentre');
      for (const [s, i] of steps) page(i, s.recipients, null);
    }
    return { position: pos, nextDueAtMs: null, intents, notes };
  }

  // Once an alert was urgent, a later downgrade does not stop its ladder: only a claim,
  // the resident's cancel or a resolve does (an alert that reaches nobody is the worst case).
  const urgent = input.level === AlertLevel.Urgent || pos.startedAtMs !== null;
  if (!urgent) return { position: pos, nextDueAtMs: null, intents, notes };

  const cfg = plan.config;
  if (pos.startedAtMs === null) {
    pos.startedAtMs = now;
    const windowMs = input.skipCancelWindow ? 0 : cfg.cancelWindowSec * 1000;
    pos.cancelUntilMs = Math.min(now, input.firstEventAtMs) + windowMs;
  }
  if (pos.cancelUntilMs !== null && now < pos.cancelUntilMs && pos.step < 0) {
    return { position: pos, nextDueAtMs: pos.cancelUntilMs, intents, notes };
  }

  if (newEvents > 0 && pos.paged.length > 0) {
    // A new event on a running ladder: everyone already paged hears of it now.
    pos.updates += 1;
    const told = pos.paged.filter((e) => !pos.unreachable.includes(e.userId));
    for (const e of told) emit(e.step, e.userId, NotificationKind.Update, pos.updates, findRecipient(plan, e.userId));
    notes.push({ kind: 'update_sent', detail: { to: told.map((e) => e.userId), events: newEvents } });
  }

  const stepDone = (s: LadderStep, at: number | null): boolean => {
    if (s.recipients.length === 0) return true;
    if (s.recipients.every((r) => pos.unreachable.includes(r.userId))) return true;
    return s.ackSec !== null && at !== null && now >= at + s.ackSec * 1000;
  };
  // Advance while the current step is over; each newly paged step gets its full ackSec
  // from now, so after an outage people are still given their time one step at a time.
  while (pos.step < plan.steps.length - 1) {
    const cur = pos.step >= 0 ? plan.steps[pos.step] : undefined;
    if (cur !== undefined && !stepDone(cur, pos.stepAtMs)) break;
    pos.step += 1;
    pos.stepAtMs = now;
    const next = plan.steps[pos.step] as LadderStep;
    page(pos.step, next.recipients, cfg.reminderSec);
  }

  for (const e of pos.paged) {
    if (e.nextReminderAtMs === null || now < e.nextReminderAtMs) continue;
    e.reminders += 1;
    e.nextReminderAtMs = now + Math.max(1, cfg.reminderSec) * 1000;
    emit(e.step, e.userId, NotificationKind.Reminder, e.reminders, findRecipient(plan, e.userId));
  }

  const deadlineAt = applySafetyNet({ alertId, plan, now, pos, safety, retryNow: input.retryNow === true, newEvents, intents, notes, emit });
  let due: number | null = null;
  const consider = (t: number | null): void => {
    if (t !== null && (due === null || t < due)) due = t;
  };
  const cur = plan.steps[pos.step];
  if (cur !== undefined && pos.step < plan.steps.length - 1 && cur.ackSec !== null && pos.stepAtMs !== null) {
    consider(pos.stepAtMs + cur.ackSec * 1000);
  }
  for (const e of pos.paged) consider(e.nextReminderAtMs);
  consider(pos.unreachedAtMs === null ? deadlineAt : pos.retryAtMs);
  return { position: pos, nextDueAtMs: due, intents, notes, ...(statusChange ? { status: statusChange } : {}) };
}

/** The step a person was paged in (-1: never paged, e.g. claimed from the list). */
function stepOf(pos: LadderPosition, userId: string): number {
  return pos.paged.find((e) => e.userId === userId)?.step ?? -1;
}

/** How long a claimer has to confirm a new event: the wait of the step they were paged in. */
function ackWaitMs(plan: LadderPlan, pos: LadderPosition, userId: string): number {
  const step = plan.steps[stepOf(pos, userId)];
  return Math.max(1, step?.ackSec ?? plan.config.familyAckSec) * 1000;
}

/** A lapsed claim: the ladder starts again from its first step, under a new round's keys. */
function restart(pos: LadderPosition, now: number): void {
  pos.round += 1;
  pos.step = -1;
  pos.stepAtMs = null;
  pos.paged = [];
  pos.unreachable = [];
  pos.finals = [];
  pos.reconfirm = null;
  pos.startedAtMs = now;
  pos.cancelUntilMs = now;
}

/** Marks a person unreachable (every channel failed) so a step made only of such people
 * is not waited on: the next step is the safety net. */
export function markUnreachable(pos: LadderPosition, userId: string): LadderPosition {
  if (pos.unreachable.includes(userId)) return pos;
  return { ...clone(pos), unreachable: [...pos.unreachable, userId] };
}
