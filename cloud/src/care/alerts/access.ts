import type { FastifyRequest } from 'fastify';
import { CloudError, CloudErrorCode } from '../../errors.js';
import type { CareDirectory, Principal } from '../contracts.js';
import type { AlertRecord, AlertStore, NotificationRecord } from './store.js';

export const PURPOSE_HEADER = 'x-yulan-purpose';

export function principalOf(request: FastifyRequest): Principal {
  const p = request.principal;
  if (!p) throw new CloudError(CloudErrorCode.Unauthorized, 'sign in first');
  return p;
}

export function personOf(request: FastifyRequest): Principal & { kind: 'person' } {
  const p = principalOf(request);
  if (p.kind !== 'person') throw new CloudError(CloudErrorCode.Forbidden, 'this action needs a person signed in (not the admin token)');
  return p;
}

export const actorId = (p: Principal): string => (p.kind === 'person' ? p.userId : p.kind === 'api-token' ? `token:${p.tokenId}` : 'admin-token');
export const isAdmin = (p: Principal): boolean => p.kind === 'admin-token' || (p.kind === 'person' && p.role === 'admin');
/** Unassigned alerts (device linked to no resident) are for admins and operators. */
export const seesUnassigned = (p: Principal): boolean => p.kind === 'admin-token' || (p.kind === 'person' && (p.role === 'admin' || p.role === 'operator'));

export function purposeOf(request: FastifyRequest, fallback: string): string {
  const h = request.headers[PURPOSE_HEADER];
  const v = Array.isArray(h) ? h[0] : h;
  return v && v.trim() !== '' ? v.trim().slice(0, 200) : fallback;
}

/** Whether a principal may see an alert: the resident's health data, or it was paged to them. */
export async function maySee(p: Principal, a: AlertRecord, directory: CareDirectory, repo: AlertStore): Promise<boolean> {
  if (isAdmin(p)) return true;
  if (p.kind === 'person' && (await repo.notificationsFor(a.id)).some((n) => n.userId === p.userId && n.kind === 'page')) return true;
  if (a.residentId === null) return seesUnassigned(p);
  return directory.canAccess(p, a.residentId, 'health');
}

/** The events an alert answers for: a follow-up's report still carries its predecessor's. */
function ownEvents(a: AlertRecord): AlertRecord['report']['events'] {
  const events = a.report.events ?? [];
  return a.previousAlertId === null ? events : events.filter((e) => e.atMs >= a.firstEventAtMs);
}

export function alertView(a: AlertRecord) {
  return {
    id: a.id, revision: a.revision, deviceId: a.deviceId, site: a.site, residentId: a.residentId, residentName: a.residentName,
    unassigned: a.residentId === null, type: a.type, level: a.level, edgeState: a.edgeState, status: a.status, outcome: a.outcome,
    claimedBy: a.claimedBy, claimedAt: a.claimedAt, resolvedBy: a.resolvedBy, resolvedAt: a.resolvedAt, note: a.note,
    message: a.report.message ?? null, eventCount: a.previousAlertId === null ? a.report.eventCount : ownEvents(a).length,
    // The device events (the last 20, oldest first): the care page lists them, repeats
    // collapsed. A follow-up alert shows only what came after the alert it follows.
    events: ownEvents(a).map((e) => ({ type: e.type, atMs: e.atMs })),
    firstEventAtMs: a.firstEventAtMs, openedAt: a.openedAt, updatedAt: a.updatedAt, nextDueAtMs: a.nextDueAtMs, ladderStep: a.ladder.step,
    previousAlertId: a.previousAlertId, unreached: (a.ladder.unreachedAtMs ?? null) !== null,
    awaitingConfirmation: a.ladder.reconfirm?.userId ?? null,
  };
}

export function notificationView(n: NotificationRecord) {
  return {
    id: n.id, userId: n.userId, step: n.step, kind: n.kind, channelIndex: n.channelIndex, channelType: n.channelType, status: n.status,
    attempts: n.attempts, createdAt: n.createdAt, sentAt: n.sentAt, deliveredAt: n.deliveredAt, readAt: n.readAt, error: n.error,
  };
}

/** Response times measured from the device's first event (docs/care.md §4). */
export function metricsOf(a: AlertRecord, ns: NotificationRecord[]) {
  const pages = ns.filter((n) => n.kind === 'page');
  const min = (xs: (number | null)[]): number | null => {
    const v = xs.filter((x): x is number => x !== null);
    return v.length ? Math.min(...v) : null;
  };
  const since = (t: number | null): number | null => (t === null ? null : Math.max(0, t - a.firstEventAtMs));
  return {
    firstNotificationMs: since(min(pages.map((n) => n.sentAt ?? n.createdAt))),
    firstDeliveredMs: since(min(pages.map((n) => n.deliveredAt))),
    acknowledgedMs: since(a.claimedAt),
  };
}
