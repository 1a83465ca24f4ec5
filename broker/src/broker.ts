import { join } from 'node:path';
import type { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Aedes, type AedesOptions, type AedesPublishPacket, type Client } from 'aedes';
import { checkDataPermissions, ControlTopic, fetchTrustingCa, isValidId, readTlsOptions, tlsRefusalReason, watchTlsFiles, type TlsReloader } from '@yulan/protos';
import type { Logger } from 'pino';
import { Role } from './acl.js';
import { loadAccounts, type Accounts } from './accounts.js';
import type { BrokerConfig } from './config.js';
import { CloudDeviceAuthenticator, type DeviceAuthenticator } from './device-auth.js';
import { classifyError } from './classify-error.js';
import { PacketTooLargeError } from './errors.js';
import { queuedBytes } from './flow-control.js';
import { FrameGuard } from './frame-guard.js';
import { createHooks } from './hooks.js';
import { DISCARD_TOPIC } from './hook-context.js';
import { StartupHold } from './startup-hold.js';
import { createMetrics, type BrokerMetrics } from './metrics.js';
import { createMessagePath } from './message-path.js';
import { publishBeforeAck } from './shared-state.js';
import { PresenceReason, presencePacket } from './presence.js';
import { GatewayLink } from './gateway-link.js';
import { GATEWAY_ROLE } from './gateway-acl.js';
import { parseCaBundle } from './gateway-cert-bind.js';
import { startTransports } from './transports.js';
import { CONNACK_UNACCEPTABLE_PROTOCOL, isUnsupportedProtocolLevel, trackPersistentSessions } from './conformance.js';
import { CloudIntegrationAuthenticator, type IntegrationAuthenticator } from './integration-auth.js';
import { attachIntegrations } from './integration-link.js';
import { attachClaimRevocation } from './claim-revocation.js';
import { ClaimGate } from './claim-link.js';
import { ConnectionLimits, PublishQuotas } from './quotas.js';
import { quotaNotice } from './quota-notice.js';
import { createAedesView } from './aedes-view.js';
import { createAdminApi } from './admin-api.js';
import { attachCertRevocation, CertRevocations, CloudDeviceCertAuthenticator, type DeviceCertAuthenticator } from './device-cert.js';
import { readFileSync } from 'node:fs';
import { CertRotation } from './cert-rotation.js';

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

/** How long shutdown waits for the offline-presence publishes before closing anyway. */
const SHUTDOWN_PRESENCE_WAIT_MS = 2000;
const SYS_NEW_CLIENTS = '$SYS/+/new/clients';

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
  const certRotation = deviceCa !== undefined
    ? new CertRotation({
      cloudUrl: config.cloudUrl, brokerToken: config.brokerToken, logger, counts: metrics.certRotations, fetch: cloudFetch,
      publish: (topic, payload) => publish({ cmd: 'publish', topic, payload, qos: 1, retain: false, dup: false }),
    })
    : undefined;
  let closing = false;
  const hold = config.redisUrl === undefined
    ? new StartupHold(join(config.stateDir, 'persistent-subscribers.json'), config.startupHoldMs, logger)
    : undefined;
  const path = createMessagePath(config, logger, metrics);
  trackPersistentSessions(path.persistence);
  // gateway accounts' device bindings (gateway-link.ts); `publish` is defined once Aedes is up
  // one certificate check for device logins and gateway binds by certificate (not cached)
  const deviceCertAuth = deviceCa !== undefined
    ? deps.deviceCertAuth ?? new CloudDeviceCertAuthenticator({ cloudUrl: config.cloudUrl, brokerToken: config.brokerToken, logger, fetch: cloudFetch })
    : undefined;
  const gateways = new GatewayLink({ deviceAuth, logger: logger.child({ svc: 'gateway-link' }), publish: (packet) => publish(packet),
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
    // provisioning by claim (claim-link.ts); `publish` is defined once Aedes is up
    claims: new ClaimGate({ cloudUrl: config.cloudUrl, brokerToken: config.brokerToken, logger, metrics: metrics.claims, fetch: cloudFetch,
      publish: (topic, payload) => publish({ cmd: 'publish', topic, payload, qos: 1, retain: false, dup: false }) }),
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
        const early = path.shared && client !== null && packet.qos === 1 && packet.topic !== DISCARD_TOPIC &&
          packet !== (client as Client & { will?: unknown }).will;
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

  /** Live device sessions by id, for revocation and the shutdown presence. */
  const devices = new Map<string, Client>();
  /** Every registered client, for the queued-bytes gauge. */
  const clients = new Set<Client>();
  const sockets = new Set<Socket>();
  let closedBytesIn = 0;
  let closedBytesOut = 0;

  const publish = (packet: Parameters<Aedes['publish']>[0]): Promise<void> =>
    new Promise((resolve) => aedes.publish(packet, (err) => {
      if (err && !closing) logger.warn({ err, topic: packet.topic }, 'broker publish failed');
      resolve();
    }));

  aedes.on('client', (client) => {
    metrics.connections.current++;
    metrics.connections.total++;
    clients.add(client);
    const s = sessionOf(client);
    if (s?.principal.role === Role.Device) devices.set(s.principal.deviceId, client);
  });
  aedes.on('subscribe', (_subs, client) => {
    const s = client && sessionOf(client);
    if (s && s.principal.role !== Role.Device) hold?.subscribed(client.id, client.clean === false);
  });
  aedes.on('clientReady', (client) => {
    const s = sessionOf(client);
    if (s?.principal.role !== Role.Device || s.endReason !== undefined) return;
    void publish(presencePacket(s.principal, true, PresenceReason.Connect, Date.now()));
  });
  aedes.on('clientDisconnect', (client) => {
    metrics.connections.current--;
    clients.delete(client);
    hooks.sessionEnded(client);
    const s = sessionOf(client);
    if (s?.principal.role === GATEWAY_ROLE) gateways.sessionEnded(s.principal);
    if (s?.principal.role !== Role.Device) return;
    if (devices.get(s.principal.deviceId) === client) devices.delete(s.principal.deviceId);
    if (s.endReason === PresenceReason.Shutdown) return; // published before the close
    if (s.takenOver) return; // its new session, on another process, said online
    const reason = s.endReason ?? (s.willFired ? PresenceReason.Will : PresenceReason.Disconnect);
    void publish(presencePacket(s.principal, false, reason, Date.now()));
  });
  // Aedes fails every parked write of a cut client with the same error; count clients.
  const cutClients = new WeakSet<Client>();
  const onError = (client: Client | null, err: Error): void => {
    if (err.message === 'drain timeout') {
      if (client === null || cutClients.has(client)) return;
      cutClients.add(client);
    }
    classifyError(err, metrics, logger);
  };
  aedes.on('clientError', onError);
  aedes.on('connectionError', onError);
  (aedes as EventEmitter).on('error', (err: Error) => logger.error({ err }, 'aedes error'));

  // Revocation: the cloud (the only account allowed under $yulan/) names a device.
  aedes.subscribe(
    ControlTopic.Revoke,
    (packet: AedesPublishPacket, cb: () => void) => {
      const id = Buffer.isBuffer(packet.payload) ? packet.payload.toString('utf8').trim() : String(packet.payload).trim();
      if (!isValidId(id)) {
        metrics.protocolErrors++;
        logger.warn({ payloadBytes: packet.payload.length }, 'revoke with an invalid device id ignored');
        return cb();
      }
      metrics.revocations++;
      deviceAuth.forget(id);
      gateways.revoke(id);
      const client = devices.get(id);
      const s = client && sessionOf(client);
      logger.info({ deviceId: id, live: s !== undefined }, 'device revoked');
      if (client && s) {
        s.endReason = PresenceReason.Revoked;
        client.close();
      }
      cb();
    },
    () => undefined,
  );

  if (deviceCa !== undefined) {
    attachCertRevocation({
      subscribe: (topic, handler) => aedes.subscribe(topic, (packet: AedesPublishPacket, cb: () => void) => handler(Buffer.from(packet.payload), cb), () => undefined),
      topic: ControlTopic.RevokeCert,
      revoked: certRevocations,
      clients: () => devices.values(),
      markRevoked: (client) => {
        const s = sessionOf(client);
        if (s === undefined) return false;
        s.endReason = PresenceReason.Revoked;
        return true;
      },
      onInvalid: () => metrics.protocolErrors++,
      onRevoked: (fp) => {
        metrics.revocations++;
        gateways.revokeCert(fp);
      },
      logger,
    });
  }

  attachIntegrations({ aedes, sessionOf, auth: integrationAuth, metrics, logger });
  attachClaimRevocation({ aedes, metrics, logger });

  if (path.shared) {
    // Aedes closes a local client whose id connected to another process (its own
    // `$SYS/+/new/clients` listener); mark it first so no stale offline presence follows.
    aedes.subscribe(SYS_NEW_CLIENTS, (packet: AedesPublishPacket, cb: () => void) => {
      const serverId = packet.topic.split('/')[1];
      const client = serverId === aedes.id ? undefined : devices.get(packet.payload.toString());
      const s = client && sessionOf(client);
      if (s) {
        s.takenOver = true;
        metrics.sessionsReplaced++;
      }
      cb();
    }, () => undefined);
  }

  const handleStream = (stream: Duplex, req?: Parameters<Aedes['handle']>[1]): void => {
    if (closing) {
      stream.destroy();
      return;
    }
    hooks.connectionOpened(stream);
    aedes.handle(stream, req);
    // Added after Aedes' 'readable' listener, so the stream stays in paused mode and
    // 'data' fires for exactly the chunks Aedes reads, just before it parses them.
    const guard = new FrameGuard(config.maxPacketBytes);
    let first = true;
    stream.on('data', (chunk: Buffer) => {
      if (first) {
        first = false;
        // Aedes' parser refuses it and closes; the CONNACK 0x01 goes first (conformance.ts).
        if (isUnsupportedProtocolLevel(chunk)) {
          metrics.protocolErrors++;
          stream.write(CONNACK_UNACCEPTABLE_PROTOCOL);
          // Out now, not at the write batcher's next turn: Aedes destroys the socket next.
          stream.uncork();
        }
      }
      const size = guard.feed(chunk);
      if (size > 0) {
        metrics.oversizedPackets++;
        stream.destroy(new PacketTooLargeError(size, config.maxPacketBytes));
      }
    });
  };

  const usernameOf = (client: Client): string | undefined => {
    const p = sessionOf(client)?.principal;
    if (!p) return undefined;
    return 'deviceId' in p ? p.deviceId : 'username' in p ? p.username : undefined;
  };
  const admin = createAdminApi({
    token: config.brokerToken,
    view: createAedesView(aedes, usernameOf),
    counters: () => (deps.httpViews ? deps.httpViews.metrics(snapshot()) : snapshot()),
    metrics,
    logger,
  });

  let transports: Awaited<ReturnType<typeof startTransports>>;
  let tlsReloader: TlsReloader | undefined;
  try {
    // Read (and checked) before listening: a bad certificate fails the start, not a handshake.
    const tlsOptions = config.tls ? readTlsOptions(config.tls) : undefined;
    transports = await startTransports({
      host: config.host,
      plainHost: config.plainHost,
      ...(config.tls && tlsOptions
        ? {
          tls: {
            options: deviceCa !== undefined ? { ...tlsOptions, ca: deviceCa } : tlsOptions,
            mqttsPort: config.tls.mqttsPort,
            wssPort: config.tls.wssPort,
            handshakeTimeoutMs: config.tls.handshakeTimeoutMs,
            requestCert: deviceCa !== undefined,
            onRefused: (err, socket) => {
              const reason = tlsRefusalReason(err);
              metrics.tlsRefused[reason]++;
              logger.info({ reason, code: err.code, remote: socket.remoteAddress, err: err.message }, 'TLS handshake refused');
            },
          },
        }
        : {}),
      mqttPort: config.mqttPort,
      wsPort: config.wsPort,
      highWaterMark: Math.max(2 * config.maxPacketBytes, 65_536),
      wsMaxPayload: Math.max(4 * config.maxPacketBytes, 1_048_576),
      batchWrites: config.batchWrites,
      metricsToken: config.brokerToken,
      onStream: handleStream,
      onSocket: (socket) => {
        sockets.add(socket);
        metrics.sockets.current++;
        metrics.sockets.total++;
        socket.once('close', () => {
          sockets.delete(socket);
          metrics.sockets.current--;
          closedBytesIn += socket.bytesRead;
          closedBytesOut += socket.bytesWritten;
        });
      },
      health: () => (deps.httpViews ? deps.httpViews.health(localHealth()) : localHealth()),
      metrics: () => (deps.httpViews ? deps.httpViews.metrics(snapshot()) : snapshot()),
      admin,
    });
    if (config.tls) {
      const all = transports.tlsServers;
      // New handshakes get the new certificate; live sessions keep theirs.
      tlsReloader = watchTlsFiles(config.tls, [{
        setSecureContext: (o) => {
          for (const s of all) s.setSecureContext(deviceCa !== undefined ? { ...o, ca: deviceCa } : o);
          metrics.tlsReloads++;
        },
      }], logger);
    }
  } catch (err) {
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    await path.close();
    throw err;
  }

  function localHealth(): LocalHealth {
    return { status: closing ? 'closing' : 'ok', connections: metrics.connections.current };
  }

  function snapshot(): BrokerMetrics {
    let bytesIn = closedBytesIn;
    let bytesOut = closedBytesOut;
    for (const s of sockets) {
      bytesIn += s.bytesRead;
      bytesOut += s.bytesWritten;
    }
    let queued = 0;
    for (const client of clients) {
      const s = sessionOf(client);
      if (s) queued += queuedBytes(s.out);
    }
    return {
      ...metrics,
      connections: { ...metrics.connections },
      sockets: { ...metrics.sockets },
      tlsRefused: { ...metrics.tlsRefused },
      certRefused: { ...metrics.certRefused },
      certRotations: { ...metrics.certRotations },
      aclDenied: { ...metrics.aclDenied },
      gatewayBinds: { ...gateways.stats, certBindRefused: { ...gateways.stats.certBindRefused } },
      bytesIn,
      bytesOut,
      outgoingQueuedBytes: queued,
      busBacklog: path.backlog,
      publishersHeld: path.held,
      sessionQueued: path.replay?.queuedTotal() ?? 0,
    };
  }

  let closed: Promise<void> | undefined;
  async function close(): Promise<void> {
    closing = true;
    tlsReloader?.close();
    const stopAccepting = transports.close();
    // Offline presence first, while subscribers (the edge) are still connected.
    const offline: Promise<void>[] = [];
    for (const client of devices.values()) {
      const s = sessionOf(client);
      if (s?.principal.role !== Role.Device || s.endReason !== undefined) continue;
      s.endReason = PresenceReason.Shutdown;
      offline.push(publish(presencePacket(s.principal, false, PresenceReason.Shutdown, Date.now())));
    }
    await withTimeout(Promise.all(offline), SHUTDOWN_PRESENCE_WAIT_MS);
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    await path.close();
    // Sockets Aedes did not own yet (mid-handshake, idle HTTP keep-alive).
    for (const s of sockets) s.destroy();
    await stopAccepting;
    logger.info('broker closed');
  }

  if (config.plainHost !== config.host) {
    logger.warn({ host: config.host, plainHost: config.plainHost }, 'plain MQTT/WebSocket listen on loopback only (YULAN_PLAIN_PUBLIC=true opens them)');
  }
  logger.info({ mqttPort: transports.mqttPort, wsPort: transports.wsPort, mqttsPort: transports.mqttsPort, wssPort: transports.wssPort, accounts: accounts.size }, 'broker listening');
  return {
    mqttPort: transports.mqttPort,
    wsPort: transports.wsPort,
    ...(transports.mqttsPort !== undefined ? { mqttsPort: transports.mqttsPort, wssPort: transports.wssPort } : {}),
    metrics: snapshot,
    close: () => (closed ??= close()),
  };
}

function withTimeout(p: Promise<unknown>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    t.unref();
    p.then(() => {
      clearTimeout(t);
      resolve();
    }, () => resolve());
  });
}

function readDeviceCa(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`YULAN_DEVICE_CA_FILE ${file} cannot be read: ${(err as Error).message}`, { cause: err });
  }
}
