import type { Client } from 'aedes';
import { isValidId } from '@yulan/protos';
import { devicePrincipal, servicePrincipal, type Principal } from './acl.js';
import { verifyAccount, type ServiceAccount } from './accounts.js';
import { DeviceAuthOutcome } from './device-auth.js';
import { CertRefusal } from './device-cert.js';
import { ConnackCode, ConnectRefusedError } from './errors.js';
import { connectIntegration } from './integration-auth.js';
import { GATEWAY_ROLE, gatewayPrincipal } from './gateway-acl.js';
import type { ConnectInfo, HookContext } from './hook-context.js';

// The credential check of each kind of account, once auth-hooks.ts has read the CONNECT
// and decided whose it is. Each ends the attempt through `Attempt`, so refusals are
// counted and logged one way whatever the account.

/** One CONNECT being authenticated, and the ways a credential check can end it. */
export interface Attempt {
  readonly client: Client;
  readonly info: ConnectInfo;
  /** The login name: the CONNECT's username, or the certificate's subject. */
  readonly username: string;
  readonly secret: string;
  accept(principal: Principal): void;
  /** Refuses, counted as an authentication failure (or as the cloud unavailable). */
  refuse(code: ConnackCode, why: string, cause?: unknown): void;
  certRefused(refusal: CertRefusal, why: string): void;
  /** Refuses without counting: the refusal is not about the credentials. */
  turnAway(err: ConnectRefusedError): void;
  /** Counts a wrong secret toward the failed-authentication limits (quotas.ts). */
  failed(): void;
}

/** What the cloud-checked logins (integration accounts, claims) answer. */
type LinkAnswer = { ok: true; principal: Principal } | { ok: false; code: ConnackCode; why: string; cause?: unknown };

/** Integration (`int:<name>`) and claim (`claim:<id>`) secrets cost the cloud a scrypt as
 * device secrets do, so a wrong one counts toward the same limits. */
function settle(check: Promise<LinkAnswer>, a: Attempt, what: string): void {
  check.then(
    (r) => {
      if (r.ok) return a.accept(r.principal);
      if (r.code === ConnackCode.BadUsernameOrPassword) a.failed();
      return a.refuse(r.code, r.why, r.cause);
    },
    (err: unknown) => a.refuse(ConnackCode.ServerUnavailable, `${what} check failed`, err),
  );
}

export function integrationLogin(ctx: HookContext, a: Attempt): void {
  settle(connectIntegration(ctx.integrations, a.username, a.info.clientId, a.secret), a, 'integration');
}

export function claimLogin(ctx: HookContext, a: Attempt): void {
  if (!ctx.claims) return a.refuse(ConnackCode.BadUsernameOrPassword, 'claim logins are not enabled');
  settle(ctx.claims.connect(a.username, a.info.clientId, a.info.clean, a.secret), a, 'claim');
}

export function serviceLogin(account: ServiceAccount, a: Attempt): void {
  // Service client ids carry a `<username>:` prefix. Device ids cannot contain `:`,
  // so a device can never take over (and kick) a service's session, or the reverse.
  if (!a.info.clientId.startsWith(`${account.username}:`)) {
    return a.refuse(ConnackCode.IdentifierRejected, 'service client id must start with "<username>:"');
  }
  verifyAccount(account, a.secret).then(
    (ok) =>
      ok
        ? a.accept(account.role === GATEWAY_ROLE ? gatewayPrincipal(account.username, account.certBind) : servicePrincipal(account.username, account.role))
        : (a.failed(), a.refuse(ConnackCode.BadUsernameOrPassword, 'bad service-account password')),
    (err: unknown) => a.refuse(ConnackCode.ServerUnavailable, 'account check failed', err),
  );
}

/** A device, by its secret or (certLogin) by a certificate the device CA signed. */
export function deviceLogin(ctx: HookContext, a: Attempt, certLogin: { fingerprint: string; serial: string } | undefined): void {
  const { metrics, logger } = ctx;
  const username = a.username;
  if (!isValidId(username)) {
    a.failed();
    return a.refuse(ConnackCode.BadUsernameOrPassword, 'invalid device id');
  }
  if (a.info.clientId !== username) {
    return a.refuse(ConnackCode.IdentifierRejected, 'device client id must equal its username');
  }
  const coolMs = ctx.quotas?.coolingDownMs(username, Date.now()) ?? 0;
  if (coolMs > 0) {
    // counted here, not as an authentication failure or an unavailable cloud
    metrics.quotaCooldownRefusals++;
    logger.info({ clientId: a.client.id, coolMs }, 'connect refused: cooling down after a quota disconnect');
    return a.turnAway(new ConnectRefusedError(ConnackCode.ServerUnavailable, 'disconnected for flooding; try again later'));
  }
  if (ctx.holdDevices?.()) {
    return a.refuse(ConnackCode.ServerUnavailable, 'broker restarted: waiting for the edge to subscribe again');
  }
  const check = certLogin && ctx.certAuth ? ctx.certAuth.auth.authenticate(username, certLogin) : ctx.deviceAuth.authenticate(username, a.secret);
  check.then(
    (res) => {
      if (certLogin && res.outcome === DeviceAuthOutcome.Denied) {
        return a.certRefused(CertRefusal.NotRegistered, `no enabled device "${username}" registered to log in with this certificate (${res.reason})`);
      }
      // A revocation pushed while the cloud was answering wins.
      if (certLogin && ctx.certAuth?.revoked.has(certLogin.fingerprint)) {
        return a.certRefused(CertRefusal.Revoked, 'certificate revoked');
      }
      if (res.outcome === DeviceAuthOutcome.Denied) {
        a.failed();
        const code = res.reason === 'disabled' ? ConnackCode.NotAuthorized : ConnackCode.BadUsernameOrPassword;
        return a.refuse(code, `device ${res.reason}`);
      }
      if (res.outcome === DeviceAuthOutcome.Unavailable) {
        return a.refuse(ConnackCode.ServerUnavailable, 'cloud unavailable for an unknown device', res.error);
      }
      let principal: Principal;
      try {
        if (res.device.id !== username) throw new Error(`authenticator answered for ${res.device.id}`);
        principal = devicePrincipal(res.device.id, res.device.site, res.device.kind);
      } catch (err) {
        return a.refuse(ConnackCode.ServerUnavailable, 'unusable device record', err);
      }
      if (certLogin) {
        metrics.certLogins++;
        logger.info({ deviceId: username, serial: certLogin.serial }, 'device logged in by certificate');
      }
      a.accept(principal);
    },
    (err: unknown) => a.refuse(ConnackCode.ServerUnavailable, 'device authenticator failed', err),
  );
}
