import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { BrokerError, BrokerErrorCode, ConnackCode } from './errors.js';
import { postCloudCheck } from './cloud-check.js';
import { INTEGRATION_USER_PREFIX, isIntegrationAccount, type IntegrationAccount } from '@yulan/protos';
import { integrationPrincipal, type IntegrationPrincipal } from './integration-acl.js';

export type IntegrationAuthResult =
  | { outcome: 'ok'; account: IntegrationAccount; source: 'cloud' | 'cache' | 'stale-cache' }
  | { outcome: 'denied'; reason: 'bad-credentials' | 'disabled' }
  | { outcome: 'unavailable'; error: BrokerError };

/** Decides whether an integration account may connect, and with which rules. Never throws. */
export interface IntegrationAuthenticator {
  authenticate(name: string, secret: string): Promise<IntegrationAuthResult>;
  /** Drops the cached acceptance (rule change, disable, rotate, delete). */
  forget(name: string): void;
}

export interface CloudIntegrationAuthOptions {
  cloudUrl: string;
  brokerToken: string;
  ttlMs: number;
  staleMs?: number;
  timeoutMs?: number;
  logger: Logger;
  now?: () => number;
  /** for an https:// cloud URL with a private CA (fetchTrustingCa) */
  fetch?: typeof fetch;
}

interface Entry {
  digest: Buffer;
  account: IntegrationAccount;
  verifiedAt: number;
}

const DAY_MS = 86_400_000;

/**
 * `POST {cloud}/api/v1/internal/integration-auth`, the integration counterpart of the
 * device-auth client (device-auth.ts) with the same cache rules: acceptances kept by name
 * with an HMAC of the secret under a per-process key, reused for `ttlMs`, and for a day
 * while the cloud is unreachable. Accounts are few, so no size bound or request sharing.
 */
export class CloudIntegrationAuthenticator implements IntegrationAuthenticator {
  readonly #endpoint: string;
  readonly #token: string;
  readonly #ttlMs: number;
  readonly #staleMs: number;
  readonly #timeoutMs: number;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #key = randomBytes(32);
  readonly #cache = new Map<string, Entry>();
  /** Bumped by forget(), so an answer that raced a revocation is not cached. */
  #generation = 0;

  constructor(opts: CloudIntegrationAuthOptions) {
    this.#endpoint = `${opts.cloudUrl.replace(/\/+$/, '')}/api/v1/internal/integration-auth`;
    this.#token = opts.brokerToken;
    this.#ttlMs = opts.ttlMs;
    this.#staleMs = opts.staleMs ?? DAY_MS;
    this.#timeoutMs = opts.timeoutMs ?? 5000;
    this.#logger = opts.logger;
    this.#now = opts.now ?? Date.now;
    this.#fetch = opts.fetch;
  }
  readonly #fetch: typeof fetch | undefined;

  forget(name: string): void {
    this.#cache.delete(name);
    this.#generation++;
  }

  async authenticate(name: string, secret: string): Promise<IntegrationAuthResult> {
    const digest = createHmac('sha256', this.#key).update(secret).digest();
    const cached = this.#cache.get(name);
    const matches = cached !== undefined && timingSafeEqual(cached.digest, digest);
    if (matches && this.#now() - cached.verifiedAt < this.#ttlMs) return { outcome: 'ok', account: cached.account, source: 'cache' };
    const generation = this.#generation;
    const res = await this.#post(name, secret);
    if (res.outcome === 'ok') {
      if (generation === this.#generation) this.#cache.set(name, { digest, account: res.account, verifiedAt: this.#now() });
    } else if (res.outcome === 'denied') {
      this.#cache.delete(name);
    } else if (matches && this.#now() - cached.verifiedAt < this.#staleMs && this.#cache.get(name) === cached) {
      return { outcome: 'ok', account: cached.account, source: 'stale-cache' };
    }
    return res;
  }

  async #post(name: string, secret: string): Promise<IntegrationAuthResult> {
    const r = await postCloudCheck(this.#endpoint, this.#token, { name, secret }, this.#timeoutMs, this.#logger, 'integration-auth', this.#fetch);
    if (r.kind === 'denied') return { outcome: 'denied', reason: r.reason };
    if (r.kind === 'unavailable') return unavailable(r.message, r.cause);
    const b = r.body as { ok?: unknown; account?: unknown } | undefined;
    if (b?.ok === true && isIntegrationAccount(b.account) && b.account.name === name) {
      return { outcome: 'ok', account: b.account, source: 'cloud' };
    }
    return unavailable('integration-auth answered 200 with a malformed body');
  }
}

function unavailable(message: string, cause?: unknown): IntegrationAuthResult {
  return { outcome: 'unavailable', error: new BrokerError(BrokerErrorCode.DeviceAuth, message, { cause }) };
}

export type IntegrationConnect =
  | { ok: true; principal: IntegrationPrincipal }
  | { ok: false; code: ConnackCode; why: string; cause?: unknown };

/**
 * The CONNECT decision for a `int:<name>` username. Its client id must be the username,
 * start with `<username>:`, or be empty (clean session, Aedes makes one up), so an
 * integration can never take over, and kick, a device's or a service's session.
 */
export async function connectIntegration(
  auth: IntegrationAuthenticator | undefined,
  username: string,
  clientId: string,
  secret: string,
): Promise<IntegrationConnect> {
  const name = username.slice(INTEGRATION_USER_PREFIX.length);
  if (!auth) return { ok: false, code: ConnackCode.BadUsernameOrPassword, why: 'integration accounts are not enabled' };
  if (clientId !== '' && clientId !== username && !clientId.startsWith(`${username}:`)) {
    return { ok: false, code: ConnackCode.IdentifierRejected, why: 'integration client id must be empty, "<username>" or start with "<username>:"' };
  }
  const res = await auth.authenticate(name, secret);
  if (res.outcome === 'denied') {
    return { ok: false, code: res.reason === 'disabled' ? ConnackCode.NotAuthorized : ConnackCode.BadUsernameOrPassword, why: `integration ${res.reason}` };
  }
  if (res.outcome === 'unavailable') return { ok: false, code: ConnackCode.ServerUnavailable, why: 'cloud unavailable', cause: res.error };
  return { ok: true, principal: integrationPrincipal(res.account) };
}
