import { levelOf, newEvents, opensAgain } from './events.js';
import { initialPosition } from './ladder.js';
import { AlertLevel, AlertStatus, EdgeState, SystemOutcome, type AlertReport } from './model.js';
import type { AlertRecord } from './repository.js';

/**
 * What one edge report does to the cloud's alerts (docs/care.md §3). Pure: the caller runs
 * it inside the transaction that re-read `cur` (the newest cloud alert of this edge alert)
 * and writes what it returns.
 *
 * - a report at or below the stored revision changes nothing (exactly once in effect);
 * - on an open or claimed alert it merges, and counts the urgent events nobody was told of;
 * - on a closed (resolved, cancelled) alert, a new SOS, fall or long lie opens a NEW alert
 *   with a fresh ladder, linked to the closed one: a resolved alert is never reopened and
 *   never swallows a call for help.
 */

export interface TimelineNote { alertId: string; kind: string; actor: string; detail: Record<string, unknown>; atMs?: number }

export type IntakePlan =
  | { kind: 'unchanged'; alert: AlertRecord }
  | { kind: 'apply'; alert: AlertRecord; newEvents: number; timeline: TimelineNote[]; created: boolean };

export interface IntakeContext {
  now: number;
  /** for a first report: the resident the device is installed for */
  resident: { id: string; name: string } | null;
  /** how many cloud alerts this edge alert has opened so far (names a follow-up) */
  chainLength: number;
}

const OPEN: ReadonlySet<string> = new Set([AlertStatus.Raised, AlertStatus.Notifying]);
const CLOSED: ReadonlySet<string> = new Set([AlertStatus.Resolved, AlertStatus.Cancelled]);

export function planIntake(cur: AlertRecord | undefined, report: AlertReport, ctx: IntakeContext): IntakePlan {
  if (cur && report.revision <= cur.revision) return { kind: 'unchanged', alert: cur };
  const fresh = newEvents(report, cur?.seen.events ?? [], cur?.seen.fallIds ?? []);
  const timeline: TimelineNote[] = [];
  const note = (alertId: string, kind: string, actor: string, detail: Record<string, unknown> = {}): void => {
    timeline.push({ alertId, kind, actor, detail });
  };

  if (cur && CLOSED.has(cur.status) && report.state === EdgeState.Open && opensAgain(fresh)) {
    const id = `${report.id}~${ctx.chainLength + 1}`;
    const lv = levelOf(fresh.opening);
    const firstAt = Math.min(...fresh.opening.map((e) => e.atMs));
    const alert: AlertRecord = {
      ...blank(report, id, cur.residentId, cur.residentName, ctx.now), previousAlertId: cur.id,
      level: lv.level, skipCancelWindow: lv.skipCancelWindow, firstEventAtMs: Math.min(firstAt, ctx.now),
      seen: { events: fresh.seen, fallIds: fresh.fallIds },
    };
    note(cur.id, 'followed_by', 'edge', { alertId: id, events: fresh.events.map((e) => e.type) });
    note(id, 'raised', 'edge', { level: lv.level, type: report.type, residentId: cur.residentId, previousAlertId: cur.id, message: report.message ?? null });
    return { kind: 'apply', alert, newEvents: 0, timeline, created: true };
  }

  const a: AlertRecord = cur
    ? { ...cur }
    : blank(report, report.id, ctx.resident?.id ?? null, ctx.resident?.name ?? null, ctx.now);
  if (!cur) note(a.id, 'raised', 'edge', { level: report.level, type: report.type, residentId: a.residentId, message: report.message ?? null });
  else if (cur.level !== report.level && !CLOSED.has(cur.status)) note(a.id, 'level_changed', 'edge', { from: cur.level, to: report.level });
  for (const { atMs, ...e } of adoptedEdgeNotifications(cur?.report, report)) timeline.push({ alertId: a.id, kind: 'edge_notification', actor: 'edge', detail: e, atMs });
  if (cur && fresh.events.length > 0) note(a.id, 'events', 'edge', { events: fresh.events.map((e) => e.type), urgent: fresh.urgent.length });

  if (!CLOSED.has(a.status)) {
    Object.assign(a, {
      level: report.level, skipCancelWindow: report.skipCancelWindow, firstEventAtMs: Math.min(a.firstEventAtMs, report.firstEventAtMs),
    });
  }
  Object.assign(a, { revision: report.revision, edgeState: report.state, report, updatedAt: ctx.now, seen: { events: fresh.seen, fallIds: fresh.fallIds } });

  if (report.state === EdgeState.Cancelled && OPEN.has(a.status)) {
    Object.assign(a, { status: AlertStatus.Cancelled, outcome: SystemOutcome.CancelledByResident, resolvedAt: ctx.now });
    note(a.id, 'cancelled', 'resident');
  } else if (report.state === EdgeState.Cancelled && cur?.edgeState !== EdgeState.Cancelled) {
    note(a.id, 'resident_cancelled_late', 'resident', { status: a.status });
  } else if (report.state === EdgeState.Cleared && a.level === AlertLevel.Wellness && OPEN.has(a.status)) {
    Object.assign(a, { status: AlertStatus.Resolved, outcome: SystemOutcome.ConditionCleared, resolvedAt: ctx.now });
    note(a.id, 'resolved', 'edge', { outcome: a.outcome });
  } else if (report.state === EdgeState.Cleared && cur?.edgeState !== EdgeState.Cleared) {
    note(a.id, 'condition_cleared', 'edge');
  }
  // Only an alert that already paged someone (or is claimed) has people to tell of news.
  const told = cur !== undefined && !CLOSED.has(a.status) ? fresh.urgent.length : 0;
  return { kind: 'apply', alert: a, newEvents: told, timeline, created: !cur };
}

function blank(report: AlertReport, id: string, residentId: string | null, residentName: string | null, now: number): AlertRecord {
  return {
    id, edgeAlertId: report.id, previousAlertId: null, seen: { events: [], fallIds: [] }, revision: report.revision,
    deviceId: report.deviceId, site: report.site, residentId, residentName, type: report.type, level: report.level,
    skipCancelWindow: report.skipCancelWindow, edgeState: report.state, status: AlertStatus.Raised, outcome: null,
    claimedBy: null, claimedAt: null, resolvedBy: null, resolvedAt: null, note: null, firstEventAtMs: report.firstEventAtMs,
    openedAt: now, updatedAt: now, ladder: initialPosition(), nextDueAtMs: null, report,
  };
}

/** Pages the edge sent on its own, not yet on the timeline; a URL target keeps only its origin. */
function adoptedEdgeNotifications(prev: AlertReport | undefined, next: AlertReport): { channel: string; target: string; ok: boolean; atMs: number }[] {
  const seen = new Set((prev?.edgeNotifications ?? []).map((e) => `${e.channel}|${e.target}|${e.atMs}`));
  return (next.edgeNotifications ?? [])
    .filter((e) => !seen.has(`${e.channel}|${e.target}|${e.atMs}`))
    .map((e) => ({ channel: e.channel, target: redact(e.target), ok: e.ok, atMs: e.atMs }));
}

function redact(target: string): string {
  try {
    const u = new URL(target);
    return u.protocol.startsWith('http') ? u.origin : target.replace(/^mailto:/, '');
  } catch {
    return target.includes('@') ? target : '(target)';
  }
}
