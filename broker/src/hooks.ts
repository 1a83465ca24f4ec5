import type { AedesOptions, AedesPublishPacket, Client, Subscription } from 'aedes';
import { CONTROL_ROOT, isValidId } from '@yulan/protos';
import type { Logger } from 'pino';
import { canPublish, canSubscribe, devicePrincipal, servicePrincipal, Role, type DevicePrincipal, type Principal } from './acl.js';
import { slugFromKind } from '@yulan/protos';
import { QuotaVerdict, type ConnectionLimits, type PublishQuotas } from './quotas.js';
import { verifyAccount, type Accounts } from './accounts.js';
import { DeviceAuthOutcome, type DeviceAuthenticator } from './device-auth.js';
import { CertRefusal, peerCertificateOf, type CertRevocations, type DeviceCertAuthenticator } from './device-cert.js';
import type { CertRotation } from './cert-rotation.js';
import { ConnackCode, ConnectRefusedError, PacketTooLargeError } from './errors.js';
import { admit, createOutgoingState, publishSize, type OutgoingState } from './flow-control.js';
import type { BrokerMetrics } from './metrics.js';
import { ConnectOrder } from './connect-order.js';
import type { ReplayGate } from './persistence.js';
import { PresenceReason } from './presence.js';
import { isMalformedTopicName, MalformedTopicError, SESSION_MARKER } from './conformance.js';
import { INTEGRATION_ROLE, INTEGRATION_USER_PREFIX, integrationCanRead } from './integration-acl.js';
import { connectIntegration, type IntegrationAuthenticator } from './integration-auth.js';
import { CLAIM_ROLE, CLAIM_USER_PREFIX } from './claim-acl.js';
import type { ClaimGate } from './claim-link.js';
import { GATEWAY_ROLE, gatewayCanRead, gatewayPrincipal } from './gateway-acl.js';
import type { GatewayLink } from './gateway-link.js';

/** Per-connection state, built once at authentication so per-message hooks only read it. */
export interface Session {
  readonly principal: Principal;
  readonly out: OutgoingState;
  /** Set by the broker when it ends the session itself (revocation, shutdown). */
  endReason: PresenceReason | undefined;
  /** The client's last will passed the ACL and is being published. */
  willFired: boolean;
  /** Its id connected to another broker process, which closes this session and has
   * published online presence already: no offline presence from here. */
  takenOver: boolean;
  /** Order of the connection it came on (see connect-order.ts). */
  readonly connectSeq: number;
  /** Highest QoS granted to any of its subscriptions. When 0, every delivery to it is
   * QoS 0 (MQTT downgrades to the subscription QoS), so it may be dropped under load
   * whatever QoS the publisher used. Never lowered on unsubscribe: erring high only
   * means push-back instead of a drop. */
  maxSubQos: number;
}

interface ConnectInfo {
  clientId: string;
  clean: boolean;
  /** Order of the connection: when its socket was accepted (see connectionOpened). */
  seq: number;
}

export interface HookContext {
  accounts: Accounts;
  deviceAuth: DeviceAuthenticator;
  metrics: BrokerMetrics;
  logger: Logger;
  maxPacketBytes: number;
  queueLimit: number;
  isClosing: () => boolean;
  /** Sessions live in storage shared with other broker processes (clustered mode). */
  sharedState?: boolean;
  /** True while devices must wait for persistent subscribers after a restart (startup-hold.ts). */
  holdDevices?: () => boolean;
  /** Orders a reconnected persistent session's backlog before live deliveries (persistence.ts). */
  replay?: ReplayGate;
  /** Integration accounts (`int:<name>`), authenticated through the cloud. */
  integrations?: IntegrationAuthenticator;
  /** Per-address connect rate and failed-authentication limits (quotas.ts). */
  limits?: ConnectionLimits;
  /** Per-device publish quotas (quotas.ts). */
  quotas?: PublishQuotas;
  /** A device went over its quota: `refused` publishes since the last call (at most one per 10 s). */
  onQuota?(principal: DevicePrincipal, refused: number, disconnected: boolean): void;
  /** Device certificates (mutual TLS, device-cert.ts): set when a device CA is configured. */
  certAuth?: { auth: DeviceCertAuthenticator; revoked: CertRevocations };
  /** Claim sessions (`claim:<id>`, provisioning by claim; claim-link.ts). */
  claims?: ClaimGate;
  /** Certificate rotation over the device's session (cert-rotation.ts): with certAuth. */
  certRotation?: Pick<CertRotation, 'isRequest' | 'handle'>;
  /** Gateway accounts' device bindings (gateway-link.ts). */
  gateways?: Pick<GatewayLink, 'isRequest' | 'handle'>;
}

/** The peer address of a client: its TCP/TLS socket, or the request under a WebSocket. */
function addressOf(client: Client): string | undefined {
  const c = client as Client & { conn: { remoteAddress?: string }; req?: { socket?: { remoteAddress?: string } } };
  return c.conn.remoteAddress ?? c.req?.socket?.remoteAddress;
}

/** Denied publishes are re-pointed here: a `$` topic no ACL lets anyone subscribe to.
 * MQTT 3.1.1 has no negative PUBACK, and Aedes closes the connection on an
 * authorizePublish error; re-pointing acknowledges and discards instead. */
export const DISCARD_TOPIC = `${CONTROL_ROOT}/discard`;

type Hooks = Required<Pick<AedesOptions, 'preConnect' | 'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'authorizeForward'>>;

export interface BrokerHooks extends Hooks {
  sessionOf(client: Client): Session | undefined;
  /** Call when a client's connection has ended (forgets its CONNECT order). */
  sessionEnded(client: Client): void;
  /** Call for every accepted transport connection, before Aedes reads from it: the order
   * of connections is the order their sockets were accepted. */
  connectionOpened(stream: object): void;
}

export function createHooks(ctx: HookContext): BrokerHooks {
  const { accounts, deviceAuth, metrics, logger, maxPacketBytes, queueLimit } = ctx;
  // WeakMaps keyed by the Aedes client: state dies with the connection, and we never
  // write our own fields onto Aedes' objects.
  const sessions = new WeakMap<Client, Session>();
  const connects = new WeakMap<Client, ConnectInfo>();
  const order = new ConnectOrder();

  function refuse(
    client: Client,
    cb: (err: ConnectRefusedError, ok: false) => void,
    code: ConnackCode,
    why: string,
    cause?: unknown,
  ): void {
    if (code === ConnackCode.ServerUnavailable) metrics.authUnavailable++;
    else metrics.authFailures++;
    logger.info({ clientId: client.id, code, why }, 'connect refused');
    cb(new ConnectRefusedError(code, why, { cause }), false);
  }

  function certRefused(client: Client, cb: (err: ConnectRefusedError, ok: false) => void, r: CertRefusal, why: string): void {
    metrics.certRefused[r]++;
    refuse(client, cb, ConnackCode.NotAuthorized, why);
  }

  function accept(client: Client, info: ConnectInfo, principal: Principal, cb: (err: ConnectRefusedError | null, ok: boolean) => void): void {
    // One event-loop turn first, so a connection whose FIN came in the same read as its
    // CONNECT is seen as gone (see connect-order.ts).
    setImmediate(() => decide(client, info, principal, cb));
  }

  function decide(client: Client, info: ConnectInfo, principal: Principal, cb: (err: ConnectRefusedError | null, ok: boolean) => void): void {
    const stale = order.staleReason(info.clientId, info.seq, client.conn, (client as { closed?: boolean }).closed === true);
    if (stale !== undefined) {
      metrics.connectsAbandoned++;
      return cb(new ConnectRefusedError(ConnackCode.ServerUnavailable, stale), false);
    }
    order.accepted(info.clientId, info.seq);
    // Aedes closes the live session holding this id once we accept. Its typings omit
    // client.broker and broker.clients; both are runtime fields (aedes.js).
    const holder = (client as unknown as { broker: { clients: Record<string, (Client & { closed?: boolean }) | undefined> } }).broker.clients[info.clientId];
    if (holder !== undefined && holder !== client && holder.closed !== true) {
      metrics.sessionsReplaced++;
      logger.info({ clientId: info.clientId, oldSocketAgeMs: order.ageMs(holder.conn), newSocketAgeMs: order.ageMs(client.conn) }, 'session replaced by a newer connection of its client id');
    }
    if (ctx.sharedState) {
      checkWillAtConnect(client, principal);
      disableCounterDedupe(client);
    }
    sessions.set(client, {
      principal,
      out: createOutgoingState(client.conn),
      endReason: undefined,
      willFired: false,
      takenOver: false,
      connectSeq: info.seq,
      // A persistent session's subscriptions are restored from storage without a
      // SUBSCRIBE (authorizeSubscribe never sees them), so its QoS is unknown: assume 1.
      // Assuming 0 let the QoS 0 budget refuse its QoS 1 deliveries under load, which
      // left them in the session queue until the subscriber's next reconnect.
      maxSubQos: client.clean === false ? 1 : 0,
    });
    cb(null, true);
  }

  /** With shared storage, another process publishes this client's will if ours dies; it
   * arrives there with no session (client null) to check, so the ACL is applied now and
   * a will it refuses is dropped (as it would have been discarded when fired). */
  function checkWillAtConnect(client: Client, principal: Principal): void {
    const c = client as Client & { _will?: { topic: string } | null };
    if (c._will && !canPublish(principal, c._will.topic)) {
      metrics.aclDenied.publish++;
      c._will = null;
    }
  }

  return {
    sessionOf: (client) => sessions.get(client),
    connectionOpened: (stream) => order.opened(stream),
    sessionEnded(client) {
      const s = sessions.get(client);
      if (s && client.id) order.ended(client.id, s.connectSeq);
    },

    preConnect(client, packet, cb) {
      if (ctx.isClosing()) return cb(new ConnectRefusedError(ConnackCode.ServerUnavailable, 'broker is shutting down'), false);
      if (ctx.limits && !ctx.limits.connectAllowed(addressOf(client), Date.now())) {
        metrics.connectsThrottled++;
        logger.info({ remote: addressOf(client) }, 'connect refused: too many connections from this address');
        return cb(new ConnectRefusedError(ConnackCode.ServerUnavailable, 'too many connections from this address'), false);
      }
      // Aedes replaces an empty client id with a generated one before `authenticate`,
      // so the id as sent is recorded here, with its connection's order: a CONNECT held up
      // on an older connection must not count as newer than its successor's.
      connects.set(client, { clientId: packet.clientId ?? '', clean: packet.clean !== false, seq: order.orderOf(client.conn) });
      cb(null, true);
    },

    authenticate(client, username, password, cb) {
      const info = connects.get(client);
      connects.delete(client);
      if (!info || (info.clientId === '' && !info.clean)) {
        // MQTT-3.1.3-8: a zero-length client id needs clean session.
        return refuse(client, cb, ConnackCode.IdentifierRejected, 'empty client id without clean session');
      }
      // No password and a client certificate: a device logging in by certificate (its CN).
      const cert = ctx.certAuth && (!password || password.length === 0) ? peerCertificateOf(client) : undefined;
      let certLogin: { fingerprint: string; serial: string } | undefined;
      if (cert !== undefined) {
        if (!cert.ok) return certRefused(client, cb, cert.refusal, cert.why);
        if (username && username !== cert.commonName) return certRefused(client, cb, CertRefusal.WrongSubject, 'username does not match the certificate subject');
        if (ctx.certAuth?.revoked.has(cert.fingerprint)) return certRefused(client, cb, CertRefusal.Revoked, 'certificate revoked');
        username = cert.commonName;
        certLogin = { fingerprint: cert.fingerprint, serial: cert.serial };
      } else if (!username || !password || password.length === 0) {
        return refuse(client, cb, ConnackCode.BadUsernameOrPassword, 'missing username or password');
      }
      const secret = password?.toString('utf8') ?? '';
      const address = addressOf(client);
      // Past the failure limit a secret is not checked at all (each check costs the cloud a
      // scrypt), unless it is one this broker accepted recently for this device.
      const blocked = ctx.limits?.authBlocked(address, username, Date.now());
      // A certificate the device CA signed costs no scrypt to check: not throttled.
      if (blocked !== undefined && certLogin === undefined && deviceAuth.knows?.(username, secret) !== true) {
        metrics.authThrottled++;
        return refuse(client, cb, ConnackCode.NotAuthorized, `too many failed authentications for this ${blocked === 'address' ? 'address' : 'client id'}`);
      }
      const failed = (): void => ctx.limits?.authFailed(address, username, Date.now());
      if (certLogin === undefined && username.startsWith(INTEGRATION_USER_PREFIX)) {
        // Integration secrets cost the cloud a scrypt as device secrets do: same limits.
        connectIntegration(ctx.integrations, username, info.clientId, secret).then(
          (r) => {
            if (r.ok) return accept(client, info, r.principal, cb);
            if (r.code === ConnackCode.BadUsernameOrPassword) failed();
            return refuse(client, cb, r.code, r.why, r.cause);
          },
          (err: unknown) => refuse(client, cb, ConnackCode.ServerUnavailable, 'integration check failed', err),
        );
        return;
      }
      if (certLogin === undefined && username.startsWith(CLAIM_USER_PREFIX)) {
        // A claim secret costs the cloud a scrypt too: same failure limits.
        if (!ctx.claims) return refuse(client, cb, ConnackCode.BadUsernameOrPassword, 'claim logins are not enabled');
        ctx.claims.connect(username, info.clientId, info.clean, secret).then(
          (r) => {
            if (r.ok) return accept(client, info, r.principal, cb);
            if (r.code === ConnackCode.BadUsernameOrPassword) failed();
            return refuse(client, cb, r.code, r.why, r.cause);
          },
          (err: unknown) => refuse(client, cb, ConnackCode.ServerUnavailable, 'claim check failed', err),
        );
        return;
      }
      const account = accounts.get(username);
      if (account && certLogin === undefined) {
        // Service client ids carry a `<username>:` prefix. Device ids cannot contain `:`,
        // so a device can never take over (and kick) a service's session, or the reverse.
        if (!info.clientId.startsWith(`${account.username}:`)) {
          return refuse(client, cb, ConnackCode.IdentifierRejected, 'service client id must start with "<username>:"');
        }
        verifyAccount(account, secret).then(
          (ok) =>
            ok
              ? accept(client, info, account.role === GATEWAY_ROLE ? gatewayPrincipal(account.username, account.certBind) : servicePrincipal(account.username, account.role), cb)
              : (failed(), refuse(client, cb, ConnackCode.BadUsernameOrPassword, 'bad service-account password')),
          (err: unknown) => refuse(client, cb, ConnackCode.ServerUnavailable, 'account check failed', err),
        );
        return;
      }
      if (!isValidId(username)) {
        failed();
        return refuse(client, cb, ConnackCode.BadUsernameOrPassword, 'invalid device id');
      }
      if (info.clientId !== username) {
        return refuse(client, cb, ConnackCode.IdentifierRejected, 'device client id must equal its username');
      }
      const coolMs = ctx.quotas?.coolingDownMs(username, Date.now()) ?? 0;
      if (coolMs > 0) {
        // counted here, not as an authentication failure or an unavailable cloud
        metrics.quotaCooldownRefusals++;
        logger.info({ clientId: client.id, coolMs }, 'connect refused: cooling down after a quota disconnect');
        return cb(new ConnectRefusedError(ConnackCode.ServerUnavailable, 'disconnected for flooding; try again later'), false);
      }
      if (ctx.holdDevices?.()) {
        return refuse(client, cb, ConnackCode.ServerUnavailable, 'broker restarted: waiting for the edge to subscribe again');
      }
      const check = certLogin && ctx.certAuth ? ctx.certAuth.auth.authenticate(username, certLogin) : deviceAuth.authenticate(username, secret);
      check.then(
        (res) => {
          if (certLogin && res.outcome === DeviceAuthOutcome.Denied) {
            return certRefused(client, cb, CertRefusal.NotRegistered, `no enabled device "${username}" registered to log in with this certificate (${res.reason})`);
          }
          // A revocation pushed while the cloud was answering wins.
          if (certLogin && ctx.certAuth?.revoked.has(certLogin.fingerprint)) {
            return certRefused(client, cb, CertRefusal.Revoked, 'certificate revoked');
          }
          if (res.outcome === DeviceAuthOutcome.Denied) {
            failed();
            const code = res.reason === 'disabled' ? ConnackCode.NotAuthorized : ConnackCode.BadUsernameOrPassword;
            return refuse(client, cb, code, `device ${res.reason}`);
          }
          if (res.outcome === DeviceAuthOutcome.Unavailable) {
            return refuse(client, cb, ConnackCode.ServerUnavailable, 'cloud unavailable for an unknown device', res.error);
          }
          let principal: Principal;
          try {
            if (res.device.id !== username) throw new Error(`authenticator answered for ${res.device.id}`);
            principal = devicePrincipal(res.device.id, res.device.site, res.device.kind);
          } catch (err) {
            return refuse(client, cb, ConnackCode.ServerUnavailable, 'unusable device record', err);
          }
          if (certLogin) {
            metrics.certLogins++;
            logger.info({ deviceId: username, serial: certLogin.serial }, 'device logged in by certificate');
          }
          accept(client, info, principal, cb);
        },
        (err: unknown) => refuse(client, cb, ConnackCode.ServerUnavailable, 'device authenticator failed', err),
      );
    },

    authorizePublish(client, packet, cb) {
      // client is null only for wills restored from persistent storage: none with the
      // in-memory store; with the shared store, wills of a dead broker process, already
      // checked against the ACL at CONNECT (checkWillAtConnect).
      if (client === null) return cb(null);
      const s = sessions.get(client);
      if (s === undefined || s.endReason !== undefined) return discard(packet, cb);
      // Aedes closes the connection on the error and counts it (classifyError).
      if (isMalformedTopicName(packet.topic)) return cb(new MalformedTopicError());
      const payloadBytes = packet.payload.length;
      if (payloadBytes + packet.topic.length > maxPacketBytes) {
        // The frame guard catches this first (and destroys the connection) when it sees
        // the header; this covers a packet that arrived whole in the chunk that tripped
        // it, so only count it when the guard did not.
        if (!client.conn.destroyed) metrics.oversizedPackets++;
        return cb(new PacketTooLargeError(payloadBytes + packet.topic.length, maxPacketBytes));
      }
      if (ctx.certRotation && s.principal.role === Role.Device && ctx.certRotation.isRequest(s.principal.deviceId, packet.topic)) {
        // Answered on the device's reply topic; never routed to anyone.
        ctx.certRotation.handle(client, s.principal.deviceId, Buffer.from(packet.payload));
        return discard(packet, cb);
      }
      if (s.principal.role === GATEWAY_ROLE && ctx.gateways?.isRequest(s.principal, packet.topic)) {
        // A bind/unbind goes to the broker itself, never onto the bus (it carries a key).
        ctx.gateways.handle(client, s.principal, packet.topic, Buffer.from(packet.payload));
        return discard(packet, cb);
      }
      if (!canPublish(s.principal, packet.topic)) {
        metrics.aclDenied.publish++;
        return discard(packet, cb);
      }
      const isWill = packet === (client as Client & { will?: unknown }).will;
      if (s.principal.role === CLAIM_ROLE) {
        // A claim session's request goes to the cloud, never onto the bus (claim-link.ts).
        if (!isWill) ctx.claims?.request(s.principal, Buffer.from(packet.payload), () => setImmediate(() => client.close()));
        return discard(packet, cb);
      }
      if (ctx.quotas && !isWill && s.principal.role === Role.Device) {
        const p = s.principal;
        const verdict = ctx.quotas.check(p.deviceId, slugFromKind(p.kind) ?? 'env-monitor', payloadBytes + packet.topic.length, Date.now(),
          (refused) => ctx.onQuota?.(p, refused, false));
        if (verdict !== QuotaVerdict.Ok) {
          metrics.quotaRefused++;
          if (verdict === QuotaVerdict.Disconnect) {
            metrics.quotaDisconnects++;
            s.endReason = PresenceReason.Quota;
            ctx.onQuota?.(p, 0, true);
            setImmediate(() => client.close());
          }
          return discard(packet, cb);
        }
      }
      if (isWill) s.willFired = true;
      metrics.messagesIn++;
      cb(null);
    },

    authorizeSubscribe(client, sub: Subscription, cb) {
      // Restored marker of a persistent session without subscriptions (conformance.ts).
      if (sub.topic === SESSION_MARKER) return cb(null, null);
      const s = sessions.get(client);
      if (s !== undefined && s.endReason === undefined && canSubscribe(s.principal, sub.topic)) {
        if (sub.qos > s.maxSubQos) s.maxSubQos = sub.qos;
        return cb(null, sub);
      }
      metrics.aclDenied.subscribe++;
      // A null subscription is a SUBACK 0x80 for this filter; the connection stays up.
      cb(null, null);
    },

    authorizeForward(client, packet: AedesPublishPacket) {
      const s = sessions.get(client);
      if (s === undefined || packet.topic === DISCARD_TOPIC) return null;
      if (s.principal.role === INTEGRATION_ROLE && !integrationCanRead(s.principal, packet.topic)) return null;
      if (s.principal.role === GATEWAY_ROLE && !gatewayCanRead(s.principal, packet.topic)) return null;
      // A live QoS 1+ delivery to a persistent session (a replayed one already carries the
      // message id the replay gave it; retained messages sent on subscribe are not queued).
      if (ctx.replay && packet.qos > 0 && packet.messageId === undefined && !packet.retain && client.clean === false &&
        ctx.replay.holdsLive(client, packet)) {
        metrics.heldForReplay++;
        return null;
      }
      const payload = packet.payload;
      const qos = s.maxSubQos === 0 ? 0 : packet.qos;
      const size = publishSize(packet.topic, payload.length, qos);
      if (!admit(s.out, qos, size, queueLimit)) {
        metrics.droppedQos0++;
        return null;
      }
      metrics.messagesOut++;
      return packet;
    },
  };
}

/**
 * Aedes drops a delivery whose per-broker counter is not above the last one this client
 * got from that broker, assuming messages reach it in publish order. Through Redis they
 * do not: a retained or persistent-session message waits for Redis writes before it is
 * emitted, so a later plain message overtakes it and the earlier one was silently dropped
 * (seen as lost online presence). Duplicates it meant to catch are already removed by
 * mqemitter-redis (per-message ids), and QoS 1 allows the rest, so it is switched off.
 */
const NEVER_SEEN: Record<string, number> = new Proxy(Object.create(null) as Record<string, number>, {
  get: () => undefined,
  set: () => true,
});

function disableCounterDedupe(client: Client): void {
  (client as Client & { duplicates: Record<string, number> }).duplicates = NEVER_SEEN;
}

function discard(packet: { topic: string; retain: boolean }, cb: (err?: Error | null) => void): void {
  packet.topic = DISCARD_TOPIC;
  packet.retain = false;
  cb(null);
}
