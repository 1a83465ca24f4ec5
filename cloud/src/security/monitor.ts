import type { Logger } from 'pino';
import type { Lease } from '../db/lease.js';
import type { AuditLog } from '../care/contracts.js';
import { SecurityEngine, type Decision } from './engine.js';
import type { SecurityNotifier } from './notify.js';
import type { CloudCounters, RuleDefinition } from './rules.js';
import type { SecurityAlertStore } from './store.js';

export interface MonitorStats {
  samples: number;
  /** samples of the broker's counters that failed (admin API unreachable, refused, not JSON) */
  brokerSampleFailures: number;
  brokerReachable: boolean | null;
  lastSampleAt: string | null;
  openAlerts: number;
}

/** A rule on a level rather than a rate: open while `read()` is above zero, closed at zero
 * (e.g. devices below their kind's minimum firmware, firmware/update-policy.ts). */
export interface GaugeRule {
  id: string;
  description: string;
  read(): Promise<number>;
}

export interface SecurityMonitorOptions {
  rules: readonly RuleDefinition[];
  gauges?: readonly GaugeRule[];
  sampleMs: number;
  store: SecurityAlertStore;
  cloudCounters(): CloudCounters;
  /** the broker's admin API (YULAN_BROKER_ADMIN_URL with the broker token); unset: broker rules idle */
  broker?: { baseUrl: string; token: string; fetch: typeof fetch };
  notifier?: SecurityNotifier;
  audit?: AuditLog;
  /** several clouds on one database: only the holder samples (the broker's counters are the
   * same for all; alerts are the platform's). Unset: always samples. */
  lease?: Lease;
  consoleUrl(): string;
  logger: Logger;
  now?: () => number;
}

/**
 * The security monitor's I/O shell (engine.ts decides): every `sampleMs` it reads the
 * broker's counters over its admin API and the cloud's own, and opens, updates and closes
 * alerts in the store, audited, logged and sent to the operators. A failed read of the
 * broker is counted and logged (once when it starts failing, once when it recovers) and
 * decides nothing for the broker's rules; nothing here can stop the cloud.
 */
export class SecurityMonitor {
  readonly stats: MonitorStats = { samples: 0, brokerSampleFailures: 0, brokerReachable: null, lastSampleAt: null, openAlerts: 0 };
  readonly #engine: SecurityEngine;
  readonly #log: Logger;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(private readonly o: SecurityMonitorOptions) {
    this.#engine = new SecurityEngine(o.rules);
    this.#log = o.logger.child({ part: 'security-monitor' });
    this.#now = o.now ?? Date.now;
  }

  start(): void {
    if (this.#timer || this.#stopped) return;
    this.#log.info({ rules: this.o.rules.map((r) => `${r.id}=${r.threshold}/${r.windowSec}s`), sampleMs: this.o.sampleMs, broker: this.o.broker !== undefined }, 'security monitor watching');
    if (!this.o.broker) this.#log.warn('YULAN_BROKER_ADMIN_URL is not set: the broker\'s security counters are not watched');
    this.#schedule(0);
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      if (this.o.lease && !this.o.lease.held()) { this.#schedule(this.o.sampleMs); return; }
      this.#running = this.tick().then(() => undefined, (err: unknown) => { this.#log.error({ err }, 'security sample failed'); })
        .finally(() => { this.#running = undefined; this.#schedule(this.o.sampleMs); });
    }, ms);
    this.#timer.unref();
  }

  /** One sample and its decisions (the timer calls it; tests may too). */
  async tick(): Promise<Decision[]> {
    const values: Record<string, number | undefined> = {};
    const cloud = this.o.cloudCounters() as unknown as Record<string, unknown>;
    const broker = await this.#readBroker();
    for (const r of this.o.rules) {
      const counters = r.source === 'cloud' ? cloud : broker;
      values[r.id] = counters === undefined ? undefined : r.read(counters);
    }
    const at = this.#now();
    const open = await this.o.store.openByRule();
    const decisions = this.#engine.observe(at, values, open);
    for (const g of this.o.gauges ?? []) {
      let n: number;
      try {
        n = await g.read();
      } catch (err) {
        this.#log.warn({ err, rule: g.id }, 'cannot read a gauge rule; it decides nothing this round');
        continue;
      }
      const alertId = open.get(g.id);
      if (alertId === undefined && n > 0) decisions.push({ kind: 'open', rule: g.id, at, count: n });
      else if (alertId !== undefined && n === 0) decisions.push({ kind: 'close', rule: g.id, alertId, at, count: 0 });
      else if (alertId !== undefined) decisions.push({ kind: 'seen', rule: g.id, alertId, at, count: n, added: 0 });
    }
    for (const d of decisions) await this.#apply(d);
    this.stats.samples++;
    this.stats.lastSampleAt = new Date(at).toISOString();
    this.stats.openAlerts = (await this.o.store.openByRule()).size;
    return decisions;
  }

  async #readBroker(): Promise<Record<string, unknown> | undefined> {
    const b = this.o.broker;
    if (!b) return undefined;
    try {
      const res = await b.fetch(`${b.baseUrl}/admin/counters`, {
        headers: { authorization: `Bearer ${b.token}` }, signal: AbortSignal.timeout(Math.min(5000, Math.max(1000, this.o.sampleMs))),
      });
      const body: unknown = await res.json().catch(() => undefined);
      if (res.status !== 200 || typeof body !== 'object' || body === null) throw new Error(`the broker's admin API answered ${res.status}`);
      if (this.stats.brokerReachable === false) this.#log.info('broker counters readable again');
      this.stats.brokerReachable = true;
      return body as Record<string, unknown>;
    } catch (err) {
      this.stats.brokerSampleFailures++;
      if (this.stats.brokerReachable !== false) this.#log.warn({ err: (err as Error).message }, 'cannot read the broker\'s counters; its security rules wait until it answers');
      this.stats.brokerReachable = false;
      return undefined;
    }
  }

  async #apply(d: Decision): Promise<void> {
    const rule = this.#meta(d.rule);
    const at = new Date(d.at).toISOString();
    if (d.kind === 'seen') {
      await this.o.store.seen(d.alertId, at, d.count, d.added);
      return;
    }
    const alert = d.kind === 'open'
      ? await this.o.store.open({ rule: rule.id, source: rule.source, description: rule.description, threshold: rule.threshold, windowSec: rule.windowSec, at, count: d.count })
      : await this.o.store.close(d.alertId, at);
    if (!alert) return;
    const opened = d.kind === 'open';
    const event = opened ? 'security.alert.opened' as const : 'security.alert.closed' as const;
    const fields = { alertId: alert.id, rule: alert.rule, count: d.count, threshold: alert.threshold, windowSec: alert.windowSec };
    if (opened) this.#log.warn(fields, `security alert: ${alert.description}`);
    else this.#log.info({ ...fields, peak: alert.peakCount, events: alert.events }, 'security alert closed: the rate fell back');
    await this.o.audit?.record({
      actor: 'security-monitor', action: event, residentId: null, purpose: 'security monitoring',
      detail: `alert ${alert.id} ${alert.rule}: ${d.count} within ${alert.windowSec} s (threshold ${alert.threshold})`,
    }).catch((err: unknown) => this.#log.error({ err }, 'cannot audit a security alert'));
    if (this.o.notifier) {
      const delivery = await this.o.notifier.send({ event, alert, consoleUrl: this.o.consoleUrl() });
      if (delivery !== '') await this.o.store.addDelivery(alert.id, `${opened ? 'opened' : 'closed'}: ${delivery}`);
      if (delivery.includes('failed')) this.#log.warn({ alertId: alert.id, delivery }, 'a security alert did not reach every operator channel');
    }
  }

  #meta(id: string): { id: string; source: string; description: string; threshold: number; windowSec: number } {
    const r = this.o.rules.find((x) => x.id === id);
    if (r) return r;
    const g = (this.o.gauges ?? []).find((x) => x.id === id) as GaugeRule;
    return { id: g.id, source: 'cloud', description: g.description, threshold: 1, windowSec: 0 };
  }

  async close(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }
}
