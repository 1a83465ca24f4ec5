import type { Logger } from 'pino';
import { applyInput, applyTick } from '../domain/alert-rules.js';
import { AlertLevel, type AlertRecord, type DeviceRuleState, type RuleOptions, type RuleResult } from '../domain/alert-types.js';
import type { EventRecord, ReadingRecord } from '../domain/records.js';
import type { EdgeMetrics } from '../metrics.js';
import type { AlertStore } from './alert-store.js';
import type { CareRules } from './care-rules.js';

/** What the ingest path needs from the alert rules (see Ingestor.flush for the ordering). */
export interface AlertSink {
  /** A deduplicated reading or event (not yet committed). */
  offer(r: ReadingRecord | EventRecord, now: number): void;
  /** Periodic rules (silence, inactivity, merge windows). */
  tick(now: number): void;
  readonly hasPending: boolean;
  /** A staged revision is urgent: commit now rather than after the ingest linger, so the
   * page does not wait behind a burst of telemetry (docs/care.md §2, latency). */
  readonly urgentPending: boolean;
  /** Commits pending rule state and alert revisions; throws and keeps nothing on failure. */
  commit(now: number): void;
  /** Forgets uncommitted changes (after a failed commit). */
  restore(): void;
}

const CARE_KIND = 'fall-sensor';
/** Ticks per full pass over the devices (the ingest tick is 1 s). */
const TICK_SLICES = 10;

/**
 * Runs the pure rules over the ingest stream and stages their results for the same commit
 * flow as the telemetry outbox: Ingestor.flush commits alerts.db FIRST, then outbox.db,
 * then releases the PUBACKs. A crash between the two commits leaves the message un-acked
 * and not deduplicated; its redelivery is recognised by the rule state's recent seqs, so
 * an alert is neither lost (the other order) nor counted twice.
 */
export class AlertPipeline implements AlertSink {
  private states = new Map<string, DeviceRuleState>();
  private dirty = new Map<string, DeviceRuleState>();
  private alerts = new Map<string, AlertRecord>();
  private raised: RuleResult['raised'] = [];
  private urgent = false;
  private linkUp = true;
  private tickCursor = 0;
  private readonly ruleOpts: RuleOptions;

  constructor(
    private readonly store: AlertStore,
    private readonly rules: CareRules,
    private readonly metrics: EdgeMetrics,
    private readonly logger: Logger,
    opts: RuleOptions,
    /** Called after a commit that wrote alert revisions (wakes the uplink). */
    private readonly onAlerts: () => void = () => {},
  ) {
    this.ruleOpts = { ...opts };
    this.restore();
  }

  /** The edge's own MQTT link. While it is down the edge hears nobody, which says nothing
   * about the devices: silence and wellness restart their clocks when it comes back, or a
   * broker outage would page a wellness alarm for every resident. */
  linkChanged(up: boolean, now: number): void {
    if (up && !this.linkUp) this.ruleOpts.watchSinceMs = now;
    this.linkUp = up;
  }

  restore(): void {
    this.states = new Map(this.store.loadStates().map((s) => [s.deviceId, s]));
    this.dirty.clear();
    this.alerts.clear();
    this.raised = [];
    this.urgent = false;
  }

  get hasPending(): boolean {
    return this.dirty.size > 0;
  }

  get urgentPending(): boolean {
    return this.urgent;
  }

  offer(r: ReadingRecord | EventRecord, now: number): void {
    // Care devices: fall sensors, and whatever the cloud's care rules list.
    if (r.kind !== CARE_KIND && !this.rules.has(r.deviceId)) return;
    if (r.type === 'event' && r.eventType === 'command.result') return;
    const input = r.type === 'event'
      ? { kind: 'event' as const, deviceId: r.deviceId, site: r.site, seq: r.seq, tsMs: r.tsMs, eventType: r.eventType, attributes: r.attributes }
      : { kind: 'telemetry' as const, deviceId: r.deviceId, site: r.site, seq: r.seq, tsMs: r.tsMs, fields: r.fields };
    this.take(applyInput(this.states.get(r.deviceId), input, now), true);
  }

  tick(now: number): void {
    if (!this.linkUp) return;
    // A rotating tenth of the devices per tick: each device's silence and wellness rules
    // run every ~10 s (far finer than their minutes-to-hours thresholds), and one tick never
    // stalls the event loop for the whole fleet at once — an urgent alert queued behind
    // that stall would wait for it (measured: p99 page latency at 1,000 devices).
    const ids = [...this.states.keys()];
    if (ids.length === 0) return;
    const slice = Math.ceil(ids.length / TICK_SLICES);
    for (let i = 0; i < slice; i++) {
      const id = ids[(this.tickCursor + i) % ids.length] as string;
      const s = this.states.get(id) as DeviceRuleState;
      this.take(applyTick(s, this.rules.settingsFor(id), this.ruleOpts, now), false);
    }
    this.tickCursor = (this.tickCursor + slice) % ids.length;
  }

  /** `applied`: the result of a new message, which always changes the state (its seq joins
   * recentSeqs), so comparing the serialised states — two JSON.stringify per telemetry
   * message, a visible share of the edge's CPU at 1,000 msg/s — would be wasted. */
  private take(res: RuleResult, applied: boolean): void {
    const before = this.states.get(res.state.deviceId);
    if (before === res.state) return; // a replayed seq: nothing changed
    this.states.set(res.state.deviceId, res.state);
    // Ticks re-evaluate a slice of the devices every second; persist only real changes.
    if (applied || res.alerts.length > 0 || !before || JSON.stringify(before) !== JSON.stringify(res.state)) {
      this.dirty.set(res.state.deviceId, res.state);
    }
    for (const a of res.alerts) {
      this.alerts.set(a.id, a);
      if (a.level === AlertLevel.Urgent) this.urgent = true;
    }
    this.raised.push(...res.raised);
  }

  commit(now: number): void {
    if (this.dirty.size === 0) return;
    const alerts = [...this.alerts.values()];
    try {
      this.store.commit([...this.dirty.values()], alerts, now);
    } catch (err) {
      this.metrics.alertStoreErrors++;
      throw err;
    }
    for (const r of this.raised) {
      const byLevel = (this.metrics.alertsRaised[r.type] ??= {});
      byLevel[r.level] = (byLevel[r.level] ?? 0) + 1;
    }
    for (const a of alerts) {
      if (a.revision === 1) this.logger.info({ alertId: a.id, deviceId: a.deviceId, type: a.type, level: a.level }, 'alert raised');
    }
    this.dirty.clear();
    this.alerts.clear();
    this.raised = [];
    this.urgent = false;
    if (alerts.length > 0) this.onAlerts();
  }
}
