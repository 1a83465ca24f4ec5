import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { Aedes, type AedesOptions, type Client } from 'aedes';
import { checkDataPermissions, fetchTrustingCa } from '@yulan/protos';
import type { Logger } from 'pino';
import { loadAccounts, type Accounts } from './accounts.js';
import type { BrokerConfig } from './config.js';
import { CloudDeviceAuthenticator, type DeviceAuthenticator } from './device-auth.js';
import { createHooks } from './hooks.js';
import { DISCARD_TOPIC } from './hook-context.js';
import { StartupHold } from './startup-hold.js';
import { createMetrics, type BrokerMetrics } from './metrics.js';
import { createMessagePath } from './message-path.js';
import { publishBeforeAck } from './shared-state.js';
import { GatewayLink } from './gateway-link.js';
import { parseCaBundle } from './gateway-cert-bind.js';
import { trackPersistentSessions } from './conformance.js';
import { CloudIntegrationAuthenticator, type IntegrationAuthenticator } from './integration-auth.js';
import { attachIntegrations } from './integration-link.js';
import { attachClaimRevocation } from './claim-revocation.js';
import { ClaimGate } from './claim-link.js';
import { ConnectionLimits, PublishQuotas } from './quotas.js';
import { quotaNotice } from './quota-notice.js';
import { createAedesView, isWillOf } from './aedes-view.js';
import { createAdminApi } from './admin-api.js';
import { CertRevocations, CloudDeviceCertAuthenticator, type DeviceCertAuthenticator } from './device-cert.js';
import { CertRotation } from './cert-rotation.js';
import { createLatePublish } from './late-publish.js';
import { attachSessionEvents, watchTakeovers } from './session-events.js';
import { attachRevocation } from './revocation.js';
import { createStreamIntake } from './stream-intake.js';
import { SocketBook, startListeners, type Listeners } from './listeners.js';
import { createSnapshot } from './metrics-snapshot.js';
import { createShutdown } from './shutdown.js';

export interface BrokerDeps {
  deviceAuth?: DeviceAuthenticator;
  /** Device certificate logins (used when YULAN_DEVICE_CA_FILE is set). */
  deviceCertAuth?: DeviceCertAuthenticator;
  integrationAuth?: IntegrationAuthenticator;
  /** Pre-parsed service accounts; when absent they are read from config.accountsFile. */
  accounts?: Accounts;
  /** Replace what /healthz and /metrics answer (a clustered worker sums all workers). */
  httpViews?: {
    health(local: LocalHealth): Promise<unknown>;
    metrics(local: BrokerMetrics): Promise<unknown>;
  };
}

export interface LocalHealth {
  status: 'ok' | 'closing';
  connections: number;
}

export interface BrokerHandle {
  mqttPort: number;
  wsPort: number;
  /** MQTT/TLS and WSS ports when YULAN_TLS_* is set. */
  mqttsPort?: number;
  wssPort?: number;
  metrics(): BrokerMetrics;
  close(): Promise<void>;
}

export async function startBroker(config: BrokerConfig, logger: Logger, deps: BrokerDeps = {}): Promise<BrokerHandle> {
  const accounts = deps.accounts ?? (await loadAccounts(config.accountsFile));
  // File safety (docs/deploy.md): the accounts file holds password hashes; warn, keep running.
  const loose = new Map([...checkDataPermissions(config.stateDir), ...(deps.accounts ? [] : checkDataPermissions(config.accountsFile, 0))].map((p) => [p.path, p]));
  for (const p of loose.values()) logger.warn({ path: p.path, mode: p.mode, fix: p.fix }, p.message);
  // The cloud over https:// with a private CA (YULAN_TLS_CA_FILE), read before anything listens.
  const cloudFetch = fetchTrustingCa(config.cloudCaFile !== undefined ? readFileSync(config.cloudCaFile) : undefined);
  const deviceAuth =
    deps.deviceAuth ??
    new CloudDeviceAuthenticator({
      cloudUrl: config.cloudUrl,
      brokerToken: config.brokerToken,
      ttlMs: config.authCacheTtlMs,
      logger,
      fetch: cloudFetch,
    });
  const integrationAuth = deps.integrationAuth ??
    new CloudIntegrationAuthenticator({ cloudUrl: config.cloudUrl, brokerToken: config.brokerToken, ttlMs: config.authCacheTtlMs, logger, fetch: cloudFetch });
  const metrics = createMetrics();
  // Read before anything listens: a missing device CA fails the start, naming the file.
  const deviceCa = config.tls?.deviceCaFile !== undefined ? readDeviceCa(config.tls.deviceCaFile) : undefined;
  const certRevocations = new CertRevocations();
  let closing = false;
  const hold = config.redisUrl === undefined
    ? new StartupHold(join(config.stateDir, 'persistent-subscribers.json'), config.startupHoldMs, logger)
    : undefined;
  const path = createMessagePath(config, logger, metrics);
  trackPersistentSessions(path.persistence);
  // Built before Aedes, which takes the hooks that feed them: they publish through this.
  const { publish, publishQos1, bind } = createLatePublish(logger, () => closing);
  const certRotation = deviceCa !== undefined
    ? new CertRotation({ cloudUrl: config.cloudUrl, brokerToken: config.brokerToken, logger, counts: metrics.certRotations, fetch: cloudFetch, publish: publishQos1 })
    : undefined;
  // one certificate check for device logins and gateway binds by certificate (not cached)
  const deviceCertAuth = deviceCa !== undefined
    ? deps.deviceCertAuth ?? new CloudDeviceCertAuthenticator({ cloudUrl: config.cloudUrl, brokerToken: config.brokerToken, logger, fetch: cloudFetch })
    : undefined;
  // gateway accounts' device bindings (gateway-link.ts)
  const gateways = new GatewayLink({ deviceAuth, logger: logger.child({ svc: 'gateway-link' }), publish,
    holding: () => hold?.holding() ?? false,
    ...(deviceCa !== undefined && deviceCertAuth ? { certs: { cas: parseCaBundle(deviceCa), auth: deviceCertAuth, revoked: certRevocations } } : {}) });
  const hooks = createHooks({
    gateways,
    accounts,
    deviceAuth,
    metrics,
    logger,
    maxPacketBytes: config.maxPacketBytes,
    queueLimit: config.queueLimit,
    isClosing: () => closing,
    sharedState: config.redisUrl !== undefined,
    holdDevices: () => hold?.holding() ?? false,
    replay: path.replay,
    integrations: integrationAuth,
    // provisioning by claim (claim-link.ts)
    claims: new ClaimGate({ cloudUrl: config.cloudUrl, brokerToken: config.brokerToken, logger, metrics: metrics.claims, fetch: cloudFetch, publish: publishQos1 }),
    ...(deviceCa !== undefined
      ? { certAuth: { revoked: certRevocations, auth: deviceCertAuth! } }
      : {}),
    ...(certRotation ? { certRotation } : {}),
    limits: new ConnectionLimits(config.quotas),
    ...(config.quotas.publish ? { quotas: new PublishQuotas(config.quotas) } : {}),
    onQuota: (p, refused, disconnected) => {
      logger.warn({ deviceId: p.deviceId, site: p.site, refused, disconnected }, disconnected ? 'device disconnected: over its publish quota' : 'device over its publish quota');
      void publish(quotaNotice(p, refused, disconnected, Date.now()));
    },
  });
  const { sessionOf } = hooks;
  const aedes = await Aedes.createBroker({
    ...hooks,
    authorizePublish: (client, packet, cb) =>
      hooks.authorizePublish(client, packet, (err) => {
        if (err) return cb(err);
        // Clustered mode: acknowledge QoS 1 only once it is in Redis (publishBeforeAck).
        // Not for wills (nobody to acknowledge) nor refused publishes (already re-pointed).
        const early = path.shared && client !== null && packet.qos === 1 && packet.topic !== DISCARD_TOPIC && !isWillOf(client, packet);
        path.admit(() => (early ? publishBeforeAck(aedes, client, packet, cb) : cb(null)));
      }),
    mq: path.mq as AedesOptions['mq'],
    persistence: path.persistence as AedesOptions['persistence'],
    concurrency: path.concurrency,
    drainTimeout: config.drainTimeoutMs,
    // Aedes' queueLimit bounds packets received before CONNECT completes; keep it small.
    queueLimit: 42,
    // Device ids are up to 64 characters; the MQTT 3.1 default of 23 is too short.
    maxClientsIdLength: 128,
    connectTimeout: 10_000,
  });
  bind(aedes);

  const { devices, clients } = attachSessionEvents({ aedes, hooks, gateways, hold, publish, metrics, logger });
  attachRevocation({ aedes, devices, sessionOf, deviceAuth, gateways, certRevocations: deviceCa !== undefined ? certRevocations : undefined, metrics, logger });
  attachIntegrations({ aedes, sessionOf, auth: integrationAuth, metrics, logger });
  attachClaimRevocation({ aedes, metrics, logger });
  if (path.shared) watchTakeovers({ aedes, devices, sessionOf, metrics });

  const sockets = new SocketBook(metrics);
  const snapshot = createSnapshot({ metrics, sockets, clients, sessionOf, gateways, path });
  // A clustered worker answers /healthz and /metrics for every worker (deps.httpViews).
  const localHealth = (): LocalHealth => ({ status: closing ? 'closing' : 'ok', connections: metrics.connections.current });
  const health = (): unknown => (deps.httpViews ? deps.httpViews.health(localHealth()) : localHealth());
  const counters = (): unknown => (deps.httpViews ? deps.httpViews.metrics(snapshot()) : snapshot());
  const usernameOf = (client: Client): string | undefined => {
    const p = sessionOf(client)?.principal;
    if (!p) return undefined;
    return 'deviceId' in p ? p.deviceId : 'username' in p ? p.username : undefined;
  };
  const admin = createAdminApi({ token: config.brokerToken, view: createAedesView(aedes, usernameOf), counters, metrics, logger });
  const onStream = createStreamIntake({ aedes, isClosing: () => closing, connectionOpened: hooks.connectionOpened, maxPacketBytes: config.maxPacketBytes, metrics });

  let listeners: Listeners;
  try {
    listeners = await startListeners({ config, deviceCa, sockets, metrics, logger, onStream, health, counters, admin });
  } catch (err) {
    // startListeners has released whatever it bound; the rest was started here.
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    await path.close();
    throw err;
  }
  const { transports, tlsReloader } = listeners;
  const close = createShutdown({ markClosing: () => { closing = true; }, tlsReloader, transports, devices, sessionOf, publish, aedes, path, sockets, logger });

  if (config.plainHost !== config.host) {
    logger.warn({ host: config.host, plainHost: config.plainHost }, 'plain MQTT/WebSocket listen on loopback only (YULAN_PLAIN_PUBLIC=true opens them)');
  }
  logger.info({ mqttPort: transports.mqttPort, wsPort: transports.wsPort, mqttsPort: transports.mqttsPort, wssPort: transports.wssPort, accounts: accounts.size }, 'broker listening');
  return {
    mqttPort: transports.mqttPort,
    wsPort: transports.wsPort,
    ...(transports.mqttsPort !== undefined ? { mqttsPort: transports.mqttsPort, wssPort: transports.wssPort } : {}),
    metrics: snapshot,
    close,
  };
}

function readDeviceCa(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`YULAN_DEVICE_CA_FILE ${file} cannot be read: ${(err as Error).message}`, { cause: err });
  }
}
