import type { Logger } from 'pino';
import { CloudError, CloudErrorCode } from '../../errors.js';
import type { CareDirectory, LadderPlan } from '../contracts.js';
import { decide, initialPosition, markUnreachable } from './ladder.js';
import { AlertLevel, AlertStatus, EdgeState, NotificationKind, SystemOutcome, type AlertReport } from './model.js';
import type { AlertRecord, AlertRepository } from './repository.js';

export interface LifecycleEvents {
  /** an alert changed (re-arm the scheduler, push to the care page) */
  changed(alert: AlertRecord): void;
  /** notification rows were created and wait to be sent */
  intents(ids: string[]): void;
}

export interface IntakeResult { id: string; revision: number; status: AlertStatus; changed: boolean }

const OPEN: ReadonlySet<AlertStatus> = new Set([AlertStatus.Raised, AlertStatus.Notifying]);

/**
 * Every change to an alert goes through `mutate`: the (async) directory look-ups happen
 * first, then one synchronous SQLite transaction re-reads the alert, applies the change,
 * runs the ladder and inserts the intents. Nothing interleaves inside it, so a claim and a
 * timer firing at once cannot both win, and a crash leaves either all of it or none.
 */
export class AlertLifecycle {
  constructor(
    private readonly repo: AlertRepository,
    private readonly directory: CareDirectory,
    private readonly now: () => number,
    private readonly log: Logger,
    private readonly events: LifecycleEvents,
  ) {}

  async intake(report: AlertReport): Promise<IntakeResult> {
    const existing = this.repo.get(report.id);
    if (existing && report.revision <= existing.revision) {
      return { id: existing.id, revision: existing.revision, status: existing.status, changed: false };
    }
    const resident = existing ? null : await this.directory.residentForDevice(report.deviceId);
    const residentId = existing ? existing.residentId : resident?.id ?? null;
    const plan = await this.directory.ladderPlan(residentId, this.now());
    let result: IntakeResult | undefined;
    const alert = this.mutate(report.id, plan, (cur, now) => {
      // Re-checked inside the transaction: two deliveries of one revision race here.
      if (cur && report.revision <= cur.revision) {
        result = { id: cur.id, revision: cur.revision, status: cur.status, changed: false };
        return null;
      }
      const a: AlertRecord = cur ?? {
        id: report.id, revision: 0, deviceId: report.deviceId, site: report.site, residentId,
        residentName: resident?.name ?? null, type: report.type, level: report.level, skipCancelWindow: report.skipCancelWindow,
        edgeState: report.state, status: AlertStatus.Raised, outcome: null, claimedBy: null, claimedAt: null,
        resolvedBy: null, resolvedAt: null, note: null, firstEventAtMs: report.firstEventAtMs, openedAt: now, updatedAt: now,
        ladder: initialPosition(), nextDueAtMs: null, report,
      };
      if (!cur) this.repo.addTimeline(a.id, now, 'raised', 'edge', { level: report.level, type: report.type, residentId, message: report.message ?? null });
      else if (cur.level !== report.level) this.repo.addTimeline(a.id, now, 'level_changed', 'edge', { from: cur.level, to: report.level });
      this.adoptEdgeNotifications(a, cur?.report, report);
      Object.assign(a, {
        revision: report.revision, level: report.level, skipCancelWindow: report.skipCancelWindow, edgeState: report.state,
        firstEventAtMs: Math.min(a.firstEventAtMs, report.firstEventAtMs), report, updatedAt: now,
      });
      if (report.state === EdgeState.Cancelled && OPEN.has(a.status)) {
        a.status = AlertStatus.Cancelled;
        a.outcome = SystemOutcome.CancelledByResident;
        a.resolvedAt = now;
        this.repo.addTimeline(a.id, now, 'cancelled', 'resident', {});
      } else if (report.state === EdgeState.Cancelled) {
        this.repo.addTimeline(a.id, now, 'resident_cancelled_late', 'resident', { status: a.status });
      } else if (report.state === EdgeState.Cleared && a.level === AlertLevel.Wellness && OPEN.has(a.status)) {
        a.status = AlertStatus.Resolved;
        a.outcome = SystemOutcome.ConditionCleared;
        a.resolvedAt = now;
        this.repo.addTimeline(a.id, now, 'resolved', 'edge', { outcome: a.outcome });
      } else if (report.state === EdgeState.Cleared) {
        this.repo.addTimeline(a.id, now, 'condition_cleared', 'edge', {});
      }
      return a;
    });
    return result ?? { id: alert!.id, revision: alert!.revision, status: alert!.status, changed: true };
  }

  private adoptEdgeNotifications(a: AlertRecord, prev: AlertReport | undefined, next: AlertReport): void {
    const seen = new Set((prev?.edgeNotifications ?? []).map((e) => `${e.channel}|${e.target}|${e.atMs}`));
    for (const e of next.edgeNotifications ?? []) {
      if (seen.has(`${e.channel}|${e.target}|${e.atMs}`)) continue;
      // The target may be a URL with a token in it: keep only its origin.
      this.repo.addTimeline(a.id, e.atMs, 'edge_notification', 'edge', { channel: e.channel, target: redact(e.target), ok: e.ok });
    }
  }

  /** The ladder tick for one alert (scheduler). */
  async advance(alertId: string): Promise<void> {
    const a = this.repo.get(alertId);
    if (!a) return;
    const plan = await this.directory.ladderPlan(a.residentId, this.now());
    this.mutate(alertId, plan, (cur) => cur ?? null);
  }

  async claim(alertId: string, userId: string, via: string): Promise<AlertRecord> {
    const a = this.mustGet(alertId);
    const plan = await this.directory.ladderPlan(a.residentId, this.now());
    let holder = null as string | null;
    let closed = false as boolean;
    const out = this.mutate(alertId, plan, (cur, now) => {
      if (!cur) return null;
      if (cur.status === AlertStatus.Acknowledged) { holder = cur.claimedBy; return null; }
      if (!OPEN.has(cur.status)) { closed = true; return null; }
      Object.assign(cur, { status: AlertStatus.Acknowledged, claimedBy: userId, claimedAt: now, updatedAt: now });
      this.repo.addTimeline(cur.id, now, 'claimed', userId, { via });
      return cur;
    });
    if (holder !== null) {
      if (holder === userId) return this.mustGet(alertId);
      const name = (await this.directory.person(holder))?.name ?? holder;
      throw new CloudError(CloudErrorCode.Conflict, `alert ${alertId} is already claimed by ${name}`);
    }
    if (closed || !out) throw new CloudError(CloudErrorCode.Conflict, `alert ${alertId} is ${this.mustGet(alertId).status}; nothing to claim`);
    return out;
  }

  async resolve(alertId: string, actor: { id: string; admin: boolean }, outcome: string, note: string | null): Promise<AlertRecord> {
    const a = this.mustGet(alertId);
    const plan = await this.directory.ladderPlan(a.residentId, this.now());
    let problem = null as string | null;
    const out = this.mutate(alertId, plan, (cur, now) => {
      if (!cur) return null;
      if (!OPEN.has(cur.status) && cur.status !== AlertStatus.Acknowledged) problem = `alert ${alertId} is already ${cur.status}`;
      else if (cur.status === AlertStatus.Acknowledged && cur.claimedBy !== actor.id && !actor.admin) problem = `alert ${alertId} is claimed by someone else; only they or an admin can resolve it`;
      else if (cur.status !== AlertStatus.Acknowledged && !actor.admin) problem = `alert ${alertId} must be claimed (acknowledged) before it is resolved`;
      if (problem) return null;
      Object.assign(cur, { status: AlertStatus.Resolved, outcome, note, resolvedBy: actor.id, resolvedAt: now, updatedAt: now });
      this.repo.addTimeline(cur.id, now, 'resolved', actor.id, { outcome, note });
      return cur;
    });
    if (problem || !out) throw new CloudError(CloudErrorCode.Conflict, problem ?? `alert ${alertId} changed; try again`);
    return out;
  }

  /** Every channel of a person failed: record it and let the ladder move on at once. */
  async unreachable(alertId: string, userId: string): Promise<void> {
    const a = this.repo.get(alertId);
    if (!a) return;
    const plan = await this.directory.ladderPlan(a.residentId, this.now());
    this.mutate(alertId, plan, (cur, now) => {
      if (!cur) return null;
      cur.ladder = markUnreachable(cur.ladder, userId);
      this.repo.addTimeline(cur.id, now, 'unreachable', userId, {});
      return cur;
    });
  }

  private mustGet(alertId: string): AlertRecord {
    const a = this.repo.get(alertId);
    if (!a) throw new CloudError(CloudErrorCode.NotFound, `alert ${alertId} not found`);
    return a;
  }

  /** Apply `change` (null: leave alone), run the ladder, persist and insert intents: one transaction. */
  private mutate(alertId: string, plan: LadderPlan, change: (cur: AlertRecord | undefined, now: number) => AlertRecord | null): AlertRecord | null {
    const now = this.now();
    let ids: string[] = [];
    const saved = this.repo.tx(() => {
      const a = change(this.repo.get(alertId), now);
      if (!a) return null;
      const d = decide({
        alertId: a.id, level: a.level, skipCancelWindow: a.skipCancelWindow, status: a.status, firstEventAtMs: a.firstEventAtMs,
        claimedBy: a.claimedBy, resolvedBy: a.resolvedBy, plan, position: a.ladder, now,
      });
      a.ladder = d.position;
      a.nextDueAtMs = d.nextDueAtMs;
      if (a.status === AlertStatus.Raised && d.position.paged.length > 0) a.status = AlertStatus.Notifying;
      this.repo.save(a);
      ids = this.repo.insertIntents(d.intents, now);
      for (const i of d.intents) {
        if (i.kind === NotificationKind.Page) this.repo.addTimeline(a.id, now, 'paged', i.userId, { step: i.step, stepKind: plan.steps[i.step]?.kind ?? null });
      }
      return a;
    });
    if (saved) {
      if (ids.length > 0) this.log.info({ alertId, intents: ids.length, status: saved.status }, 'alert notifications queued');
      this.events.changed(saved);
      if (ids.length > 0) this.events.intents(ids);
    }
    return saved;
  }
}

function redact(target: string): string {
  try {
    const u = new URL(target);
    return u.protocol.startsWith('http') ? u.origin : target.replace(/^mailto:/, '');
  } catch {
    return target.includes('@') ? target : '(target)';
  }
}
