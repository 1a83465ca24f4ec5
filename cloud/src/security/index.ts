import type { Logger } from 'pino';
import type { PeopleModule } from '../care/people/index.js';
import { createRefusalCounter } from './http-refusals.js';
import { SecurityMonitor, type GaugeRule } from './monitor.js';
import { SecurityNotifier } from './notify.js';
import type { RuleDefinition } from './rules.js';
import { openLease } from '../db/lease.js';
import type { DbTarget } from '../db/target.js';
import { openSecurityAlertStore, type SecurityAlertStore } from './store.js';

export { securityRoutes } from './routes.js';
export { SecurityMonitor, type GaugeRule } from './monitor.js';
export { SqliteSecurityAlertStore, openSecurityAlertStore, type SecurityAlertStore } from './store.js';
export { RULES, effectiveRules, parseRuleOverrides } from './rules.js';

export interface SecurityModule {
  store: SecurityAlertStore;
  rules: readonly RuleDefinition[];
  gauges: readonly GaugeRule[];
  sampleMs: number;
  monitor: SecurityMonitor;
  /** the onResponse hook counting refused sign-ins and credentials (http-refusals.ts) */
  countRefusals: ReturnType<typeof createRefusalCounter>['onResponse'];
  start(): Promise<void>;
  close(): Promise<void>;
}

export interface OpenSecurityOptions {
  /** `security-alerts.sqlite`, or the cloud's PostgreSQL (several clouds: one samples, by a lease) */
  target: DbTarget;
  rules: readonly RuleDefinition[];
  /** level rules (open while above zero), e.g. devices needing a firmware update */
  gauges?: readonly GaugeRule[];
  sampleMs: number;
  broker?: { baseUrl: string; token: string; fetch: typeof fetch };
  /** claim uses refused so far (claims module) */
  claimsRefused(): number;
  /** who is told (active admins and operators) and the audit log */
  people?: PeopleModule;
  smtp?: { url: string; from: string };
  consoleUrl(): string;
  logger: Logger;
  now?: () => number;
}

/** The security monitor (ETSI EN 303 645 5.10-1; docs/security.md, "Security alerts"). */
export async function openSecurity(o: OpenSecurityOptions): Promise<SecurityModule> {
  const log = o.logger.child({ part: 'security' });
  const store = await openSecurityAlertStore(o.target);
  // An alert left open by a rule since switched off would never close: close it now.
  const inForce = new Set([...o.rules.map((r) => r.id), ...(o.gauges ?? []).map((g) => g.id)]);
  for (const [rule, id] of await store.openByRule()) {
    if (!inForce.has(rule)) {
      await store.close(id, new Date((o.now ?? Date.now)()).toISOString());
      log.info({ alertId: id, rule }, 'security alert closed: its rule is switched off');
    }
  }
  const refusals = createRefusalCounter();
  const people = o.people;
  const notifier = people
    ? new SecurityNotifier({
      directory: {
        operators: async () => [...await people.repo.users.activeWithRole('admin'), ...await people.repo.users.activeWithRole('operator')]
          .map((u) => ({ id: u.id, name: u.name, channels: u.channels })),
      },
      ...(o.smtp ? { smtp: o.smtp } : {}),
      ...(o.now ? { now: o.now } : {}),
    })
    : undefined;
  // The broker's counters are one platform's: sampled by one cloud at a time, so a rate is
  // judged once and an alert's events are not added twice (docs/security.md).
  const lease = openLease(o.target, 'security-monitor', { logger: log });
  const monitor = new SecurityMonitor({ lease,
    rules: o.rules, gauges: o.gauges ?? [], sampleMs: o.sampleMs, store,
    cloudCounters: () => ({ ...refusals.counters, claimsRefused: o.claimsRefused() }),
    ...(o.broker ? { broker: o.broker } : {}),
    ...(notifier ? { notifier } : {}),
    ...(people ? { audit: people.audit } : {}),
    consoleUrl: o.consoleUrl, logger: o.logger, ...(o.now ? { now: o.now } : {}),
  });
  return {
    store, rules: o.rules, gauges: o.gauges ?? [], sampleMs: o.sampleMs, monitor, countRefusals: refusals.onResponse,
    async start() {
      await lease.start();
      monitor.start();
    },
    async close() {
      await monitor.close();
      await lease.close();
      notifier?.close();
      await store.dispose();
    },
  };
}
