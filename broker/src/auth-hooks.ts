import type { Client } from 'aedes';
import { canPublish, type Principal } from './acl.js';
import { CertRefusal, peerCertificateOf } from './device-cert.js';
import { ConnackCode, ConnectRefusedError } from './errors.js';
import { createOutgoingState } from './flow-control.js';
import { INTEGRATION_USER_PREFIX } from './integration-acl.js';
import { CLAIM_USER_PREFIX } from './claim-acl.js';
import { addressOf, clientHolding, connectWill, disableCounterDedupe, dropConnectWill } from './aedes-view.js';
import { claimLogin, deviceLogin, integrationLogin, serviceLogin, type Attempt } from './authenticators.js';
import type { ConnectInfo, HookContext, Hooks, HookState } from './hook-context.js';

type ConnectHooks = Pick<Hooks, 'preConnect' | 'authenticate'>;
type ConnectCallback = (err: ConnectRefusedError | null, ok: boolean) => void;

/** The connect hooks: who may connect, as whom, and the session they get. */
export function createAuthHooks(ctx: HookContext, state: HookState): ConnectHooks {
  const { accounts, deviceAuth, metrics, logger } = ctx;
  const { sessions, connects, order } = state;

  function refuse(client: Client, cb: ConnectCallback, code: ConnackCode, why: string, cause?: unknown): void {
    if (code === ConnackCode.ServerUnavailable) metrics.authUnavailable++;
    else metrics.authFailures++;
    logger.info({ clientId: client.id, code, why }, 'connect refused');
    cb(new ConnectRefusedError(code, why, { cause }), false);
  }

  function certRefused(client: Client, cb: ConnectCallback, r: CertRefusal, why: string): void {
    metrics.certRefused[r]++;
    refuse(client, cb, ConnackCode.NotAuthorized, why);
  }

  function accept(client: Client, info: ConnectInfo, principal: Principal, cb: ConnectCallback): void {
    // One event-loop turn first, so a connection whose FIN came in the same read as its
    // CONNECT is seen as gone (see connect-order.ts).
    setImmediate(() => decide(client, info, principal, cb));
  }

  function decide(client: Client, info: ConnectInfo, principal: Principal, cb: ConnectCallback): void {
    const stale = order.staleReason(info.clientId, info.seq, client.conn, client.closed === true);
    if (stale !== undefined) {
      metrics.connectsAbandoned++;
      return cb(new ConnectRefusedError(ConnackCode.ServerUnavailable, stale), false);
    }
    order.accepted(info.clientId, info.seq);
    // Aedes closes the live session holding this id once we accept.
    const holder = clientHolding(client, info.clientId);
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
    const will = connectWill(client);
    if (will && !canPublish(principal, will.topic)) {
      metrics.aclDenied.publish++;
      dropConnectWill(client);
    }
  }

  return {
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
      const login = username;
      const secret = password?.toString('utf8') ?? '';
      const address = addressOf(client);
      // Past the failure limit a secret is not checked at all (each check costs the cloud a
      // scrypt), unless it is one this broker accepted recently for this device.
      const blocked = ctx.limits?.authBlocked(address, login, Date.now());
      // A certificate the device CA signed costs no scrypt to check: not throttled.
      if (blocked !== undefined && certLogin === undefined && deviceAuth.knows?.(login, secret) !== true) {
        metrics.authThrottled++;
        return refuse(client, cb, ConnackCode.NotAuthorized, `too many failed authentications for this ${blocked === 'address' ? 'address' : 'client id'}`);
      }
      const a: Attempt = {
        client,
        info,
        username: login,
        secret,
        accept: (principal) => accept(client, info, principal, cb),
        refuse: (code, why, cause) => refuse(client, cb, code, why, cause),
        certRefused: (r, why) => certRefused(client, cb, r, why),
        turnAway: (err) => cb(err, false),
        failed: () => ctx.limits?.authFailed(address, login, Date.now()),
      };
      if (certLogin === undefined && login.startsWith(INTEGRATION_USER_PREFIX)) return integrationLogin(ctx, a);
      if (certLogin === undefined && login.startsWith(CLAIM_USER_PREFIX)) return claimLogin(ctx, a);
      const account = accounts.get(login);
      if (account && certLogin === undefined) return serviceLogin(account, a);
      deviceLogin(ctx, a, certLogin);
    },
  };
}
