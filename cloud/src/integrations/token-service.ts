import { randomBytes, timingSafeEqual } from 'node:crypto';
import { INTEGRATION_USER_PREFIX, KIND_SLUGS, generateSecret, isValidId } from '@yulan/protos';
import type { Logger } from 'pino';
import { digestToken } from '../auth-tokens.js';
import type { AuditLog, Principal } from '../care/contracts.js';
import { CloudError, CloudErrorCode } from '../errors.js';
import type { IntegrationStore } from './store.js';
import { HEALTH_SCOPES, TOKEN_PREFIX, TOKEN_SCOPES, parseToken, type TokenScope } from './token-scopes.js';
import type { ApiTokenRecord, TokenStore } from './token-store.js';

export type TokenPrincipal = Principal & { kind: 'api-token' };

export interface TokenInput {
  integration?: string | null;
  scopes: string[];
  sites?: string[];
  kinds?: string[];
  description?: string | null;
  expiresInDays?: number;
}

/** Why a token was refused (logged; the caller sees one message for all). */
export type TokenRefusal = 'malformed' | 'unknown' | 'revoked' | 'expired' | 'integration-disabled' | 'integration-gone';

/** Audit name of a standalone token in the integration audit trail. */
const standalone = (id: string): string => `token:${id}`;

/**
 * Scoped API tokens (docs/integrations.md): what the Node-RED nodes and other tools use
 * instead of the admin token. A token bound to an integration account lives and dies with
 * it (disabled or deleted: refused) and reads health data only under its health grant,
 * which is looked up on every request so a revoked grant applies at once.
 */
export class ApiTokenService {
  readonly #revoked = new Set<(id: string) => void>();

  constructor(private readonly o: { tokens: TokenStore; integrations: IntegrationStore; logger: Logger; healthAudit?: AuditLog; now?: () => number }) {}

  #nowMs(): number {
    return (this.o.now ?? Date.now)();
  }

  async list(integration?: string): Promise<ApiTokenRecord[]> {
    return this.o.tokens.list(integration);
  }

  async get(id: string): Promise<ApiTokenRecord> {
    const r = /^[0-9a-f]{16}$/.test(id) ? await this.o.tokens.get(id) : undefined;
    if (!r) throw new CloudError(CloudErrorCode.NotFound, `API token "${id}" does not exist`);
    return r;
  }

  async create(input: TokenInput, actor: string): Promise<{ record: ApiTokenRecord; token: string }> {
    const scopes = [...new Set(input.scopes)];
    if (scopes.length === 0) throw new CloudError(CloudErrorCode.Validation, `a token needs at least one scope (${TOKEN_SCOPES.join(', ')})`);
    for (const s of scopes) if (!TOKEN_SCOPES.includes(s as TokenScope)) throw new CloudError(CloudErrorCode.Validation, `unknown scope "${s}" (${TOKEN_SCOPES.join(', ')})`);
    const sites = [...new Set(input.sites ?? [])];
    for (const s of sites) if (!isValidId(s)) throw new CloudError(CloudErrorCode.Validation, `"${s}" is not a site id`);
    const kinds = [...new Set(input.kinds ?? [])];
    for (const k of kinds) if (!(KIND_SLUGS as readonly string[]).includes(k)) throw new CloudError(CloudErrorCode.Validation, `"${k}" is not a device kind (${KIND_SLUGS.join(', ')})`);
    const integration = input.integration ?? null;
    if (integration !== null) {
      const acc = await this.o.integrations.get(integration);
      if (!acc) throw new CloudError(CloudErrorCode.NotFound, `integration "${integration}" does not exist`);
      if (!acc.healthGrant && scopes.some((s) => HEALTH_SCOPES.has(s as TokenScope))) {
        throw new CloudError(CloudErrorCode.Validation, `"alerts:read" reads residents' health data: grant integration "${integration}" health access first (yulan integration set ${integration} --health)`);
      }
    } else if (scopes.some((s) => HEALTH_SCOPES.has(s as TokenScope))) {
      throw new CloudError(CloudErrorCode.Validation, '"alerts:read" reads residents\' health data: only a token bound to an integration with the health grant may have it');
    }
    const now = this.#nowMs();
    const days = input.expiresInDays;
    const record: ApiTokenRecord = {
      id: randomBytes(8).toString('hex'), integration, scopes: scopes as TokenScope[], sites, kinds, description: input.description ?? null,
      createdAt: new Date(now).toISOString(), expiresAt: days !== undefined ? new Date(now + days * 86_400_000).toISOString() : null, revokedAt: null,
    };
    const token = `${TOKEN_PREFIX}${record.id}_${generateSecret()}`;
    await this.o.tokens.insert(record, digestToken(token));
    await this.#audit(actor, record, 'token.create', `scopes: ${record.scopes.join(' ')}; sites: ${sites.join(' ') || '*'}; kinds: ${kinds.join(' ') || '*'}${record.expiresAt ? `; expires ${record.expiresAt}` : ''}`);
    return { record, token };
  }

  async revoke(id: string, actor: string): Promise<ApiTokenRecord> {
    await this.get(id); // unknown: NotFound
    // Conditional in the store: of two clouds revoking at once, one records and audits it.
    if (!await this.o.tokens.revoke(id, new Date(this.#nowMs()).toISOString())) return this.get(id);
    const record = await this.get(id);
    await this.#audit(actor, record, 'token.revoke', null);
    for (const fn of this.#revoked) fn(id);
    return record;
  }

  /** Calls `fn(id)` when a token is revoked (open streams end). */
  onRevoke(fn: (id: string) => void): () => void {
    this.#revoked.add(fn);
    return () => this.#revoked.delete(fn);
  }

  /** The principal of a presented token, or why not. Cheap: one primary-key read (the token
   * joined with its account) and a SHA-256 compared in constant time, no per-request
   * writes and no cache — so a revocation on any cloud applies from the next request. */
  async resolve(token: string): Promise<{ ok: true; principal: TokenPrincipal } | { ok: false; reason: TokenRefusal }> {
    const parsed = parseToken(token);
    if (!parsed) return { ok: false, reason: 'malformed' };
    const found = await this.o.tokens.withDigest(parsed.id);
    const digest = digestToken(token);
    if (!found || found.digest.length !== digest.length || !timingSafeEqual(found.digest, digest)) return { ok: false, reason: 'unknown' };
    const r = found.record;
    if (r.revokedAt !== null) return { ok: false, reason: 'revoked' };
    if (r.expiresAt !== null && Date.parse(r.expiresAt) <= this.#nowMs()) return { ok: false, reason: 'expired' };
    let healthGrant = false;
    if (r.integration !== null) {
      const acc = found.account;
      if (!acc) return { ok: false, reason: 'integration-gone' };
      if (acc.status !== 'active') return { ok: false, reason: 'integration-disabled' };
      healthGrant = acc.healthGrant;
    }
    return { ok: true, principal: { kind: 'api-token', tokenId: r.id, integration: r.integration, scopes: r.scopes, sites: r.sites, kinds: r.kinds, healthGrant } };
  }

  /** Whether a principal resolved earlier still stands (long-lived streams ask before each write). */
  async stillValid(p: TokenPrincipal): Promise<TokenPrincipal | undefined> {
    const r = await this.o.tokens.get(p.tokenId);
    if (!r || r.revokedAt !== null || (r.expiresAt !== null && Date.parse(r.expiresAt) <= this.#nowMs())) return undefined;
    if (r.integration === null) return p;
    const acc = await this.o.integrations.get(r.integration);
    return acc && acc.status === 'active' ? { ...p, healthGrant: acc.healthGrant } : undefined;
  }

  async #audit(actor: string, r: ApiTokenRecord, action: string, detail: string | null): Promise<void> {
    const text = `token ${r.id}${detail ? `: ${detail}` : ''}`;
    await this.o.integrations.audit(new Date(this.#nowMs()).toISOString(), actor, r.integration ?? standalone(r.id), action, text);
    if (this.o.healthAudit && r.scopes.some((s) => HEALTH_SCOPES.has(s))) {
      await this.o.healthAudit.record({ actor, action, residentId: null, purpose: `integration ${INTEGRATION_USER_PREFIX}${r.integration ?? standalone(r.id)}`, detail: text });
    }
  }
}
