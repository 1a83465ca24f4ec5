import { createServer as createHttp, type Server } from 'node:http';
import { createServer as createHttps } from 'node:https';
import type { AddressInfo } from 'node:net';
import { RPCServer } from 'ocpp-rpc';
import type { Logger } from 'pino';
import { join } from 'node:path';
import { Channel, Severity, fetchTrustingCa, type TwinDesired } from '@yulan/protos';
import { ChargerLink } from './charger-link.js';
import type { BrokerLink } from './link-base.js';
import { GatewayBus, MuxLink } from './mux-link.js';
import { ChargerSession, type RpcPeer } from './charger-session.js';
import type { OcppGatewayConfig } from './config.js';
import { CloudChargerAuth, type ChargerIdentity } from './device-auth.js';
import { CloudChargerCertAuth, peerCertOf, watchCertificates } from './client-cert.js';
import { Diagnostics } from './diagnostics.js';
import { DiagnosticsHandover } from './diagnostics-handover.js';
import { installFrameGuard } from './frame-guard.js';
import { LocalLists } from './local-list.js';
import { handleHttp } from './http-api.js';
import { CloudIdTags } from './cloud-id-tags.js';
import { bump, createMetrics, type GatewayMetrics } from './metrics.js';
import { Outbox } from './outbox.js';
import { applyTwin, runCommand } from './platform-commands.js';
import { SITE_CAP_COMMANDS, SiteCaps } from './site-cap.js';

export interface OcppGatewayHandle {
  port: number;
  /** ws://… or wss://… up to and including `/ocpp` (append `/{chargePointId}`) */
  url: string;
  metrics: GatewayMetrics;
  /** the copy of the cloud's id tag list (sync() pulls it now) */
  idTags: CloudIdTags;
  close(): Promise<void>;
}

interface Charger {
  device: ChargerIdentity;
  /** its AuthorizationKey; '' for a charger bound by certificate alone (certPem) */
  secret: string;
  /** security profile 3 without a key: the certificate the broker binds it by */
  certPem?: string | undefined;
  link: BrokerLink;
  session: ChargerSession;
  rpc: (RpcPeer & { close(o: { code?: number; reason?: string; force?: boolean }): Promise<unknown> }) | undefined;
  /** Boot accepted on the current connection: many chargers refuse calls before that. */
  booted: boolean;
  /** The newest desired twin, applied once the charger has booted. */
  desired: TwinDesired | undefined;
  /** security profile 3: the client certificate it logged in with (re-checked, revocation) */
  cert?: { fingerprint: string; serial: string } | undefined;
}

type RpcClient = NonNullable<Charger['rpc']> & {
  identity: string;
  session: { device: ChargerIdentity; secret: string; cert?: { fingerprint: string; serial: string }; certPem?: string };
  on(ev: string, fn: (...a: unknown[]) => void): void;
};

/**
 * The OCPP 1.6J gateway (docs/ocpp.md): chargers connect to `ws(s)://host:port/ocpp/{id}`
 * with HTTP Basic auth (id + AuthorizationKey = the device secret the cloud issued), and
 * each becomes an ordinary ev-charger device on the broker (charger-link.ts).
 */
export async function startOcppGateway(config: OcppGatewayConfig, logger: Logger): Promise<OcppGatewayHandle> {
  const metrics = createMetrics();
  const outbox = new Outbox(config.dataDir);
  // https:// to the cloud with the configured CA (YULAN_TLS_CA_FILE), as the MQTT link
  const serviceFetch = fetchTrustingCa(config.mqttCa);
  const idTags = new CloudIdTags({ dir: config.dataDir, cloudUrl: config.cloudUrl, token: config.gatewayToken, syncMs: config.idTagSyncMs, fetch: serviceFetch,
    logger: logger.child({ svc: 'id-tags' }), onChanged: () => { for (const ch of chargers.values()) pushLocalList(ch); } });
  const localLists = new LocalLists(idTags, metrics, logger.child({ svc: 'local-list' }));
  const pushLocalList = (ch: Charger): void => {
    if (config.localList && ch.booted) localLists.push({ id: ch.device.id, site: ch.device.site, rpc: () => (ch.booted ? ch.rpc : undefined) });
  };
  const auth = new CloudChargerAuth(config.cloudUrl, config.gatewayToken, config.authCacheTtlMs, logger, Date.now, serviceFetch);
  const chargers = new Map<string, Charger>();
  const certAuth = config.tls?.clientCa ? new CloudChargerCertAuth(config.cloudUrl, config.gatewayToken, logger, serviceFetch) : undefined;
  // the broker's gateway role: one session for every charger (mux-link.ts, docs/ocpp.md §3)
  const bus = config.brokerAccount
    ? new GatewayBus({ mqttUrl: config.mqttUrl, ...(config.mqttCa ? { ca: config.mqttCa } : {}), ...config.brokerAccount, logger: logger.child({ svc: 'gateway-bus' }) })
    : undefined;
  idTags.start();
  let publicUrl = config.publicUrl ?? '';
  // every stored file goes on to the cloud, kept and retried until it is there (docs/ocpp.md §4.2)
  const handover = new DiagnosticsHandover({ dir: join(config.dataDir, 'diagnostics'), cloudUrl: config.cloudUrl, token: config.gatewayToken, fetch: serviceFetch,
    logger: logger.child({ svc: 'diagnostics-handover' }), keepDays: config.diagKeepDays,
    onDelivered: (f, id) => {
      // shows the file in the device's events and tells the console's card to re-read
      const link = chargers.get(f.device)?.link;
      link?.publish(Channel.Event, link.eventBytes('diagnostics.stored', Severity.INFO, `diagnostics ${f.file} stored in the cloud`, { file: f.file, file_id: id, sha256: f.sha256 }));
    } });
  const diagnostics = new Diagnostics({
    dir: join(config.dataDir, 'diagnostics'), maxBytes: config.diagMaxBytes, ttlMs: 3_600_000, token: config.gatewayToken, logger,
    onUploaded: (f) => {
      handover.enqueue(f);
      const link = chargers.get(f.device)?.link;
      if (!link) return void logger.warn({ deviceId: f.device }, 'diagnostics stored while the charger is away; no event sent');
      link.publish(Channel.Event, link.eventBytes('diagnostics.uploaded', Severity.INFO, `diagnostics ${f.file} (${f.bytes} bytes)`, {
        file: f.file, bytes: String(f.bytes), sha256: f.sha256, command_id: f.commandId,
      }));
    },
  });
  handover.start();
  const siteCaps = new SiteCaps(config.siteLimitsA, () => chargers.values(), metrics, logger.child({ svc: 'site-cap' }), config.siteLimitToAmps);

  const rpcServer = new RPCServer({
    protocols: ['ocpp1.6'],
    strictMode: true,
    callTimeoutMs: config.callTimeoutMs,
    pingIntervalMs: 60_000,
    wssOptions: { maxPayload: config.maxFrameBytes },
  });

  rpcServer.auth(async (accept, reject, hs) => {
    const refuse = (code: number, why: string, message: string, detail?: string): void => {
      bump(metrics.upgradesRefused, why);
      logger.info({ identity: hs.identity, why, ...(detail !== undefined ? { detail } : {}) }, 'OCPP upgrade refused');
      reject(code, message);
    };
    if (hs.endpoint !== '/ocpp') return refuse(404, 'path', 'use /ocpp/{chargePointId}');
    if (!hs.protocols.has('ocpp1.6')) return refuse(400, 'subprotocol', 'subprotocol ocpp1.6 required');
    // Security profile 3: a presented certificate must be the charger's own, whatever else it sends.
    const peer = certAuth ? peerCertOf((hs as { request?: { socket?: unknown } }).request?.socket) : undefined;
    let cert: { fingerprint: string; serial: string } | undefined;
    if (certAuth && peer) {
      if (!peer.ok) return refuse(401, peer.refusal, 'Unauthorized', peer.why);
      if (peer.commonName !== hs.identity) return refuse(401, 'cert-wrong-subject', 'Unauthorized', `certificate is for "${peer.commonName}", the URL names "${hs.identity}"`);
      const byCert = await certAuth.authenticate(hs.identity, peer);
      if (byCert.outcome === 'denied') {
        return byCert.reason === 'disabled' ? refuse(401, 'disabled', 'Unauthorized')
          : refuse(401, 'cert-revoked-or-unregistered', 'Unauthorized', `certificate ${peer.fingerprint} is not the charger's registered, unrevoked one`);
      }
      if (byCert.outcome === 'unavailable') return refuse(503, 'cloud-unavailable', 'registry unavailable, retry later', byCert.why);
      if (byCert.device.kind !== 'ev-charger') return refuse(401, 'not-a-charger', 'Unauthorized');
      cert = { fingerprint: peer.fingerprint, serial: peer.serial };
      // The certificate alone: the broker binds the charger to the gateway's session by it
      // (checks it again itself; the account needs certBind). Per-charger mode logs in as
      // the device with its key, which a certificate-only charger never gave us.
      if (!hs.password && bus && config.certBind) {
        metrics.certificateOnly++;
        return accept({ device: byCert.device, secret: '', cert, certPem: peer.pem }, 'ocpp1.6');
      }
      if (!hs.password) {
        return refuse(401, 'cert-needs-key', 'AuthorizationKey required as well (see docs/ocpp.md §1.2)',
          bus ? 'certificate-only chargers need YULAN_OCPP_CERT_BIND=1 (and certBind on the broker account)' : 'per-charger mode logs in to the broker with the charger\'s key');
      }
    }
    if (!hs.password) return refuse(401, 'no-credentials', 'HTTP Basic auth required (charge point id, AuthorizationKey)');
    const res = await auth.authenticate(hs.identity, hs.password.toString('utf8'));
    if (res.outcome === 'denied') return refuse(401, res.reason, 'Unauthorized');
    if (res.outcome === 'unavailable') return refuse(503, 'cloud-unavailable', 'registry unavailable, retry later');
    if (res.device.kind !== 'ev-charger') return refuse(401, 'not-a-charger', 'Unauthorized');
    accept({ device: res.device, secret: hs.password.toString('utf8'), ...(cert ? { cert } : {}) }, 'ocpp1.6');
  });

  const cut = (id: string, reason: string): void => {
    const ch = chargers.get(id);
    auth.forget(id);
    if (!ch) return;
    metrics.cutOff++;
    chargers.delete(id);
    void ch.rpc?.close({ code: 1008, reason });
    void ch.link.close();
  };

  function newCharger(device: ChargerIdentity, secret: string, certPem: string | undefined): Charger {
    const ch = { device, secret, certPem, rpc: undefined, booted: false, desired: undefined } as Partial<Charger> as Charger;
    const log = logger.child({ chargePoint: device.id });
    const cmdCtx = () => ({
      link: ch.link, session: ch.session, rpc: () => ch.rpc, metrics, logger: log,
      reservationId: (commandId: string) => outbox.reservationId(device.id, commandId),
      offerDiagnostics: (commandId: string) => {
        const o = diagnostics.offer(device.id, commandId);
        return { location: `${publicUrl}${o.path}`, named: o.named, cancel: o.cancel };
      },
    });
    const callbacks = {
      deviceId: device.id, site: device.site, outbox, logger: log,
      onCommand: (cmd: Parameters<typeof runCommand>[0]) => void (SITE_CAP_COMMANDS.has(cmd.name) ? siteCaps.applyCloudLimit(cmd, ch) : runCommand(cmd, cmdCtx())),
      onTwin: (d: TwinDesired) => {
        ch.desired = d;
        if (ch.booted) void applyTwin(d, cmdCtx());
      },
      onRefused: (why: string) => cut(device.id, why),
    };
    ch.link = bus
      ? new MuxLink({ ...callbacks, bus, proof: certPem !== undefined ? { cert: certPem } : { key: secret } })
      : new ChargerLink({ ...callbacks, mqttUrl: config.mqttUrl, ...(config.mqttCa ? { ca: config.mqttCa } : {}), secret });
    ch.session = new ChargerSession({
      deviceId: device.id, link: ch.link, outbox, metrics,
      idTags: { info: (t) => idTags.info(t, device.site), authorize: (t) => idTags.authorize(t, device.site) }, logger: log, heartbeatIntervalS: config.heartbeatIntervalS,
      onBooted: () => {
        ch.booted = true;
        if (ch.desired) void applyTwin(ch.desired, cmdCtx());
        siteCaps.forget(device.id);
        siteCaps.resplit(device.site);
        pushLocalList(ch);
        // connected again, so enabled again: files refused while it was disabled go to the cloud
        handover.reoffer(device.id);
      },
      onTransactionsChanged: () => siteCaps.resplit(device.site),
    });
    return ch;
  }

  rpcServer.on('client', (raw: unknown) => {
    const client = raw as RpcClient;
    const { device, secret, cert, certPem } = client.session;
    installFrameGuard(client, { ratePerS: config.ratePerS, burst: config.rateBurst, metrics });
    metrics.connections++;
    metrics.connectionsTotal++;
    let ch = chargers.get(device.id);
    if (ch && (ch.secret !== secret || ch.certPem !== certPem)) {
      // Same id, new key (rotated) or certificate: the old binding holds the old proof.
      void ch.link.close();
      ch = undefined;
    }
    if (ch?.rpc) {
      // OCPP: the newer connection of a charge point wins.
      metrics.replacedByNewer++;
      void ch.rpc.close({ code: 1000, reason: 'replaced by a newer connection' });
    }
    ch ??= newCharger(device, secret, certPem);
    chargers.set(device.id, ch);
    ch.rpc = client;
    ch.cert = cert;
    ch.booted = false;
    ch.session.attach(client);
    client.on('strictValidationFailure', (e) => bump(metrics.badMessages, (e as { error?: { rpcErrorCode?: string } }).error?.rpcErrorCode ?? 'schema'));
    client.on('socketError', (err) => {
      if ((err as { code?: string }).code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') metrics.oversizedFrames++;
    });
    client.on('close', () => {
      metrics.connections--;
      const cur = chargers.get(device.id);
      if (cur?.rpc !== client) return;
      cur.rpc = undefined;
      chargers.delete(device.id);
      void cur.link.close();
    });
  });

  const onRequest = (req: Parameters<typeof handleHttp>[0], res: Parameters<typeof handleHttp>[1]): void => {
    handleHttp(req, res, {
      token: config.gatewayToken,
      before: (rq, rs, u) => diagnostics.handle(rq, rs, u),
      health: () => ({ status: 'ok', chargers: chargers.size, outbox: outbox.depth(), idTags: idTags.state(), ...(bus ? { brokerSession: bus.connected } : {}) }),
      metrics: () => ({ ...metrics, outbox: outbox.depth(), idTags: idTags.state(), memory: process.memoryUsage(), diagnosticsHandover: { ...handover.stats }, ...(bus ? { gatewayBus: bus.stats } : {}) }),
    }).catch((err: unknown) => {
      logger.error({ err }, 'http handler failed');
      if (!res.headersSent) res.writeHead(500).end();
    });
  };
  // Profile 3: ask for a client certificate, never refuse the handshake for it (profile 2
  // chargers on the same port have none); the upgrade decides and can say why.
  const clientCa = config.tls?.clientCa ? { ca: config.tls.clientCa, requestCert: true, rejectUnauthorized: false } : {};
  const server: Server = config.tls ? createHttps({ cert: config.tls.cert, key: config.tls.key, ...clientCa }, onRequest) : createHttp(onRequest);
  const stopCertWatch = certAuth ? watchCertificates({
    auth: certAuth, everyMs: config.authCacheTtlMs, logger, cut,
    connected: () => [...chargers.values()].flatMap((c) => (c.rpc && c.cert ? [{ id: c.device.id, cert: c.cert }] : [])),
  }) : () => {};
  server.on('upgrade', rpcServer.handleUpgrade);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  const url = `${config.tls ? 'wss' : 'ws'}://${host}:${port}/ocpp`;
  publicUrl ||= `${config.tls ? 'https' : 'http'}://${host}:${port}`;
  logger.info({ url, tls: Boolean(config.tls), clientCertificates: Boolean(config.tls?.clientCa) }, 'OCPP gateway listening');

  return {
    port, url, metrics, idTags,
    async close() {
      stopCertWatch();
      await rpcServer.close({ code: 1001, reason: 'gateway shutting down', force: true }).catch(() => {});
      await siteCaps.idle();
      await localLists.idle();
      await Promise.all([...chargers.values()].map((c) => c.link.close()));
      chargers.clear();
      await bus?.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      outbox.close();
      await handover.close();
      await idTags.close();
    },
  };
}
