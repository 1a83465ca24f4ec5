import type { Logger } from 'pino';
import type { Lease } from '../db/lease.js';
import type { AlertStore } from './alerts/store.js';
import type { AuditEntry } from './contracts.js';

/** What retention needs of the audit log (people). */
export interface PrunableAudit {
  pruneOldest(cutoffMs: number, limit: number): number | Promise<number>;
  record(e: AuditEntry): Promise<void>;
}

/** How long the cloud keeps care records (README "Configuration", docs/deploy.md "Retention"). */
export interface CareRetentionConfig {
  /** resolved alerts with their timeline and notifications; 0 = keep forever */
  alertsDays: number;
  /** audit rows (who read or changed what); 0 = keep forever */
  auditDays: number;
}

export const CARE_RETENTION_DEFAULTS: CareRetentionConfig = { alertsDays: 1825, auditDays: 2190 };

export interface CareRetentionTunables {
  batch: number;
  /** pause between batches, so the request path gets the database in between */
  pauseMs: number;
  firstAfterMs: number;
  everyMs: number;
}

const TUNABLES: CareRetentionTunables = { batch: 500, pauseMs: 20, firstAfterMs: 10_000, everyMs: 3_600_000 };
const DAY_MS = 86_400_000;

/**
 * Prunes care records by age, incrementally: small transactions with a pause between, so
 * alert intake and the care page never wait behind a long delete. Open alerts are never
 * touched. Each pass that removed audit rows records itself in the audit log, so the gap
 * a reader sees is explained.
 *
 * Several clouds on one database: a pass runs only on the cloud holding the
 * `care-retention` lease (always held on SQLite). The deletes are idempotent anyway — a
 * holder paused past its lease and a new holder pruning at once take disjoint rows on
 * PostgreSQL (SKIP LOCKED) and at worst record two smaller passes.
 */
export class CareRetention {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private closed = false;
  private readonly t: CareRetentionTunables;

  constructor(
    private readonly alerts: AlertStore,
    private readonly audit: PrunableAudit,
    private readonly cfg: CareRetentionConfig,
    private readonly log: Logger,
    tunables: Partial<CareRetentionTunables> = {},
    private readonly now: () => number = Date.now,
    private readonly lease?: Lease,
  ) {
    this.t = { ...TUNABLES, ...tunables };
  }

  start(): void {
    if (this.cfg.alertsDays === 0 && this.cfg.auditDays === 0) return;
    void this.lease?.start().catch((err: unknown) => this.log.error({ err }, 'care retention: lease failed to start'));
    const tick = (after: number): void => {
      this.timer = setTimeout(() => {
        this.running = this.runOnce().catch((err: unknown) => this.log.error({ err }, 'care retention pass failed')).finally(() => {
          if (!this.closed) tick(this.t.everyMs);
        });
      }, after);
      this.timer.unref();
    };
    tick(this.t.firstAfterMs);
  }

  /** One pass over both; returns what it removed. */
  async runOnce(): Promise<{ alerts: number; audit: number }> {
    if (this.lease && !this.lease.held()) return { alerts: 0, audit: 0 };
    const drain = async (days: number, prune: (cutoff: number) => number | Promise<number>): Promise<number> => {
      if (days === 0) return 0;
      const cutoff = this.now() - days * DAY_MS;
      let total = 0;
      for (;;) {
        if (this.closed) return total;
        if (this.lease && !this.lease.held()) return total;
        const n = await prune(cutoff);
        total += n;
        if (n === 0) return total;
        await new Promise((r) => setTimeout(r, this.t.pauseMs));
      }
    };
    const alerts = await drain(this.cfg.alertsDays, (c) => this.alerts.pruneResolved(c, this.t.batch));
    const audit = await drain(this.cfg.auditDays, (c) => this.audit.pruneOldest(c, this.t.batch));
    if (audit > 0 || alerts > 0) {
      await this.audit.record({
        actor: 'system', action: 'retention.prune', residentId: null, purpose: 'retention',
        detail: `alerts=${alerts} auditRows=${audit} alertsDays=${this.cfg.alertsDays} auditDays=${this.cfg.auditDays}`,
      });
      this.log.info({ alerts, auditRows: audit }, 'care retention pass');
    }
    return { alerts, audit };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
    await this.lease?.close();
  }
}
