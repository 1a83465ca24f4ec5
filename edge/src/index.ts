export { loadEdgeConfig, RETENTION_DEFAULTS, EDGE_DEFAULTS, ALERTING_DEFAULTS, type EdgeConfig, type InfluxConfig, type AlertingTunables } from './config.js';
export { startEdge, createStore, type EdgeHandle } from './edge.js';
export { startEmbeddedNodeRed, type EmbeddedNodeRed, type EmbeddedNodeRedOptions } from './node-red.js';
export { EdgeError, EdgeErrorCode, ConfigError, StoreError, type ConfigIssue } from './errors.js';
export type { EdgeMetrics } from './metrics.js';
export { createMetrics, RateLimitedLog } from './metrics.js';

// Domain pieces (pure, no I/O) — used by the benchmark and tests.
export { decodeMessage, DeadLetterReason, MIN_DEVICE_TS_MS, type Decoded, type DecodeOptions } from './domain/decode.js';
export { Deduper, SeqVerdict, MAX_TRACK, type DedupeSnapshot } from './domain/dedupe.js';
export { Aggregator, AddResult, WINDOW_MS, type AggregatorOptions, type AggSnapshot } from './domain/aggregator.js';
export { planEviction, type EvictionInput, type EvictionPlan } from './domain/outbox-policy.js';
export * from './domain/records.js';

// Pipeline pieces with I/O at their edges.
export { Outbox, type OutboxBatch, type DeviceStateRow } from './outbox.js';
export { Ingestor, type IngestOptions, type Ack } from './ingest.js';
export { Forwarder, type ForwarderOptions } from './forwarder.js';
export { LatestCache, type LatestEntry } from './latest-cache.js';
export { eraseDeviceData, type EraseDeps, type EraseResult } from './erase.js';
export { buildHttpApi, parseTime, type HttpApiDeps } from './http-api.js';
export { startMqttSource, SUBSCRIBED_CHANNELS, type MqttSource, type MqttSourceOptions } from './mqtt-source.js';

// Telemetry stores: one interface, two implementations.
export type {
  TelemetryStore, TimeRange, RawQuery, RawPoint, AggPoint, EventPoint, LatestPoint, DeleteRange,
} from './store/store.js';
export { SqliteStore, type PruneTable } from './store/sqlite-store.js';
export { Retention, RETENTION_TUNABLES, type RetentionConfig, type RetentionTunables } from './retention.js';
export { InfluxStore } from './store/influx-store.js';
export { toLine, nsTimestamp, Measurement } from './store/influx-lines.js';

// Alerts (docs/care.md §2): pure rules, then the durable store, uplink, care rules, fallback.
export * from './domain/alert-types.js';
export { applyInput, applyTick, newDeviceState, MERGE_WINDOW_MS, LONG_LIE_LINK_MS, BATTERY_RECOVERED_PCT } from './domain/alert-rules.js';
export { activeMsBetween, localDay, atLocal, parseHhMm } from './domain/local-time.js';
export { AlertStore, PageStatus, type AlertReport, type EdgeNotification, type FallbackPage } from './alerts/alert-store.js';
export { AlertPipeline, type AlertSink } from './alerts/alert-pipeline.js';
export { AlertUplink, isRetryableStatus, backoffMs, type AlertUplinkOptions } from './alerts/alert-uplink.js';
export { CareRules, CareRulesClient, CareRulesSchema, type CareRulesBody } from './alerts/care-rules.js';
export { Fallback, type FallbackConfig, type FallbackOptions } from './alerts/fallback.js';
export { startAlerting, type Alerting } from './alerts/alerting.js';

// Air quality (HJ 633-2012, GB 3095-2012) and environmental noise (GB 3096-2008): pure.
export * from './domain/aqi-table.js';
export * from './domain/aqi.js';
export * from './domain/air-averages.js';
export * from './domain/noise.js';
export { hourMeansOf, hourlyInputs, dailyInputs, siteInputs, aqiRecord, noiseRecord, aqiEpisode, noiseEpisode, derivedSeq, DerivedEvent, AIR_FIELDS, type HourMeans, type MinutePoint } from './domain/air-index.js';
export { AirService, type AirServiceDeps, type Monitor } from './air/air-service.js';
export { airConfig, type AirConfig } from './air/air-config.js';
export { registerAirRoutes } from './air/air-routes.js';
export type { AirIndexQuery, AirIndexPoint } from './store/store.js';
export { migrateAutogen, InfluxMigrateError, parseInfluxDuration, MIGRATED_MEASUREMENTS, SOURCE_POLICY, type InfluxMigrateOptions, type InfluxMigrateResult, type MeasurementMigration } from './store/influx-migrate.js';
