import {
  AlertLevel, AlertState, MAX_ALERT_EVENTS, alertId,
  type AlertEventRef, type AlertRecord, type AlertSlot, type AlertType, type DeviceRuleState, type RuleResult,
} from './alert-types.js';

const RANK: Record<AlertLevel, number> = { info: 0, wellness: 1, unconfirmed: 2, urgent: 3 };

export function levelAbove(a: AlertLevel, b: AlertLevel): boolean {
  return RANK[a] > RANK[b];
}

interface Touched {
  slot: AlertSlot;
  fromRevision: number;
  fromLevel: AlertLevel | null;
}

/**
 * Collects the changes one input makes to a device's alerts, so that an alert changed
 * twice by one input (merged and upgraded) still gets exactly one new revision.
 */
export class AlertDraft {
  private readonly touched = new Map<string, Touched>();

  constructor(readonly s: DeviceRuleState, readonly now: number) {}

  /** Marks a slot's alert as changed (call BEFORE mutating it). */
  touch(slot: AlertSlot): AlertRecord {
    const a = slot.alert;
    if (!this.touched.has(a.id)) this.touched.set(a.id, { slot, fromRevision: a.revision, fromLevel: a.revision === 0 ? null : a.level });
    slot.touchedAtMs = this.now;
    return a;
  }

  /** Opens a new alert in the type's slot (replacing a closed one). */
  open(type: AlertType, firstSeq: number | string, ev: AlertEventRef | null, p: {
    level: AlertLevel; skipCancelWindow?: boolean; confirmed?: boolean; message: string; state?: AlertState; atMs?: number;
  }): AlertSlot {
    const at = ev?.atMs ?? p.atMs ?? this.now;
    const alert: AlertRecord = {
      id: alertId(this.s.deviceId, type, firstSeq), revision: 0, deviceId: this.s.deviceId, site: this.s.site,
      type, level: p.level, state: p.state ?? AlertState.Open, skipCancelWindow: p.skipCancelWindow ?? false,
      confirmed: p.confirmed ?? false, openedAtMs: this.now, updatedAtMs: this.now, firstEventAtMs: at, lastEventAtMs: at,
      eventCount: ev ? 1 : 0, events: ev ? [ev] : [], message: p.message,
    };
    const slot: AlertSlot = { alert, closed: alert.state !== AlertState.Open, fallIds: [], touchedAtMs: this.now };
    this.s.slots[type] = slot;
    this.touch(slot);
    return slot;
  }

  /** Adds a merged event (eventCount++, lastEventAtMs). */
  merge(slot: AlertSlot, ev: AlertEventRef): AlertRecord {
    const a = this.touch(slot);
    a.eventCount++;
    a.events = [...a.events, ev].slice(-MAX_ALERT_EVENTS);
    a.firstEventAtMs = Math.min(a.firstEventAtMs, ev.atMs);
    a.lastEventAtMs = Math.max(a.lastEventAtMs, ev.atMs);
    return a;
  }

  /** Raises level/flags, never lowers them; a closed (cancelled/cleared) alert is never
   * upgraded — once the resident said "I'm fine" that alert stays down. */
  upgrade(slot: AlertSlot, p: { level: AlertLevel; skipCancelWindow?: boolean; confirmed?: boolean; message?: string }): void {
    const a = slot.alert;
    if (a.state !== AlertState.Open) return;
    const up = levelAbove(p.level, a.level) || (p.skipCancelWindow && !a.skipCancelWindow) || (p.confirmed && !a.confirmed);
    if (!up) return;
    this.touch(slot);
    if (levelAbove(p.level, a.level)) a.level = p.level;
    if (p.skipCancelWindow) a.skipCancelWindow = true;
    if (p.confirmed) a.confirmed = true;
    if (p.message) a.message = p.message;
  }

  /** Ends an open alert (cancelled or cleared); it leaves the merge set. */
  close(slot: AlertSlot, state: AlertState, message: string): void {
    if (slot.alert.state !== AlertState.Open) return;
    const a = this.touch(slot);
    a.state = state;
    a.message = message;
    slot.closed = true;
  }

  result(): RuleResult {
    const alerts: AlertRecord[] = [];
    const raised: RuleResult['raised'] = [];
    for (const t of this.touched.values()) {
      const a = t.slot.alert;
      a.revision = t.fromRevision + 1;
      a.updatedAtMs = this.now;
      a.site = this.s.site;
      alerts.push(structuredClone(a));
      if (t.fromLevel === null || levelAbove(a.level, t.fromLevel)) raised.push({ type: a.type, level: a.level });
    }
    return { state: this.s, alerts, raised };
  }
}
