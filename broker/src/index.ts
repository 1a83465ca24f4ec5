export { loadBrokerConfig, type BrokerConfig } from './config.js';
export { startBroker, type BrokerHandle, type BrokerDeps, type LocalHealth } from './broker.js';
export type { BrokerMetrics } from './metrics.js';
export {
  CloudDeviceAuthenticator,
  DeviceAuthOutcome,
  type AuthenticatedDevice,
  type CloudDeviceAuthOptions,
  type DeviceAuthenticator,
  type DeviceAuthResult,
} from './device-auth.js';
export { loadAccounts, parseAccounts, type Accounts, type ServiceAccount } from './accounts.js';
export { canPublish, canSubscribe, devicePrincipal, servicePrincipal, Role, type Principal } from './acl.js';
export {
  BrokerError,
  BrokerErrorCode,
  ConfigError,
  ConnackCode,
  ConnectRefusedError,
  PacketTooLargeError,
  type ConfigIssue,
} from './errors.js';
export { PresenceReason } from './presence.js';
export { startBrokerCluster, sumMetrics, type ClusterHandle } from './cluster.js';
