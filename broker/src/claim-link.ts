import { ClaimRefusal, KIND_SLUGS, parseProvisionRequest, type KindSlug, type ProvisionResponse } from '@yulan/protos';
import type { Logger } from 'pino';
import { postCloudCheck } from './cloud-check.js';
import { ConnackCode } from './errors.js';
import { claimPrincipal, parseClaimLogin, type ClaimPrincipal } from './claim-acl.js';

/** Claim counters, part of the broker's metrics. */
export interface ClaimMetrics {
  /** claim sessions accepted */
  logins: number;
  /** claim logins refused (wrong secret, revoked or expired claim, bad client id) */
  loginsRefused: number;
  /** exchanges that gave a device its identity */
  exchanged: number;
  /** exchanges the cloud refused (reason in the response and the cloud's audit) */
  exchangeRefused: number;
  /** requests not passed on: malformed, or over the per-session bound */
  requestsDropped: number;
}

export function emptyClaimMetrics(): ClaimMetrics {
  return { logins: 0, loginsRefused: 0, exchanged: 0, exchangeRefused: 0, requestsDropped: 0 };
}

export type ClaimConnect = { ok: true; principal: ClaimPrincipal } | { ok: false; code: ConnackCode; why: string; cause?: unknown };

/** How many exchange requests one claim session may make before it is closed: a device
 * needs one; a few allow for a lost response before the retry is refused as a reuse. */
export const MAX_REQUESTS_PER_SESSION = 3;

/**
 * The broker's side of provisioning by claim: checks a `claim:<id>` login with the cloud
 * (`/internal/claim-auth`), and turns a request the session publishes into a call to
 * `/internal/claim-exchange`, publishing the answer on the session's response topic. The
 * request is never routed (nobody else ever sees it); the response topic is one only that
 * session may subscribe to, under `$yulan`, which no wildcard matches.
 */
export class ClaimGate {
  readonly metrics: ClaimMetrics;
  readonly #auth: string;
  readonly #exchange: string;

  constructor(private readonly o: {
    cloudUrl: string;
    brokerToken: string;
    logger: Logger;
    /** publishes the response (QoS 1, not retained) */
    publish(topic: string, payload: Buffer): Promise<void>;
    timeoutMs?: number;
    metrics?: ClaimMetrics;
    /** https:// with a private CA (fetchTrustingCa), as the other cloud checks */
    fetch?: typeof fetch;
  }) {
    this.metrics = o.metrics ?? emptyClaimMetrics();
    const base = o.cloudUrl.replace(/\/+$/, '');
    this.#auth = `${base}/api/v1/internal/claim-auth`;
    this.#exchange = `${base}/api/v1/internal/claim-exchange`;
  }

  async connect(username: string, clientId: string, clean: boolean, secret: string): Promise<ClaimConnect> {
    const login = parseClaimLogin(username, clientId);
    if (typeof login === 'string') return this.#refused(ConnackCode.IdentifierRejected, login);
    // Nothing to keep for a claim session: a persistent one would also count as a
    // persistent subscriber the broker waits for after a restart (startup-hold.ts).
    if (!clean) return this.#refused(ConnackCode.IdentifierRejected, 'claim sessions must be clean sessions');
    const r = await postCloudCheck(this.#auth, this.o.brokerToken, { claimId: login.claimId, secret, serial: login.serial },
      this.o.timeoutMs ?? 5000, this.o.logger, 'claim-auth', this.o.fetch);
    if (r.kind === 'denied') {
      return this.#refused(r.reason === 'disabled' ? ConnackCode.NotAuthorized : ConnackCode.BadUsernameOrPassword,
        r.reason === 'disabled' ? 'claim revoked or expired' : 'bad claim credentials');
    }
    if (r.kind === 'unavailable') return { ok: false, code: ConnackCode.ServerUnavailable, why: 'cloud unavailable for a claim login', cause: r.message };
    const c = (r.body as { ok?: unknown; claim?: { id?: unknown; kind?: unknown; site?: unknown } } | undefined)?.claim;
    if (c?.id !== login.claimId || typeof c.site !== 'string' || !(KIND_SLUGS as readonly unknown[]).includes(c.kind)) {
      return { ok: false, code: ConnackCode.ServerUnavailable, why: 'claim-auth answered 200 with a malformed body' };
    }
    this.metrics.logins++;
    this.o.logger.info({ claimId: login.claimId, serial: login.serial }, 'claim session opened');
    return { ok: true, principal: claimPrincipal(login.claimId, login.serial, c.kind as KindSlug, c.site) };
  }

  /** A publish on the session's request topic. `close` ends the session (over its bound). */
  request(p: ClaimPrincipal, payload: Buffer, close: () => void): void {
    const req = parseProvisionRequest(payload);
    if (req === undefined || p.inFlight) {
      this.metrics.requestsDropped++;
      if (req === undefined) void this.#answer(p, { ok: false, reason: ClaimRefusal.BadCsr, message: 'the request must be a JSON object, with an optional "csr" (PEM)' });
      return;
    }
    if (p.requests >= MAX_REQUESTS_PER_SESSION) {
      this.metrics.requestsDropped++;
      this.o.logger.warn({ claimId: p.claimId, serial: p.serial }, 'claim session closed: too many exchange requests');
      close();
      return;
    }
    p.requests++;
    p.inFlight = true;
    void this.#exchangeFor(p, req.csr).finally(() => { p.inFlight = false; });
  }

  async #exchangeFor(p: ClaimPrincipal, csr: string | undefined): Promise<void> {
    const r = await postCloudCheck(this.#exchange, this.o.brokerToken, { claimId: p.claimId, serial: p.serial, ...(csr !== undefined ? { csr } : {}) },
      this.o.timeoutMs ?? 10_000, this.o.logger, 'claim-exchange', this.o.fetch);
    let answer: ProvisionResponse;
    if (r.kind === 'answer' && typeof (r.body as { ok?: unknown } | undefined)?.ok === 'boolean') {
      answer = r.body as ProvisionResponse;
    } else {
      answer = { ok: false, reason: ClaimRefusal.Unavailable, message: 'the cloud could not be asked; try again later' };
    }
    if (answer.ok) this.metrics.exchanged++;
    else this.metrics.exchangeRefused++;
    await this.#answer(p, answer);
  }

  #answer(p: ClaimPrincipal, answer: ProvisionResponse): Promise<void> {
    return this.o.publish(p.responseTopic, Buffer.from(JSON.stringify(answer), 'utf8'));
  }

  #refused(code: ConnackCode, why: string): ClaimConnect {
    this.metrics.loginsRefused++;
    return { ok: false, code, why };
  }
}
