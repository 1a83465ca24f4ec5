export { loadCloudConfig, CloudEnvSchema, type CloudConfig } from './config.js';
export { startCloud, type CloudHandle, type StartCloudOptions } from './start.js';
export { buildApp, type AppOptions, type RateLimitOptions } from './app.js';
export { CloudError, CloudErrorCode, ConfigError, HttpError } from './errors.js';
export {
  DeviceStatus,
  type DeviceRepository,
  type DeviceRecord,
  type DeviceFilter,
  type DevicePage,
  type NewDevice,
  type PresenceUpdate,
} from './repositories/device-repository.js';
export { SqliteDeviceRepository, type SqliteRepositoryOptions } from './repositories/sqlite-device-repository.js';
export { PgDeviceRepository } from './repositories/pg-device-repository.js';
export { PgImageStore } from './firmware/pg-image-store.js';
export { PostgresDatabase } from './db/postgres.js';
export { databaseContents, findPgTool, pgDump, pgRestore, type PgConnection } from './db/pg-tools.js';
export { createHttpEdgeClient, type EdgeClient, type EdgeLatest } from './edge-client.js';
export { createMqttLink, type ControlPublisher, type MqttLink } from './mqtt-link.js';
export { PresenceListener, PresenceDrop, type PresenceStats } from './presence-listener.js';
export { ensureAdminToken, digestToken } from './auth-tokens.js';
export { rotateAdminTokenOffline, ROTATE_ACTION } from './admin-token-rotation.js';
export { defaultDashboardDir } from './dashboard-dir.js';

// The alert lifecycle on its own (docs/care.md §3): used by the cross-service property test
// and benchmarks that drive it with the edge's rules and a fake clock.
export { openAlerts, FALLBACK_USER, type AlertsModule, type OpenAlertsOptions, type AlertRecord } from './care/alerts/index.js';
export type { CareDirectory, LadderPlan, Recipient, Principal } from './care/contracts.js';

// The stores that have both a SQLite and a PostgreSQL implementation, for the cloud-db benchmark.
export type { DbTarget } from './db/target.js';
export { openIntegrations, type IntegrationsModule } from './integrations/index.js';
export { openIdTagStore } from './ocpp/pg-id-tag-store.js';
export { openComplaintsStore } from './open/pg-complaints-store.js';
