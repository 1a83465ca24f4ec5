import type { Logger } from 'pino';
import type { AlertSink } from './alerts/alert-pipeline.js';
import { AddResult, Aggregator, type AggregatorOptions } from './domain/aggregator.js';
import { DeadLetterReason, decodeMessage } from './domain/decode.js';
import { Deduper, SeqVerdict } from './domain/dedupe.js';
import type { StoreRecord } from './domain/records.js';
import { EdgeError, EdgeErrorCode } from './errors.js';
import type { LatestCache } from './latest-cache.js';
import { RateLimitedLog, type EdgeMetrics } from './metrics.js';
import type { DeviceStateRow, Outbox } from './outbox.js';

export interface IngestOptions extends AggregatorOptions {
  maxFutureSkewMs: number;
  /** Commit early when this many messages are pending. */
  maxPending: number;
  /** How long the first pending message waits for company before the commit (ms).
   * Per-commit cost dominates at high rates, so a few ms of ack latency buys throughput. */
  linger?: number;
  now?: () => number;
  /** Edge alert rules, fed after dedupe and committed before the acks (docs/care.md §2). */
  alerts?: AlertSink;
}

export type Ack = () => void;

/**
 * The ingest hot path: decode → validate → dedupe → aggregate → outbox, synchronously per
 * message; records and acknowledgements accumulate for a few ms (`linger`) or up to
 * `maxPending`, then go to SQLite in one transaction and only after that are the acks
 * released, in arrival order (MQTT requires PUBACKs in PUBLISH order). Sharing one commit
 * between many messages is what makes high rates possible without losing at-least-once.
 */
export class Ingestor {
  private deduper = new Deduper();
  private aggregator: Aggregator;
  private records: StoreRecord[] = [];
  private acks: Ack[] = [];
  private touched = new Set<string>();
  private scheduled: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  private readonly dlLog = new RateLimitedLog();

  constructor(
    private readonly outbox: Outbox,
    private readonly metrics: EdgeMetrics,
    private readonly latest: LatestCache,
    private readonly logger: Logger,
    private readonly opts: IngestOptions,
    /** Called after each successful commit (wakes the forwarder). */
    private readonly onCommit: () => void = () => {},
    /** Called when a commit failed: unacked messages must be redelivered. */
    private readonly onCommitFailure: () => void = () => {},
  ) {
    this.now = opts.now ?? Date.now;
    this.aggregator = new Aggregator(opts);
    this.restore();
  }

  /** Rebuilds dedupe and aggregation state from the outbox DB (start, or after a failed commit). */
  private restore(): void {
    this.deduper = new Deduper();
    this.aggregator = new Aggregator(this.opts);
    this.opts.alerts?.restore();
    for (const s of this.outbox.loadStates()) {
      if (s.dedupe) this.deduper.importState(s.deviceId, s.dedupe);
      if (s.agg) this.aggregator.importState(s.agg);
    }
  }

  /** Returns true when the message committed an urgent alert: the caller should then let the
   * event loop turn before handing over the next message, so the uplink's POST starts now
   * rather than after the rest of the socket chunk (MQTT.js parses a chunk in one go). */
  accept(topic: string, payload: Uint8Array, ack: Ack): boolean {
    const m = this.metrics;
    m.received++;
    this.acks.push(ack);
    const now = this.now();
    const d = decodeMessage(topic, payload, { nowMs: now, maxFutureSkewMs: this.opts.maxFutureSkewMs });
    if (!d.ok) {
      this.deadLetter(d.reason, topic, d.detail, now);
    } else {
      m.decoded++;
      const r = d.record;
      if (r.type === 'presence') {
        this.records.push(r);
      } else {
        const verdict = this.deduper.admit(r.deviceId, r.seq, r.tsMs);
        if (verdict === SeqVerdict.Duplicate) {
          m.duplicates++;
        } else if (verdict === SeqVerdict.Stale) {
          this.deadLetter(DeadLetterReason.StaleSeq, topic, `seq ${r.seq}`, now);
        } else {
          this.touched.add(r.deviceId);
          this.records.push(r);
          this.opts.alerts?.offer(r, now);
          if (r.type === 'reading') {
            this.latest.offerReading(r);
            const res = this.aggregator.add(r, r.tsMs, r.fields, now);
            if (res === AddResult.TooLate) m.lateForAggregation++;
          }
        }
      }
    }
    // An urgent alert revision commits at once, with whatever telemetry arrived before it
    // (acks stay in arrival order): the linger buys throughput for bulk telemetry, but a
    // timer fires only between socket reads, so under a burst the page would wait for the
    // rest of the burst to be decoded first.
    const urgent = this.opts.alerts?.urgentPending === true;
    if (urgent || this.acks.length >= this.opts.maxPending) this.flush();
    else this.scheduled ??= setTimeout(() => this.flush(), this.opts.linger ?? 5);
    return urgent;
  }

  private deadLetter(reason: DeadLetterReason, topic: string, detail: string, now: number): void {
    this.metrics.deadLetters[reason] = (this.metrics.deadLetters[reason] ?? 0) + 1;
    const suppressed = this.dlLog.allow(reason, now);
    if (suppressed >= 0) this.logger.warn({ reason, topic: topic.slice(0, 200), detail, suppressed }, 'dead-lettered message');
  }

  /** Closes due aggregation windows into the outbox and runs the periodic alert rules.
   * Called on a timer. */
  tick(): void {
    const now = this.now();
    this.opts.alerts?.tick(now);
    const { aggregates, changed } = this.aggregator.collect(now);
    if (aggregates.length === 0 && changed.length === 0 && !this.opts.alerts?.hasPending) return;
    for (const a of aggregates) this.records.push(a);
    for (const id of changed) this.touched.add(id);
    this.flush();
  }

  /** Erasure: commits what is pending (so the outbox holds it and can drop it), then
   * drops the device's aggregation windows overlapping [fromMs, toMs) and persists that. */
  forget(deviceId: string, fromMs: number, toMs: number): void {
    const errors = this.metrics.outboxErrors;
    this.flush();
    if (this.aggregator.forget(deviceId, fromMs, toMs)) {
      this.touched.add(deviceId);
      this.flush();
    }
    // A failed commit restored the windows from the outbox DB: the erasure did not happen.
    if (this.metrics.outboxErrors !== errors) throw new EdgeError(EdgeErrorCode.Outbox, 'could not persist the erasure of aggregation windows');
  }

  /** Commits pending records + state, then releases the acks. Synchronous. */
  flush(): void {
    if (this.scheduled) {
      clearTimeout(this.scheduled);
      this.scheduled = undefined;
    }
    const alerts = this.opts.alerts;
    if (this.acks.length === 0 && this.records.length === 0 && this.touched.size === 0 && !alerts?.hasPending) return;
    const records = this.records;
    const acks = this.acks;
    const states: DeviceStateRow[] = [];
    for (const id of this.touched) {
      const dedupe = this.deduper.exportState(id);
      const agg = this.aggregator.exportState(id);
      states.push({ deviceId: id, ...(dedupe ? { dedupe } : {}), ...(agg ? { agg } : {}) });
    }
    this.records = [];
    this.acks = [];
    this.touched = new Set();
    try {
      // Alerts first: if the outbox commit then fails, the redelivered message is known to
      // the rule state (recent seqs) and counts once; the reverse order could lose an alert.
      alerts?.commit(this.now());
      this.metrics.droppedUnderPressure += this.outbox.commit(records, states);
    } catch (err) {
      // Nothing was stored and nothing is acknowledged: forget what memory believed and
      // let the broker redeliver those messages.
      this.metrics.outboxErrors++;
      this.logger.error({ err, messages: acks.length }, 'commit failed (alerts.db or outbox.db); messages will be redelivered');
      this.restore();
      this.onCommitFailure();
      return;
    }
    this.metrics.outboxDepth = this.outbox.depth;
    for (const a of acks) a();
    if (records.length > 0) this.onCommit();
  }
}
