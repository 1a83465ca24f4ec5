import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fetchTrustingCa } from '@yulan/protos';
import type { Logger } from 'pino';
import type { EdgeConfig } from '../config.js';
import type { EdgeMetrics } from '../metrics.js';
import { AlertPipeline } from './alert-pipeline.js';
import { AlertStore, type AlertReport } from './alert-store.js';
import { AlertUplink } from './alert-uplink.js';
import { CareRules, CareRulesClient } from './care-rules.js';
import { Fallback } from './fallback.js';
import { AlertRetention } from './alert-retention.js';

/** The edge's alerting, assembled: rules (fed by ingest), uplink, care rules, fallback. */
export interface Alerting {
  pipeline: AlertPipeline;
  recent(limit: number, deviceId?: string): AlertReport[];
  /** Gauges that are cheaper to read on demand than to keep current. */
  refreshGauges(m: EdgeMetrics, nowMs: number): void;
  close(): Promise<void>;
}

export function startAlerting(config: EdgeConfig, metrics: EdgeMetrics, logger: Logger, startedAtMs = Date.now()): Alerting {
  const t = config.alerting;
  const store = new AlertStore(join(config.dataDir, 'alerts.db'));
  const log = logger.child({ component: 'alerts' });
  let uplink: AlertUplink | undefined;
  let careClient: CareRulesClient | undefined;
  let fallback: Fallback | undefined;
  try {
    const rules = new CareRules(store);
    const pipeline = new AlertPipeline(store, rules, metrics, log, { watchSinceMs: startedAtMs, warmupMs: t.warmupMs },
      () => uplink?.kick());
    if (config.cloudUrl) {
      // The cloud over https:// with a private CA (YULAN_TLS_CA_FILE).
      const cloudFetch = fetchTrustingCa(config.tlsCaFile !== undefined ? readFileSync(config.tlsCaFile) : undefined);
      uplink = new AlertUplink(store, metrics, logger.child({ component: 'alert-uplink' }), {
        cloudUrl: config.cloudUrl, token: config.token, minBackoffMs: t.uplinkMinBackoffMs, maxBackoffMs: t.uplinkMaxBackoffMs,
        timeoutMs: t.httpTimeoutMs, fetch: cloudFetch,
      });
      uplink.start();
      careClient = new CareRulesClient(rules, metrics, logger.child({ component: 'care-rules' }), {
        cloudUrl: config.cloudUrl, token: config.token, refreshMs: t.careRulesRefreshMs, timeoutMs: t.httpTimeoutMs, fetch: cloudFetch,
      });
      careClient.start();
    } else {
      log.warn('YULAN_CLOUD_URL is not set: alerts are kept at the edge and paged only through the fallback channels');
    }
    fallback = new Fallback(store, config.fallback, metrics, logger.child({ component: 'fallback' }), {
      retryDelaysMs: t.fallbackRetryDelaysMs, timeoutMs: t.httpTimeoutMs, checkEveryMs: t.fallbackCheckMs,
    }, () => uplink?.kick());
    if (fallback.channels.length === 0) {
      log.warn('no edge fallback channel configured (YULAN_EDGE_FALLBACK_WEBHOOK_URL / YULAN_EDGE_FALLBACK_SMTP_URL): '
        + 'an urgent alert could reach nobody while the cloud is unreachable');
    }
    fallback.start();
    const retention = new AlertRetention(store, config.alertRetentionDays, log);
    retention.start();
    metrics.alertsPending = store.pendingCount();
    const fb = fallback;
    return {
      pipeline,
      recent: (limit, deviceId) => store.recent(limit, deviceId),
      refreshGauges(m, nowMs) {
        m.careRulesAgeMs = rules.ageMs(nowMs);
        m.alertsPending = store.pendingCount();
      },
      async close() {
        await retention.close();
        await careClient?.stop();
        await uplink?.stop();
        await fb.stop();
        store.close();
      },
    };
  } catch (err) {
    void careClient?.stop();
    void uplink?.stop();
    void fallback?.stop();
    store.close();
    throw err;
  }
}
