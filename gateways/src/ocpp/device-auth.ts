import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { isValidId } from '@yulan/protos';
import type { Logger } from 'pino';

export interface ChargerIdentity {
  id: string;
  site: string;
  /** kind slug as the registry has it; the gateway only serves ev-charger */
  kind: string;
}

export type AuthResult =
  | { outcome: 'ok'; device: ChargerIdentity; source: 'cloud' | 'cache' | 'stale-cache' }
  | { outcome: 'denied'; reason: 'bad-credentials' | 'disabled' }
  | { outcome: 'unavailable'; why: string };

interface Entry { digest: Buffer; device: ChargerIdentity; at: number }

const DAY_MS = 86_400_000;

/**
 * Checks a charge point's id + AuthorizationKey at the cloud's device-auth endpoint
 * (docs/architecture.md, "Device authentication") with the gateway's own bearer. The
 * same rules as the broker's cache: accepted devices are kept by id with an HMAC of the
 * key under a per-process random key (never the key), for `ttlMs`; while the cloud is
 * unreachable a cached acceptance holds up to 24 h and unknown ids are refused.
 */
export class CloudChargerAuth {
  readonly #endpoint: string;
  readonly #key = randomBytes(32);
  readonly #cache = new Map<string, Entry>();
  readonly #inflight = new Map<string, Promise<AuthResult>>();

  constructor(
    cloudUrl: string,
    private readonly token: string,
    private readonly ttlMs: number,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
    /** an https:// cloud URL with a private CA: fetchTrustingCa(YULAN_TLS_CA_FILE) */
    private readonly fetchImpl: typeof fetch = fetch,
  ) {
    this.#endpoint = `${cloudUrl}/api/v1/internal/device-auth`;
  }

  /** Revocation seen (the broker refused or cut the charger's session): ask again next time. */
  forget(id: string): void {
    this.#cache.delete(id);
  }

  async authenticate(id: string, secret: string): Promise<AuthResult> {
    if (!isValidId(id)) return { outcome: 'denied', reason: 'bad-credentials' };
    const digest = createHmac('sha256', this.#key).update(secret).digest();
    const hit = this.#cache.get(id);
    const matches = hit !== undefined && timingSafeEqual(hit.digest, digest);
    if (matches && this.now() - hit.at < this.ttlMs) return { outcome: 'ok', device: hit.device, source: 'cache' };
    const key = `${id}\0${digest.toString('base64')}`;
    let p = this.#inflight.get(key);
    if (!p) {
      p = this.#ask(id, secret, digest).finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, p);
    }
    return p;
  }

  async #ask(id: string, secret: string, digest: Buffer): Promise<AuthResult> {
    const res = await this.#post(id, secret);
    if (res.outcome === 'ok') {
      this.#cache.delete(id);
      this.#cache.set(id, { digest, device: res.device, at: this.now() });
      if (this.#cache.size > 200_000) {
        const oldest = this.#cache.keys().next().value;
        if (oldest !== undefined) this.#cache.delete(oldest);
      }
    } else if (res.outcome === 'denied') {
      this.#cache.delete(id);
    } else {
      const hit = this.#cache.get(id);
      if (hit && timingSafeEqual(hit.digest, digest) && this.now() - hit.at < DAY_MS) {
        return { outcome: 'ok', device: hit.device, source: 'stale-cache' };
      }
    }
    return res;
  }

  async #post(id: string, secret: string): Promise<AuthResult> {
    let status: number;
    let body: unknown;
    try {
      const res = await this.fetchImpl(this.#endpoint, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ deviceId: id, secret }),
        // scrypt at the cloud is slow on purpose; a reconnect storm queues there.
        signal: AbortSignal.timeout(15_000),
      });
      status = res.status;
      body = await res.json().catch(() => undefined);
    } catch (err) {
      return { outcome: 'unavailable', why: `device-auth request failed: ${(err as Error).message}` };
    }
    const b = body as { ok?: unknown; reason?: unknown; device?: { id?: unknown; site?: unknown; kind?: unknown } } | undefined;
    if (status === 200) {
      const d = b?.device;
      if (b?.ok === true && d?.id === id && typeof d.site === 'string' && isValidId(d.site) && typeof d.kind === 'string') {
        return { outcome: 'ok', device: { id, site: d.site, kind: d.kind }, source: 'cloud' };
      }
      return { outcome: 'unavailable', why: 'device-auth answered 200 with a malformed body' };
    }
    if (status === 401 && b?.reason === 'bad-credentials') return { outcome: 'denied', reason: 'bad-credentials' };
    if (status === 403 && b?.reason === 'disabled') return { outcome: 'denied', reason: 'disabled' };
    // A 401 for our own token or a 404 says nothing about the charger: an operator problem.
    if (status < 500) this.logger.error({ status }, 'device-auth answered unexpectedly (is YULAN_GATEWAY_TOKEN set on the cloud?)');
    return { outcome: 'unavailable', why: `device-auth answered ${status}` };
  }
}
