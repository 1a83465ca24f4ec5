import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsync, onRequestHookHandler } from 'fastify';
import type { Logger } from 'pino';
import type { DbTarget } from '../../db/target.js';
import type { AuditLog, CareDirectory, Channel, Locale, Recipient, ResidentAlertData } from '../contracts.js';
import { maySee } from './access.js';
import { createEmailSender, DEFAULT_WEBHOOK_BACKOFF_MS } from './channels.js';
import { Dispatcher, pagePayload, summarize } from './dispatcher.js';
import { DEFAULT_SAFETY, FALLBACK_USER, type SafetyPolicy } from './ladder.js';
import { AlertLifecycle, type IntakeResult } from './lifecycle.js';
import type { AlertReport } from './model.js';
import { openAlertStore } from './open-store.js';
import { DEFAULT_APP_RECEIPT_MS, PgAppRelay } from './pg-app-relay.js';
import type { AlertRecord, AlertStore } from './store.js';
import alertRoutes from './routes.js';
import { LadderScheduler } from './scheduler.js';
import { SseHub } from './sse-hub.js';

export { SqliteAlertStore } from './repository.js';
export { PgAlertStore } from './pg-alert-store.js';
export { openAlertStore } from './open-store.js';
export type { AlertRecord, AlertStore, NotificationRecord, TimelineEntry } from './store.js';
export { decide, initialPosition, intentKey, FALLBACK_USER, DEFAULT_SAFETY } from './ladder.js';
export type { LadderDecision, LadderInput, LadderPosition, Intent, SafetyPolicy } from './ladder.js';
export * from './model.js';
export { SseHub } from './sse-hub.js';

export interface OpenAlertsOptions {
  /** alerts.sqlite (path or ':memory:'), or the cloud's PostgreSQL database (schema `alerts`) */
  db: DbTarget;
  directory: CareDirectory;
  audit: AuditLog;
  logger: Logger;
  /** base of the care-page links in notifications; a function when known only after listen */
  publicUrl: string | (() => string);
  smtp?: { url: string; from: string };
  /** webhook retry delays (default 1 s, 2 s, 4 s, 8 s); tests pass short ones */
  webhookBackoffMs?: readonly number[];
  clock?: () => number;
  /** SSE heartbeat interval (default 15 s) */
  heartbeatMs?: number;
  /** the safety net for alerts that reach nobody (docs/care.md §3) */
  safety?: Partial<Pick<SafetyPolicy, 'claimDeadlineSec' | 'unreachedRetrySec'>>;
  /** the fallback channels (the call centre's), paged when an urgent alert reaches nobody */
  fallback?: FallbackChannels;
  /** several clouds on one database (PostgreSQL only; docs/care.md "Several clouds") */
  cluster?: Partial<ClusterTimings>;
}

export interface ClusterTimings {
  /** how often the ladder timer is re-derived from the database (another cloud's changes) */
  pollMs: number;
  /** how long a claim on a notification lasts unrenewed: a dead cloud's sends resume after it */
  claimMs: number;
  /** how often a cloud looks for notifications nobody holds */
  sweepMs: number;
  /** how long the app channel waits for a cloud holding the person's care page to confirm it (pg-app-relay.ts says why 2 s) */
  appReceiptMs: number;
}
export const DEFAULT_CLUSTER: ClusterTimings = { pollMs: 2000, claimMs: 30_000, sweepMs: 5000, appReceiptMs: DEFAULT_APP_RECEIPT_MS };

export interface FallbackChannels {
  webhook?: { url: string; secret: string };
  /** sent through `smtp` */
  emailTo?: string;
  locale?: Locale;
}

export interface AlertsModule {
  repo: AlertStore;
  residentData: ResidentAlertData;
  hub: SseHub;
  /** arms the durable ladder timer and resumes unsent notifications */
  start(): void;
  /** stops timers and in-flight sends without finishing them, then closes the database */
  close(): Promise<void>;
  intake(report: AlertReport): Promise<IntakeResult>;
  /** someone may have become reachable: retry every unreached alert now */
  retryUnreached(): Promise<number>;
  claim(alertId: string, userId: string, via: string): Promise<AlertRecord>;
  resolve(alertId: string, actor: { id: string; admin: boolean }, outcome: string, note: string | null): Promise<AlertRecord>;
  /** resolves when no notification is queued or being sent */
  idle(): Promise<void>;
  /** advances every alert that is due now (with a fake `clock`, time moves only when told) */
  runDue(): Promise<void>;
  /** stands in for `fastify.authenticate` (tests without care/people) */
  authenticate?: onRequestHookHandler;
  internals: { repo: AlertStore; directory: CareDirectory; audit: AuditLog; now: () => number };
}

export async function openAlerts(opts: OpenAlertsOptions): Promise<AlertsModule> {
  const now = opts.clock ?? Date.now;
  const log = opts.logger.child({ part: 'alerts' });
  const repo = await openAlertStore(opts.db);
  const cluster = { ...DEFAULT_CLUSTER, ...opts.cluster };
  const hub = new SseHub(log, opts.heartbeatMs);
  const email = opts.smtp ? createEmailSender(opts.smtp) : null;
  const base = (): string => (typeof opts.publicUrl === 'function' ? opts.publicUrl() : opts.publicUrl).replace(/\/+$/, '');
  let scheduler: LadderScheduler | undefined;
  let dispatcher: Dispatcher | undefined;
  let closed = false;

  const push = (alert: AlertRecord): void => {
    scheduler?.poke();
    if (closed) return;
    void summarize(alert, opts.directory)
      .then((s) => hub.alert(s, (p) => maySee(p, alert, opts.directory, repo)))
      .catch((err: unknown) => log.warn({ err }, 'alert push to care pages failed'));
  };
  // Another cloud changed an alert: this cloud's care pages and ladder timer hear of it too.
  const remoteChanged = (alertId: string): void => {
    if (closed) return;
    void repo.get(alertId).then((a) => { if (a) push(a); }, (err: unknown) => log.warn({ err, alertId }, 'reading a changed alert failed'));
  };
  const lifecycle = new AlertLifecycle(repo, opts.directory, now, log, {
    changed: push,
    intents(ids) {
      dispatcher?.enqueue(ids);
    },
  }, safetyPolicy(opts, log));
  const careUrl = (id: string): string => `${base()}/care/#alert=${encodeURIComponent(id)}`;
  const owner = `${process.pid}-${randomUUID()}`;
  // Several clouds: a page reaches the person's care page on whichever cloud holds its stream.
  const app = opts.db.kind === 'postgres'
    ? new PgAppRelay({
      db: opts.db.db, hub, cloudId: owner, log, receiptMs: cluster.appReceiptMs,
      async payloadOf(deliveryId) {
        const n = await repo.notification(deliveryId);
        const a = n && (await repo.get(n.alertId));
        if (!n || !a) return null;
        const person = (await opts.directory.person(n.userId).catch(() => null)) ?? n.recipient;
        return pagePayload(n, a, person, opts.directory, careUrl);
      },
    })
    : undefined;
  scheduler = new LadderScheduler(repo, (id) => lifecycle.advance(id), now, log, repo.shared ? cluster.pollMs : null);
  dispatcher = new Dispatcher({
    repo, directory: opts.directory, hub, email, log, now,
    careUrl,
    webhookBackoffMs: opts.webhookBackoffMs ?? DEFAULT_WEBHOOK_BACKOFF_MS,
    onUnreachable: (alertId, userId) => lifecycle.unreachable(alertId, userId),
    owner,
    claimMs: cluster.claimMs,
    sweepMs: repo.shared ? cluster.sweepMs : null,
    ...(app ? { app } : {}),
  });
  const d = dispatcher;
  const s = scheduler;

  const residentData: ResidentAlertData = {
    async exportResident(residentId) {
      const out = [];
      for (const a of await repo.alertsOfResident(residentId)) {
        const notifications = [];
        for (const n of await repo.notificationsFor(a.id)) notifications.push({ ...n, attemptLog: await repo.attempts(n.id) });
        out.push({ alert: a, timeline: await repo.timeline(a.id), notifications });
      }
      return out;
    },
    async eraseResident(residentId) {
      return repo.eraseResident(residentId);
    },
    async residentsPagedTo(userId) {
      return repo.residentsPagedTo(userId);
    },
  };

  return {
    repo,
    residentData,
    hub,
    start() {
      s.start();
      d.resume();
      void app?.start().catch((err: unknown) => log.error({ err }, 'listening for care-page requests from other clouds failed; pages open on other clouds are not reached'));
      void repo.watchRemote?.(remoteChanged).catch((err: unknown) => log.error({ err }, 'listening for other clouds\' alert changes failed; timers still poll'));
    },
    async close() {
      if (closed) return;
      closed = true;
      s.stop();
      d.stop();
      await app?.close();
      hub.closeAll();
      email?.close();
      await repo.close();
    },
    intake: (r) => lifecycle.intake(r),
    retryUnreached: () => (closed ? Promise.resolve(0) : lifecycle.retryUnreached()),
    claim: (id, userId, via) => lifecycle.claim(id, userId, via),
    resolve: (id, actor, outcome, note) => lifecycle.resolve(id, actor, outcome, note),
    idle: () => d.idle(),
    runDue: () => (closed ? Promise.resolve() : s.runNow()),
    internals: { repo, directory: opts.directory, audit: opts.audit, now },
  };
}

function safetyPolicy(opts: OpenAlertsOptions, log: Logger): SafetyPolicy {
  const f = opts.fallback;
  const channels: Channel[] = [];
  if (f?.webhook) channels.push({ type: 'webhook', address: f.webhook.url, secret: f.webhook.secret });
  if (f?.emailTo) channels.push({ type: 'email', address: f.emailTo });
  if (channels.length === 0) log.warn('no fallback channel configured (YULAN_CARE_FALLBACK_WEBHOOK_URL / _EMAIL_TO): an alert that reaches nobody can only be logged and counted');
  const fallback: Recipient | null = channels.length === 0 ? null
    : { userId: FALLBACK_USER, name: 'Fallback (call centre)', role: 'callcentre', locale: f?.locale ?? 'zh-CN', channels };
  return { ...DEFAULT_SAFETY, ...opts.safety, fallback };
}

/** The alert routes under /api/v1, when the app was given an alerts module. */
export const alertsPlugin: FastifyPluginAsync<{ alerts?: AlertsModule }> = async (fastify, opts) => {
  if (!opts.alerts) return;
  await fastify.register(alertRoutes, { alerts: opts.alerts });
};
