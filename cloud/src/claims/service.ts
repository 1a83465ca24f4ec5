import {
  ClaimRefusal, KIND_SLUGS, generateSecret, hashSecret, isClaimId, isValidId, isValidSerial, verifySecret,
  type KindSlug, type ProvisionResponse,
} from '@yulan/protos';
import type { Logger } from 'pino';
import { CloudError, CloudErrorCode } from '../errors.js';
import type { DeviceRepository } from '../repositories/device-repository.js';
import type { DeviceCertsModule } from '../device-certs/index.js';
import type { ClaimEvent, ClaimRecord, ClaimStore, ClaimUse } from './store.js';

export interface ClaimInput {
  id: string;
  kind: KindSlug;
  site: string;
  count: number;
  /** ISO time; or `days` from now */
  expiresAt?: string;
  days?: number;
  description?: string | null;
}

export type ClaimAuth = { ok: true; claim: { id: string; kind: KindSlug; site: string } } | { ok: false; reason: ClaimRefusal };

/** Refusals that are an operator's business (someone holds the claim secret and is using
 * it wrongly); a wrong secret for an unknown claim is only counted. */
export const REFUSED_ACTION = 'claim.refused';
const MAX_DAYS = 3650;
const MINUTE_MS = 60_000;
export type RefusalStatus = 400 | 401 | 403 | 409 | 429 | 503;
const STATUS: Partial<Record<ClaimRefusal, RefusalStatus>> = {
  'bad-credentials': 401, revoked: 403, expired: 403, exhausted: 409, 'serial-used': 409, 'device-exists': 409,
  'bad-serial': 400, 'bad-csr': 400, 'no-certificates': 400, 'rate-limited': 429, unavailable: 503,
};
export function statusOfRefusal(reason: ClaimRefusal): RefusalStatus {
  return STATUS[reason] ?? 400;
}

/**
 * Provisioning by claim (docs/security.md): the rules, not the routes'. A claim is a
 * batch credential bounded by kind, site, count and expiry; each serial exchanges it once
 * for its own device (a secret, or a certificate from its CSR). Every refusal of a known
 * claim is audited, counted, logged as a warning and listed for operators
 * (`GET /api/v1/claims/refusals`, `yulan claim refusals`).
 */
export class ClaimService {
  readonly refused: Record<string, number> = Object.fromEntries(Object.values(ClaimRefusal).map((r) => [r, 0]));
  readonly #decoy: Promise<string>;
  readonly #attempts = new Map<string, number[]>();

  constructor(private readonly o: {
    store: ClaimStore;
    devices: DeviceRepository;
    certs?: DeviceCertsModule;
    logger: Logger;
    /** exchange attempts per claim per minute (MQTT and HTTP together) */
    exchangesPerMinute?: number;
    now?: () => number;
    /** tells the broker to close the claim's open sessions (claims/index.ts) */
    onRevoked?: (claimId: string) => void;
  }) {
    this.#decoy = hashSecret(generateSecret());
  }

  #nowMs(): number {
    return (this.o.now ?? Date.now)();
  }
  #now(): string {
    return new Date(this.#nowMs()).toISOString();
  }
  /** The service's clock (ISO), for views that say whether a claim has expired. */
  nowIso(): string {
    return this.#now();
  }

  list(): Promise<ClaimRecord[]> {
    return this.o.store.list();
  }

  async get(id: string): Promise<ClaimRecord> {
    const r = isClaimId(id) ? await this.o.store.get(id) : undefined;
    if (!r) throw new CloudError(CloudErrorCode.NotFound, `claim "${id}" does not exist`);
    return r;
  }

  async uses(id: string): Promise<ClaimUse[]> {
    return this.o.store.uses((await this.get(id)).id);
  }

  async events(q: { claimId?: string; refusedOnly?: boolean; limit: number }): Promise<ClaimEvent[]> {
    if (q.claimId !== undefined) await this.get(q.claimId);
    return this.o.store.events({ ...(q.claimId !== undefined ? { claimId: q.claimId } : {}), ...(q.refusedOnly ? { action: REFUSED_ACTION } : {}), limit: q.limit });
  }

  async create(input: ClaimInput, actor: string): Promise<{ record: ClaimRecord; secret: string }> {
    if (!isClaimId(input.id)) throw new CloudError(CloudErrorCode.Validation, `claim id "${input.id}" must be 1-48 of a-z 0-9 _ - (starting with a letter or digit)`);
    if (!(KIND_SLUGS as readonly string[]).includes(input.kind)) throw new CloudError(CloudErrorCode.Validation, `unknown kind "${input.kind}"`);
    if (!isValidId(input.site)) throw new CloudError(CloudErrorCode.Validation, `"${input.site}" is not a site id`);
    if (!Number.isInteger(input.count) || input.count < 1 || input.count > 1_000_000) throw new CloudError(CloudErrorCode.Validation, 'count must be an integer from 1 to 1000000');
    const now = this.#nowMs();
    let expires: number;
    if (input.expiresAt !== undefined && input.days !== undefined) throw new CloudError(CloudErrorCode.Validation, 'give expiresAt or days, not both');
    if (input.expiresAt !== undefined) expires = Date.parse(input.expiresAt);
    else expires = now + (input.days ?? 30) * 86_400_000;
    if (!Number.isFinite(expires) || expires <= now) throw new CloudError(CloudErrorCode.Validation, 'the claim must expire in the future');
    if (expires > now + MAX_DAYS * 86_400_000) throw new CloudError(CloudErrorCode.Validation, `a claim may live at most ${MAX_DAYS} days`);
    const record: ClaimRecord = {
      id: input.id, kind: input.kind, site: input.site, maxCount: input.count, usedCount: 0, expiresAt: new Date(expires).toISOString(),
      revokedAt: null, description: input.description ?? null, createdAt: new Date(now).toISOString(),
    };
    const secret = generateSecret();
    if (!(await this.o.store.insert(record, await hashSecret(secret)))) throw new CloudError(CloudErrorCode.Duplicate, `claim "${input.id}" already exists`);
    await this.o.store.event(record.createdAt, record.id, actor, 'claim.create', null, `kind=${record.kind} site=${record.site} count=${record.maxCount} expires=${record.expiresAt}`);
    this.o.logger.info({ claimId: record.id, kind: record.kind, site: record.site, count: record.maxCount, expiresAt: record.expiresAt }, 'claim created');
    return { record, secret };
  }

  async revoke(id: string, actor: string): Promise<ClaimRecord> {
    const before = await this.get(id);
    const r = (await this.o.store.revoke(before.id, this.#now())) ?? before;
    if (before.revokedAt === null) {
      await this.o.store.event(r.revokedAt ?? this.#now(), r.id, actor, 'claim.revoke', null, `used ${r.usedCount} of ${r.maxCount}`);
      this.o.logger.info({ claimId: r.id }, 'claim revoked');
    }
    // Also when it was revoked already: a repeated revoke repairs a push the broker missed.
    this.o.onRevoked?.(r.id);
    return r;
  }

  /** The claim login: right secret (timing-safe; unknown ids pay a scrypt against a decoy),
   * neither revoked nor expired. Whether a slot is left is the exchange's question. */
  async authenticate(claimId: string, secret: string, serial: string | undefined, via: string): Promise<ClaimAuth> {
    const found = isClaimId(claimId) ? await this.o.store.withHash(claimId) : undefined;
    const ok = await verifySecret(secret, found?.hash ?? (await this.#decoy));
    if (!found || !ok) {
      this.refused[ClaimRefusal.BadCredentials] = (this.refused[ClaimRefusal.BadCredentials] ?? 0) + 1;
      this.o.logger.info({ claimId: isClaimId(claimId) ? claimId : '(malformed)', via }, 'claim login refused: bad credentials');
      return { ok: false, reason: ClaimRefusal.BadCredentials };
    }
    const c = found.record;
    const reason = c.revokedAt !== null ? ClaimRefusal.Revoked : c.expiresAt <= this.#now() ? ClaimRefusal.Expired : undefined;
    if (reason) {
      await this.#refuse(c.id, serial ?? null, reason, `claim ${reason}`, via);
      return { ok: false, reason };
    }
    return { ok: true, claim: { id: c.id, kind: c.kind, site: c.site } };
  }

  /**
   * Exchanges the claim for `serial`'s own identity. The caller has checked the claim
   * secret (the broker at CONNECT, the HTTP route just before). The serial becomes the
   * device id; a CSR gets a certificate for it instead of a secret.
   */
  async exchange(claimId: string, serial: string, csr: string | undefined, via: string): Promise<ProvisionResponse> {
    if (!this.#allow(claimId)) return this.#refuse(claimId, serial, ClaimRefusal.RateLimited, 'too many exchange attempts for this claim; try again in a minute', via);
    if (!isValidSerial(serial)) return this.#refuse(claimId, null, ClaimRefusal.BadSerial, 'the serial number is not a valid device id (1-64 of A-Z a-z 0-9 _ . -, not a name reserved for the platform)', via);
    if (csr !== undefined && !this.o.certs) return this.#refuse(claimId, serial, ClaimRefusal.NoCertificates, 'this cloud has no device CA; send no CSR to get a secret', via);
    const secret = generateSecret();
    // Slow work first (scrypt, the CSR's signature) so the reservation below is one
    // transaction; a certificate made for a refused request is never stored,
    // and an unstored certificate cannot log in (device-cert-auth).
    const secretHash = await hashSecret(secret);
    let issued: Awaited<ReturnType<DeviceCertsModule['ca']['issue']>> | undefined;
    if (csr !== undefined && this.o.certs) {
      try {
        issued = await this.o.certs.ca.issue(serial, csr, this.o.certs.defaultDays);
      } catch (err) {
        return this.#refuse(claimId, serial, ClaimRefusal.BadCsr, (err as Error).message, via);
      }
    }
    // A serial that used this claim already is refused as such by the reservation below.
    if (!(await this.o.store.used(claimId, serial)) && (await this.o.devices.get(serial))) return this.#refuse(claimId, serial, ClaimRefusal.DeviceExists, `a device "${serial}" is already registered`, via);
    const now = this.#now();
    const r = await this.o.store.reserve(claimId, serial, serial, via, now);
    if (!r.ok) return this.#refuse(r.claim ? claimId : null, serial, r.reason, refusalMessage(r.reason, r.claim), via);
    const c = r.claim;
    try {
      await this.o.devices.create({ id: serial, site: c.site, kind: c.kind, secretHash });
    } catch (err) {
      await this.o.store.release(claimId, serial);
      if (err instanceof CloudError && err.code === CloudErrorCode.Duplicate) {
        return this.#refuse(claimId, serial, ClaimRefusal.DeviceExists, `a device "${serial}" is already registered`, via);
      }
      throw err;
    }
    if (issued && this.o.certs) {
      await this.o.certs.store.add({ fingerprint: issued.fingerprint, deviceId: serial, serial: issued.serial, notAfter: issued.notAfter, issuedAt: now });
    }
    await this.o.store.event(now, claimId, `device:${serial}`, 'claim.exchange', serial, `via=${via} ${issued ? `certificate=${issued.fingerprint}` : 'secret'} used ${c.usedCount} of ${c.maxCount}`);
    this.o.logger.info({ claimId, deviceId: serial, site: c.site, kind: c.kind, via, credential: issued ? 'certificate' : 'secret' }, 'device provisioned by claim');
    const device = { id: serial, site: c.site, kind: c.kind };
    return issued && this.o.certs
      ? { ok: true, device, certificate: issued.certificatePem, caCertificate: this.o.certs.ca.certPem }
      : { ok: true, device, secret };
  }

  /** Sliding one-minute window per claim: a leaked claim secret cannot mint devices (or
   * fill the audit) at full speed. */
  #allow(claimId: string): boolean {
    const limit = this.o.exchangesPerMinute ?? 60;
    const now = this.#nowMs();
    const recent = (this.#attempts.get(claimId) ?? []).filter((t) => now - t < MINUTE_MS);
    if (recent.length >= limit) {
      this.#attempts.set(claimId, recent);
      return false;
    }
    recent.push(now);
    this.#attempts.set(claimId, recent);
    if (this.#attempts.size > 10_000) this.#attempts.delete(this.#attempts.keys().next().value as string);
    return true;
  }

  async #refuse(claimId: string | null, serial: string | null, reason: ClaimRefusal, message: string, via: string): Promise<ProvisionResponse> {
    this.refused[reason] = (this.refused[reason] ?? 0) + 1;
    if (claimId !== null && isClaimId(claimId) && reason !== ClaimRefusal.RateLimited) {
      // rate-limited attempts are counted, not each audited: that is what the limit is for
      if (await this.o.store.get(claimId)) await this.o.store.event(this.#now(), claimId, serial ? `device:${serial}` : 'device', REFUSED_ACTION, serial, `${reason} via=${via}: ${message}`);
    }
    this.o.logger.warn({ claimId, serial, reason, via }, `claim refused: ${message}`);
    return { ok: false, reason, message };
  }
}

function refusalMessage(reason: ClaimRefusal, c: ClaimRecord | undefined): string {
  switch (reason) {
    case ClaimRefusal.Revoked: return 'the claim was revoked';
    case ClaimRefusal.Expired: return `the claim expired at ${c?.expiresAt ?? '?'}`;
    case ClaimRefusal.SerialUsed: return 'this serial number has used the claim already';
    case ClaimRefusal.Exhausted: return `the claim's ${c?.maxCount ?? '?'} devices have all been provisioned`;
    case ClaimRefusal.BadCredentials: return 'no such claim';
    default: return reason;
  }
}
