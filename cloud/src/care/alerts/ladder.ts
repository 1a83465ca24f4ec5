import type { LadderPlan, LadderStep, Recipient } from '../contracts.js';
import { AlertLevel, AlertStatus, NotificationKind, type AlertStatus as Status, type NotificationKind as Kind } from './model.js';

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

export interface LadderDecision {
  position: LadderPosition;
  nextDueAtMs: number | null;
  intents: Intent[];
}

export const intentKey = (alertId: string, step: number, userId: string, kind: Kind, n: number): string =>
  `${alertId}/${step}/${userId}/${kind}/${n}`;

const FINAL_BY_STATUS: Partial<Record<Status, Kind>> = {
  [AlertStatus.Acknowledged]: NotificationKind.Claimed,
  [AlertStatus.Cancelled]: NotificationKind.Cancelled,
  [AlertStatus.Resolved]: NotificationKind.Resolved,
};

function clone(p: LadderPosition): LadderPosition {
  return { ...p, paged: p.paged.map((e) => ({ ...e })), unreachable: [...p.unreachable], finals: [...p.finals] };
}

function findRecipient(plan: LadderPlan, userId: string): Recipient | null {
  for (const s of plan.steps) for (const r of s.recipients) if (r.userId === userId) return r;
  return null;
}

export function decide(input: LadderInput): LadderDecision {
  const pos = clone(input.position);
  const intents: Intent[] = [];
  const { alertId, plan, now } = input;
  const emit = (step: number, userId: string, kind: Kind, n: number, r: Recipient | null): void => {
    intents.push({ key: intentKey(alertId, step, userId, kind, n), alertId, step, userId, kind, n, recipient: r });
  };

  // Terminal-ish states: stop paging; tell everyone paged (but the actor) what happened.
  // A resolve after a claim sends both notices, each once.
  const final = FINAL_BY_STATUS[input.status];
  if (final !== undefined) {
    const kinds: Kind[] = input.status === AlertStatus.Resolved && input.claimedBy !== null && !pos.finals.includes(NotificationKind.Claimed)
      ? [NotificationKind.Claimed, final]
      : [final];
    for (const kind of kinds) {
      if (pos.finals.includes(kind)) continue;
      pos.finals.push(kind);
      const actor = kind === NotificationKind.Claimed ? input.claimedBy : kind === NotificationKind.Resolved ? input.resolvedBy : null;
      for (const e of pos.paged) if (e.userId !== actor) emit(e.step, e.userId, kind, 0, findRecipient(plan, e.userId));
    }
    for (const e of pos.paged) e.nextReminderAtMs = null;
    return { position: pos, nextDueAtMs: null, intents };
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
    return { position: pos, nextDueAtMs: null, intents };
  }

  // Once an alert was urgent, a later downgrade does not stop the ladder: only a claim,
  // the resident's cancel or a resolve does (an alert that reaches nobody is the worst case).
  const urgent = input.level === AlertLevel.Urgent || pos.startedAtMs !== null;
  if (!urgent) return { position: pos, nextDueAtMs: null, intents };

  const cfg = plan.config;
  if (pos.startedAtMs === null) {
    pos.startedAtMs = now;
    const windowMs = input.skipCancelWindow ? 0 : cfg.cancelWindowSec * 1000;
    pos.cancelUntilMs = Math.min(now, input.firstEventAtMs) + windowMs;
  }
  if (pos.cancelUntilMs !== null && now < pos.cancelUntilMs && pos.step < 0) {
    return { position: pos, nextDueAtMs: pos.cancelUntilMs, intents };
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

  let due: number | null = null;
  const consider = (t: number | null): void => {
    if (t !== null && (due === null || t < due)) due = t;
  };
  const cur = plan.steps[pos.step];
  if (cur !== undefined && pos.step < plan.steps.length - 1 && cur.ackSec !== null && pos.stepAtMs !== null) {
    consider(pos.stepAtMs + cur.ackSec * 1000);
  }
  for (const e of pos.paged) consider(e.nextReminderAtMs);
  return { position: pos, nextDueAtMs: due, intents };
}

/** Marks a person unreachable (every channel failed) so a step made only of such people
 * is not waited on: the next step is the safety net. */
export function markUnreachable(pos: LadderPosition, userId: string): LadderPosition {
  if (pos.unreachable.includes(userId)) return pos;
  return { ...clone(pos), unreachable: [...pos.unreachable, userId] };
}
