import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { registerAirRoutes } from './air/air-routes.js';
import { AirService } from './air/air-service.js';
import { checkDataPermissions, dataEvents, ensurePrivateDir, markInUse, startHttpsListener, type HttpsListener } from '@yulan/protos';
import { startAlerting, type Alerting } from './alerts/alerting.js';
import type { EdgeConfig } from './config.js';
import { eraseDeviceData } from './erase.js';
import { Forwarder } from './forwarder.js';
import { buildHttpApi } from './http-api.js';
import { Ingestor } from './ingest.js';
import { LatestCache } from './latest-cache.js';
import { createMetrics, type EdgeMetrics } from './metrics.js';
import { startMqttSource, type MqttSource } from './mqtt-source.js';
import { Outbox } from './outbox.js';
import { InfluxStore } from './store/influx-store.js';
import { SqliteStore } from './store/sqlite-store.js';
import { Retention } from './retention.js';
import type { TelemetryStore } from './store/store.js';
import { startEmbeddedNodeRed, type EmbeddedNodeRed } from './node-red.js';

export interface EdgeHandle {
  httpPort: number;
  /** The embedded Node-RED, when enabled (YULAN_NODE_RED=1 or a flow file). */
  nodeRed?: EmbeddedNodeRed;
  /** the HTTPS query API, when YULAN_TLS_CERT_FILE/KEY_FILE are set */
  httpsPort?: number;
  metrics(): EdgeMetrics;
  close(): Promise<void>;
}

const TICK_MS = 1000;
/** The AQI/noise computation checks for newly settled hours this often. */
const AIR_TICK_MS = 60_000;
/** The store write waits for a pause in ingest (a burst of device messages is committed and
 * acked first), but never longer than the max: see Forwarder.kick. */
const FORWARD_SETTLE_MS = 20;
const FORWARD_SETTLE_MAX_MS = 250;

export function createStore(config: EdgeConfig, logger: Logger): TelemetryStore {
  return config.influx
    ? new InfluxStore({ ...config.influx, retention: config.retention }, logger.child({ component: 'influxdb' }))
    : new SqliteStore(join(config.dataDir, 'telemetry.db'));
}

/**
 * Starts the edge agent: outbox + store, forwarder, HTTP API, then MQTT last so nothing is
 * consumed before it can be stored. The store may be down at start (InfluxDB): the agent
 * buffers in the outbox and the forwarder keeps retrying.
 */
export async function startEdge(config: EdgeConfig, logger: Logger): Promise<EdgeHandle> {
  // File safety (docs/deploy.md): warn about every path others can read, keep running.
  ensurePrivateDir(config.dataDir);
  for (const p of checkDataPermissions(config.dataDir)) logger.warn({ path: p.path, mode: p.mode, fix: p.fix }, p.message);
  const onMigrating = (e: object): void => logger.warn(e, 'database schema upgrade (a copy was taken first)');
  dataEvents.on('migrating', onMigrating);
  const metrics = createMetrics();
  let outbox: Outbox;
  try {
    outbox = new Outbox(join(config.dataDir, 'outbox.db'), config.outboxMaxRows);
  } catch (err) {
    dataEvents.off('migrating', onMigrating);
    throw err;
  }
  const unmark = markInUse(config.dataDir, 'edge');
  metrics.outboxDepth = outbox.depth;
  const store = createStore(config, logger);
  const latest = new LatestCache();
  let source: MqttSource | undefined;
  let forwarder: Forwarder | undefined;
  let tick: NodeJS.Timeout | undefined;
  let airTick: NodeJS.Timeout | undefined;
  let app: ReturnType<typeof buildHttpApi> | undefined;
  let https: HttpsListener | undefined;
  let alerting: Alerting | undefined;
  let retention: Retention | undefined;
  try {
    alerting = startAlerting(config, metrics, logger);
    const alerts = alerting;
    await store.init();
    latest.seed(await store.latest().catch((err: unknown) => {
      logger.warn({ err }, 'could not seed latest readings from the store');
      return [];
    }));
    forwarder = new Forwarder(outbox, store, metrics, logger.child({ component: 'forwarder' }), {
      batchSize: config.batchSize, settleMs: FORWARD_SETTLE_MS, settleMaxMs: FORWARD_SETTLE_MAX_MS,
    });
    const fwd = forwarder;
    const ingestor = new Ingestor(outbox, metrics, latest, logger.child({ component: 'ingest' }), {
      maxFutureSkewMs: config.maxFutureSkewMs,
      graceMs: config.windowGraceMs,
      lateRetentionMs: config.lateRetentionMs,
      maxPending: Math.max(100, Math.min(config.batchSize, 5000)),
      alerts: alerts.pipeline,
    }, () => fwd.kick(), () => source?.reconnect());
    forwarder.start();
    if (store instanceof SqliteStore) {
      retention = new Retention(store, config.retention, (fn) => fwd.exclusive(fn), metrics, logger.child({ component: 'retention' }), config.retentionTunables);
      retention.start();
    }
    tick = setInterval(() => ingestor.tick(), TICK_MS);
    tick.unref();

    app = buildHttpApi({
      token: config.token, store, latest, metrics: () => snapshot(), outboxDepth: () => outbox.depth,
      alerts: (limit, deviceId) => alerts.recent(limit, deviceId),
      erase: (q) => eraseDeviceData({ ingestor, outbox, forwarder: fwd, store, latest, logger }, q),
      logger: logger.child({ component: 'http' }),
    });
    registerAirRoutes(app, store, Date.now, config.air.aqiAlertLevel);
    await app.listen({ host: config.plainHost ?? config.httpHost, port: config.httpPort });
    const httpPort = (app.server.address() as AddressInfo).port;
    if (config.tls) {
      const a = app;
      https = await startHttpsListener((req, res) => a.routing(req, res), {
        files: config.tls, host: config.httpHost, port: config.tls.httpsPort, logger: logger.child({ component: 'https' }),
      });
    }

    source = startMqttSource(
      { url: config.mqttUrl, clientId: config.clientId, username: config.mqttUsername, password: config.mqttPassword,
        ...(config.tlsCaFile !== undefined ? { ca: readFileSync(config.tlsCaFile) } : {}) },
      logger.child({ component: 'mqtt' }),
      (topic, payload, ack) => ingestor.accept(topic, payload, ack),
      (up) => {
        metrics.mqttConnected = up;
        alerts.pipeline.linkChanged(up, Date.now());
      },
    );
    const air = new AirService({
      store, config: config.air, logger: logger.child({ component: 'air' }),
      settleMs: config.windowGraceMs + config.lateRetentionMs + 60_000,
      monitors: () => Object.entries(latest.get()).filter(([, e]) => e.kind === 'env-monitor').map(([deviceId, e]) => ({ deviceId, site: e.site })),
      emit: (records) => {
        outbox.commit(records);
        metrics.outboxDepth = outbox.depth;
        fwd.kick();
      },
    });
    const airLog = logger.child({ component: 'air' });
    airTick = setInterval(() => {
      air.run(Date.now()).catch((err: unknown) => airLog.warn({ err }, 'air-quality computation failed; retried next minute'));
    }, AIR_TICK_MS);
    airTick.unref();
    const nodeRed = config.nodeRed
      ? await startEmbeddedNodeRed({ dataDir: config.dataDir, ...config.nodeRed, logger })
      : undefined;
    dataEvents.off('migrating', onMigrating);
    logger.info({ httpPort, store: store.name, outbox: outbox.depth, nodeRed: nodeRed?.url }, 'edge agent started');

    const snapshot = (): EdgeMetrics => {
      alerts.refreshGauges(metrics, Date.now());
      return {
        ...metrics, outboxDepth: outbox.depth, deadLetters: { ...metrics.deadLetters },
        alertsRaised: structuredClone(metrics.alertsRaised), fallbackPages: { ...metrics.fallbackPages },
      };
    };
    let closing: Promise<void> | undefined;
    return {
      httpPort,
      ...(nodeRed ? { nodeRed } : {}),
      ...(https ? { httpsPort: https.port } : {}),
      metrics: snapshot,
      close() {
        closing ??= (async () => {
          await nodeRed?.close();
          clearInterval(tick);
          clearInterval(airTick);
          const src = source as MqttSource;
          // Commit what is pending and send its acks before DISCONNECT; unacked messages
          // stay in the broker session and come back on the next start.
          await src.close(() => {
            ingestor.tick();
            ingestor.flush();
          }).catch((err: unknown) => logger.warn({ err }, 'mqtt close failed'));
          await https?.close();
          await app?.close();
          await air.idle();
          await retention?.close();
          await fwd.stop();
          await alerts.close();
          await store.close();
          outbox.close();
          unmark();
          logger.info({ outbox: metrics.outboxDepth }, 'edge agent stopped');
        })();
        return closing;
      },
    };
  } catch (err) {
    clearInterval(tick);
    clearInterval(airTick);
    await source?.close().catch(() => {});
    await https?.close().catch(() => {});
    await app?.close().catch(() => {});
    await retention?.close().catch(() => {});
    await forwarder?.stop(0).catch(() => {});
    await store.close().catch(() => {});
    await alerting?.close().catch(() => {});
    outbox.close();
    dataEvents.off('migrating', onMigrating);
    unmark();
    throw err;
  }
}
