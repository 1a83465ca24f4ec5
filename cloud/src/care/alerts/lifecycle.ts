import type { Logger } from 'pino';
import { CloudError, CloudErrorCode } from '../../errors.js';
import type { CareDirectory, LadderPlan } from '../contracts.js';
import { planIntake } from './intake.js';
import { DEFAULT_SAFETY, FALLBACK_USER, decide, markUnreachable, type LadderNote, type SafetyPolicy } from './ladder.js';
import { AlertStatus, NotificationKind, type AlertReport } from './model.js';
import type { AlertRecord, AlertStore, AlertTarget, ChangeContext, TimelineAdd } from './store.js';

export interface LifecycleEvents {
  /** an alert changed (re-arm the scheduler, push to the care page) */
  changed(alert: AlertRecord): void;
  /** notification rows were created and wait to be sent */
  intents(ids: string[]): void;
}

export interface IntakeResult { id: string; revision: number; status: AlertStatus; changed: boolean }

const OPEN: ReadonlySet<AlertStatus> = new Set([AlertStatus.Raised, AlertStatus.Notifying]);

/** What a change hands to the ladder besides the alert itself. */
interface Change { alert: AlertRecord; newEvents?: number; retryNow?: boolean }

type Target = AlertTarget;
type Tl = TimelineAdd[];

/**
 * Every change to an alert goes through `mutate`: the (async) directory look-ups happen
 * first, then one store transaction re-reads the alert with every other change to it
 * excluded (SQLite: synchronous; PostgreSQL: the row locked, on whichever cloud), applies
 * the change, runs the ladder and inserts the intents. So a claim and a timer firing at
 * once — on one cloud or two — cannot both win, and a crash leaves either all of it or none.
 */
export class AlertLifecycle {
  constructor(
    private readonly repo: AlertStore,
    private readonly directory: CareDirectory,
    private readonly now: () => number,
    private readonly log: Logger,
    private readonly events: LifecycleEvents,
    private readonly safety: SafetyPolicy = DEFAULT_SAFETY,
  ) {}

  async intake(report: AlertReport): Promise<IntakeResult> {
    const latest = await this.repo.latestForEdge(report.id);
    if (latest && report.revision <= latest.revision) {
      return { id: latest.id, revision: latest.revision, status: latest.status, changed: false };
    }
    const resident = latest ? null : await this.directory.residentForDevice(report.deviceId);
    const plan = await this.directory.ladderPlan(latest ? latest.residentId : resident?.id ?? null, this.now());
    let result: IntakeResult | undefined;
    const alert = await this.mutate({ edge: report.id }, plan, (cur, now, tl, ctx) => {
      result = undefined;
      // Re-planned inside the transaction: two deliveries of one revision race here.
      const p = planIntake(cur, report, { now, resident, chainLength: ctx.chainLength });
      if (p.kind === 'unchanged') {
        result = { id: p.alert.id, revision: p.alert.revision, status: p.alert.status, changed: false };
        return null;
      }
      for (const t of p.timeline) tl.push({ alertId: t.alertId, atMs: t.atMs ?? now, kind: t.kind, actor: t.actor, detail: t.detail });
      if (p.created && p.alert.previousAlertId) {
        this.log.warn({ alertId: p.alert.id, previousAlertId: p.alert.previousAlertId }, 'new event after the alert was closed: new alert opened');
      }
      return { alert: p.alert, newEvents: p.newEvents };
    });
    return result ?? { id: alert!.id, revision: alert!.revision, status: alert!.status, changed: true };
  }

  /**
   * The ladder tick for one alert (scheduler). Only while it is still due: with two clouds
   * both timers fire, and the first to hold the row moves the due time on, so the second
   * finds nothing due and sends nothing — each step is decided (and paged) once.
   */
  async advance(alertId: string): Promise<void> {
    const a = await this.repo.get(alertId);
    if (!a) return;
    const plan = await this.directory.ladderPlan(a.residentId, this.now());
    await this.mutate(alertId, plan, (cur, now) => (cur && cur.nextDueAtMs !== null && cur.nextDueAtMs <= now ? { alert: cur } : null));
  }

  /** Someone may have become reachable (a page opened, a person enabled or added): try
   * every unreached alert again at once instead of waiting for its next retry. */
  async retryUnreached(): Promise<number> {
    const ids = await this.repo.unreachedIds();
    for (const id of ids) {
      const a = await this.repo.get(id);
      if (!a) continue;
      const plan = await this.directory.ladderPlan(a.residentId, this.now());
      await this.mutate(id, plan, (cur) => (cur && OPEN.has(cur.status) && cur.ladder.unreachedAtMs != null ? { alert: cur, retryNow: true } : null));
    }
    return ids.length;
  }

  async claim(alertId: string, userId: string, via: string): Promise<AlertRecord> {
    const a = await this.mustGet(alertId);
    const plan = await this.directory.ladderPlan(a.residentId, this.now());
    let holder = null as string | null;
    let closed = false as boolean;
    const out = await this.mutate(alertId, plan, (cur, now, tl) => {
      holder = null;
      closed = false;
      if (!cur) return null;
      if (cur.status === AlertStatus.Acknowledged) {
        // The claimer confirming a new event they were told of keeps the claim.
        if (cur.claimedBy === userId && cur.ladder.reconfirm) {
          cur.ladder = { ...cur.ladder, reconfirm: null };
          tl.push({ alertId: cur.id, atMs: now, kind: 'update_confirmed', actor: userId, detail: { via } });
          return { alert: cur };
        }
        holder = cur.claimedBy;
        return null;
      }
      if (!OPEN.has(cur.status)) { closed = true; return null; }
      Object.assign(cur, { status: AlertStatus.Acknowledged, claimedBy: userId, claimedAt: now, updatedAt: now });
      tl.push({ alertId: cur.id, atMs: now, kind: 'claimed', actor: userId, detail: { via } });
      return { alert: cur };
    });
    if (holder !== null) {
      if (holder === userId) return await this.mustGet(alertId);
      const name = (await this.directory.person(holder))?.name ?? holder;
      throw new CloudError(CloudErrorCode.Conflict, `alert ${alertId} is already claimed by ${name}`);
    }
    if (closed || !out) throw new CloudError(CloudErrorCode.Conflict, `alert ${alertId} is ${(await this.mustGet(alertId)).status}; nothing to claim`);
    return out;
  }

  async resolve(alertId: string, actor: { id: string; admin: boolean }, outcome: string, note: string | null): Promise<AlertRecord> {
    const a = await this.mustGet(alertId);
    const plan = await this.directory.ladderPlan(a.residentId, this.now());
    let problem = null as string | null;
    const out = await this.mutate(alertId, plan, (cur, now, tl) => {
      problem = null;
      if (!cur) return null;
      if (!OPEN.has(cur.status) && cur.status !== AlertStatus.Acknowledged) problem = `alert ${alertId} is already ${cur.status}`;
      else if (cur.status === AlertStatus.Acknowledged && cur.claimedBy !== actor.id && !actor.admin) problem = `alert ${alertId} is claimed by someone else; only they or an admin can resolve it`;
      else if (cur.status !== AlertStatus.Acknowledged && !actor.admin) problem = `alert ${alertId} must be claimed (acknowledged) before it is resolved`;
      if (problem) return null;
      Object.assign(cur, { status: AlertStatus.Resolved, outcome, note, resolvedBy: actor.id, resolvedAt: now, updatedAt: now });
      tl.push({ alertId: cur.id, atMs: now, kind: 'resolved', actor: actor.id, detail: { outcome, note } });
      return { alert: cur };
    });
    if (problem || !out) throw new CloudError(CloudErrorCode.Conflict, problem ?? `alert ${alertId} changed; try again`);
    return out;
  }

  /** Every channel of a person failed: record it and let the ladder move on at once. */
  async unreachable(alertId: string, userId: string): Promise<void> {
    const a = await this.repo.get(alertId);
    if (!a) return;
    if (userId === FALLBACK_USER) {
      // The last resort failed too: nothing to move on to, so say it as loudly as we can.
      await this.repo.addTimeline({ alertId, atMs: this.now(), kind: 'fallback_failed', actor: FALLBACK_USER, detail: {} });
      this.log.error({ alertId, deviceId: a.deviceId, residentId: a.residentId }, 'ALERT UNREACHED: the fallback channels failed too; retrying');
      return;
    }
    const plan = await this.directory.ladderPlan(a.residentId, this.now());
    await this.mutate(alertId, plan, (cur, now, tl) => {
      if (!cur) return null;
      cur.ladder = markUnreachable(cur.ladder, userId);
      tl.push({ alertId: cur.id, atMs: now, kind: 'unreachable', actor: userId, detail: {} });
      return { alert: cur };
    });
  }

  private async mustGet(alertId: string): Promise<AlertRecord> {
    const a = await this.repo.get(alertId);
    if (!a) throw new CloudError(CloudErrorCode.NotFound, `alert ${alertId} not found`);
    return a;
  }

  /** Apply `change` (null: leave alone), run the ladder, persist and insert intents: one transaction. */
  private async mutate(target: Target, plan: LadderPlan, change: (cur: AlertRecord | undefined, now: number, tl: Tl, ctx: ChangeContext) => Change | null | undefined): Promise<AlertRecord | null> {
    const now = this.now();
    let notes: LadderNote[] = [];
    // Synchronous and free of side effects outside what it returns: a PostgreSQL
    // transaction retried after a serialization failure runs it again.
    const out = await this.repo.change(target, (cur, ctx) => {
      notes = [];
      const tl: Tl = [];
      const c = change(cur, now, tl, ctx);
      if (!c) return null;
      const a = c.alert;
      const d = decide({
        alertId: a.id, level: a.level, skipCancelWindow: a.skipCancelWindow, status: a.status, firstEventAtMs: a.firstEventAtMs,
        claimedBy: a.claimedBy, resolvedBy: a.resolvedBy, plan, position: a.ladder, now, safety: this.safety,
        newEvents: c.newEvents ?? 0, retryNow: c.retryNow ?? false,
      });
      a.ladder = d.position;
      a.nextDueAtMs = d.nextDueAtMs;
      if (d.status === AlertStatus.Notifying) Object.assign(a, { status: AlertStatus.Notifying, claimedBy: null, claimedAt: null, updatedAt: now });
      if (a.status === AlertStatus.Raised && d.position.paged.length > 0) a.status = AlertStatus.Notifying;
      for (const i of d.intents) {
        if (i.kind === NotificationKind.Page) tl.push({ alertId: a.id, atMs: now, kind: 'paged', actor: i.userId, detail: { step: i.step, stepKind: plan.steps[i.step]?.kind ?? (i.userId === FALLBACK_USER ? 'fallback' : null) } });
      }
      for (const n of d.notes) tl.push({ alertId: a.id, atMs: now, kind: n.kind, actor: 'system', detail: n.detail });
      notes = d.notes;
      return { alert: a, timeline: tl, intents: d.intents, now };
    });
    if (!out) return null;
    const saved = out.alert;
    const ids = out.intentIds;
    this.report(saved, notes);
    if (ids.length > 0) this.log.info({ alertId: saved.id, intents: ids.length, status: saved.status }, 'alert notifications queued');
    this.events.changed(saved);
    if (ids.length > 0) this.events.intents(ids);
    return saved;
  }

  /** The log lines an operator must see: an alert that reaches nobody is an incident. */
  private report(a: AlertRecord, notes: LadderNote[]): void {
    const ctx = { alertId: a.id, deviceId: a.deviceId, residentId: a.residentId, type: a.type };
    for (const n of notes) {
      if (n.kind === 'unreached') this.log.error({ ...ctx, ...n.detail }, 'ALERT UNREACHED: nobody could be reached in time; paging the fallback channels');
      else if (n.kind === 'no_fallback') this.log.error(ctx, 'ALERT UNREACHED and no fallback channel is configured (YULAN_CARE_FALLBACK_*)');
      else if (n.kind === 'unreached_retry') this.log.warn({ ...ctx, ...n.detail }, 'unreached alert: paging everyone again');
      else if (n.kind === 'claim_lapsed') this.log.warn({ ...ctx, ...n.detail }, 'claimer did not confirm a new event in time: escalating again');
    }
  }
}
