import type { LagSummary } from './lag-histogram.js';

/** Counters of the edge agent, exposed on GET /metrics and by `EdgeHandle.metrics()`. */
export interface EdgeMetrics {
  received: number;
  /** Passed decoding and validation (duplicates included). */
  decoded: number;
  duplicates: number;
  deadLetters: Record<string, number>;
  /** Readings whose 1-minute window had already been forgotten (raw still stored). */
  lateForAggregation: number;
  outboxDepth: number;
  outboxErrors: number;
  written: number;
  droppedUnderPressure: number;
  /** Records the store refused as invalid (non-retryable) and that were discarded. */
  rejectedByStore: number;
  storeErrors: number;
  storeUp: boolean;
  /** Edge clock minus device time of the newest record in the last written batch. */
  lastWriteLagMs: number;
  /** Device time → store acknowledgement, over every reading and event written so far. */
  writeLag: LagSummary;
  mqttConnected: boolean;
  /** Alerts that reached a level, by type then level (new alerts and upgrades). */
  alertsRaised: Record<string, Record<string, number>>;
  /** Alert revisions not yet accepted by the cloud (rejected ones excluded). */
  alertsPending: number;
  alertsDelivered: number;
  /** Revisions the cloud refused permanently (4xx other than 408/429): dead-lettered. */
  alertsRejected: number;
  /** Retryable uplink failures (network, timeout, 5xx, 408, 429). */
  alertUplinkErrors: number;
  alertStoreErrors: number;
  fallbackPages: { ok: number; failed: number };
  /** Age of the care rules in force; -1 = never fetched (defaults). */
  careRulesAgeMs: number;
  careRulesFetches: number;
  careRulesErrors: number;
  /** Rows deleted by retention (SQLite store), and completed passes over every table. */
  retentionPruned: number;
  retentionPasses: number;
}

export function createMetrics(): EdgeMetrics {
  return {
    retentionPruned: 0, retentionPasses: 0,
    received: 0, decoded: 0, duplicates: 0, deadLetters: {}, lateForAggregation: 0, outboxDepth: 0,
    outboxErrors: 0, written: 0, droppedUnderPressure: 0, rejectedByStore: 0, storeErrors: 0, storeUp: false,
    lastWriteLagMs: 0, writeLag: { count: 0, p50: 0, p90: 0, p99: 0, max: 0 }, mqttConnected: false,
    alertsRaised: {}, alertsPending: 0, alertsDelivered: 0, alertsRejected: 0, alertUplinkErrors: 0, alertStoreErrors: 0,
    fallbackPages: { ok: 0, failed: 0 }, careRulesAgeMs: -1, careRulesFetches: 0, careRulesErrors: 0,
  };
}

/** Logs at most one line per `intervalMs` per key, reporting how many were suppressed —
 * a device spamming garbage must not turn the log into the bottleneck. */
export class RateLimitedLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();
  constructor(private readonly intervalMs = 10_000) {}

  /** Returns the number suppressed since the last emitted line, or -1 to stay quiet. */
  allow(key: string, nowMs: number): number {
    const e = this.last.get(key);
    if (e && nowMs - e.at < this.intervalMs) {
      e.suppressed++;
      return -1;
    }
    const suppressed = e?.suppressed ?? 0;
    this.last.set(key, { at: nowMs, suppressed: 0 });
    return suppressed;
  }
}
