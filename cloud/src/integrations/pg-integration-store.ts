import type { IntegrationRule } from '@yulan/protos';
import type { DbTarget } from '../db/target.js';
import type { PostgresDatabase } from '../db/postgres.js';
import { SqliteIntegrationStore, type IntegrationAuditRow, type IntegrationPatch, type IntegrationRecord, type IntegrationStore, type IntegrationStatus } from './store.js';
import type { TokenScope } from './token-scopes.js';
import { SqliteTokenStore, type ApiTokenRecord, type TokenStore, type TokenWithDigest } from './token-store.js';

/**
 * The integration accounts and API tokens in PostgreSQL, schema `integrations` (the
 * counterpart of integrations.sqlite). Times are timestamptz, read back as the same ISO
 * strings the SQLite store keeps; rules, scopes, sites and kinds are jsonb; a token's
 * secret is its SHA-256 digest (bytea), never the token.
 *
 * Safe with several clouds on one database: an account name is taken once (primary key,
 * ON CONFLICT DO NOTHING), a token is revoked once (conditional UPDATE: only the first
 * revocation is audited), and nothing is cached, so every cloud sees a revocation, a
 * disabled account or a withdrawn health grant from its next request on.
 */
export const MIGRATIONS = [
  `CREATE SCHEMA IF NOT EXISTS integrations;
   CREATE TABLE integrations.accounts (
     name text PRIMARY KEY,
     secret_hash text NOT NULL,
     status text NOT NULL CHECK (status IN ('active', 'disabled')),
     rules jsonb NOT NULL,
     namespace boolean NOT NULL,
     health_grant boolean NOT NULL,
     description text,
     created_at timestamptz NOT NULL,
     updated_at timestamptz NOT NULL,
     secret_rotated_at timestamptz NOT NULL
   );
   CREATE TABLE integrations.audit (
     id bigserial PRIMARY KEY,
     at timestamptz NOT NULL,
     actor text NOT NULL,
     name text NOT NULL,
     action text NOT NULL,
     detail text
   );
   CREATE INDEX audit_name ON integrations.audit (name, id);
   CREATE TABLE integrations.api_tokens (
     id text PRIMARY KEY,
     secret_sha256 bytea NOT NULL,
     integration text,
     scopes jsonb NOT NULL,
     sites jsonb NOT NULL,
     kinds jsonb NOT NULL,
     description text,
     created_at timestamptz NOT NULL,
     expires_at timestamptz,
     revoked_at timestamptz
   );
   CREATE INDEX api_tokens_integration ON integrations.api_tokens (integration);`,
];

const iso = (d: Date): string => d.toISOString();
const isoOrNull = (d: Date | null): string | null => (d === null ? null : d.toISOString());

interface AccountRow {
  name: string; secret_hash: string; status: IntegrationStatus; rules: IntegrationRule[]; namespace: boolean; health_grant: boolean;
  description: string | null; created_at: Date; updated_at: Date; secret_rotated_at: Date;
}
const toAccount = (r: AccountRow): IntegrationRecord => ({
  name: r.name, status: r.status, rules: r.rules, namespace: r.namespace, healthGrant: r.health_grant, description: r.description,
  createdAt: iso(r.created_at), updatedAt: iso(r.updated_at), secretRotatedAt: iso(r.secret_rotated_at),
});

interface TokenRow {
  id: string; secret_sha256: Buffer; integration: string | null; scopes: TokenScope[]; sites: string[]; kinds: string[];
  description: string | null; created_at: Date; expires_at: Date | null; revoked_at: Date | null;
}
const toToken = (r: TokenRow): ApiTokenRecord => ({
  id: r.id, integration: r.integration, scopes: r.scopes, sites: r.sites, kinds: r.kinds, description: r.description,
  createdAt: iso(r.created_at), expiresAt: isoOrNull(r.expires_at), revokedAt: isoOrNull(r.revoked_at),
});

export class PgIntegrationStore implements IntegrationStore {
  constructor(private readonly db: PostgresDatabase) {}

  async insert(r: IntegrationRecord, secretHash: string): Promise<boolean> {
    const res = await this.db.query('creating an integration', `INSERT INTO integrations.accounts
      (name, secret_hash, status, rules, namespace, health_grant, description, created_at, updated_at, secret_rotated_at)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (name) DO NOTHING`,
    [r.name, secretHash, r.status, JSON.stringify(r.rules), r.namespace, r.healthGrant, r.description, r.createdAt, r.updatedAt, r.secretRotatedAt]);
    return res.rowCount === 1;
  }

  async get(name: string): Promise<IntegrationRecord | undefined> {
    return (await this.secretHash(name))?.record;
  }

  async secretHash(name: string): Promise<{ record: IntegrationRecord; hash: string } | undefined> {
    const r = await this.db.query<AccountRow>('reading an integration', 'SELECT * FROM integrations.accounts WHERE name = $1', [name]);
    const row = r.rows[0];
    return row && { record: toAccount(row), hash: row.secret_hash };
  }

  async list(): Promise<IntegrationRecord[]> {
    const r = await this.db.query<AccountRow>('listing integrations', 'SELECT * FROM integrations.accounts ORDER BY name');
    return r.rows.map(toAccount);
  }

  async update(name: string, p: IntegrationPatch, secretHash?: string): Promise<IntegrationRecord | undefined> {
    const r = await this.db.query<AccountRow>('updating an integration', `UPDATE integrations.accounts SET status = COALESCE($1, status),
      rules = COALESCE($2::jsonb, rules), namespace = COALESCE($3, namespace), health_grant = COALESCE($4, health_grant),
      description = CASE WHEN $5 THEN $6 ELSE description END, updated_at = $7, secret_rotated_at = COALESCE($8, secret_rotated_at),
      secret_hash = COALESCE($9, secret_hash) WHERE name = $10 RETURNING *`,
    [p.status ?? null, p.rules === undefined ? null : JSON.stringify(p.rules), p.namespace ?? null, p.healthGrant ?? null, p.description !== undefined,
      p.description ?? null, p.updatedAt, p.secretRotatedAt ?? null, secretHash ?? null, name]);
    return r.rows[0] && toAccount(r.rows[0]);
  }

  async delete(name: string): Promise<boolean> {
    return (await this.db.query('deleting an integration', 'DELETE FROM integrations.accounts WHERE name = $1', [name])).rowCount === 1;
  }

  async audit(at: string, actor: string, name: string, action: string, detail: string | null): Promise<void> {
    await this.db.query('writing the integration audit', 'INSERT INTO integrations.audit (at, actor, name, action, detail) VALUES ($1, $2, $3, $4, $5)',
      [at, actor, name, action, detail]);
  }

  async auditOf(name: string, limit: number): Promise<IntegrationAuditRow[]> {
    const r = await this.db.query<{ id: number; at: Date; actor: string; action: string; detail: string | null }>('reading the integration audit',
      'SELECT id, at, actor, action, detail FROM integrations.audit WHERE name = $1 ORDER BY id DESC LIMIT $2', [name, limit]);
    return r.rows.map((x) => ({ ...x, at: iso(x.at) }));
  }

  /** The pool is the cloud's, closed by start.ts. */
  async close(): Promise<void> {}
}

export class PgTokenStore implements TokenStore {
  constructor(private readonly db: PostgresDatabase) {}

  async insert(r: ApiTokenRecord, digest: Buffer): Promise<void> {
    await this.db.query('creating an API token', `INSERT INTO integrations.api_tokens
      (id, secret_sha256, integration, scopes, sites, kinds, description, created_at, expires_at, revoked_at)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL)`,
    [r.id, digest, r.integration, JSON.stringify(r.scopes), JSON.stringify(r.sites), JSON.stringify(r.kinds), r.description, r.createdAt, r.expiresAt]);
  }

  async get(id: string): Promise<ApiTokenRecord | undefined> {
    const r = await this.db.query<TokenRow>('reading an API token', 'SELECT * FROM integrations.api_tokens WHERE id = $1', [id]);
    return r.rows[0] && toToken(r.rows[0]);
  }

  async withDigest(id: string): Promise<TokenWithDigest | undefined> {
    const r = await this.db.query<TokenRow & { account_status: 'active' | 'disabled' | null; account_health: boolean | null }>('reading an API token',
      `SELECT t.*, a.status AS account_status, a.health_grant AS account_health
       FROM integrations.api_tokens t LEFT JOIN integrations.accounts a ON a.name = t.integration WHERE t.id = $1`, [id]);
    const row = r.rows[0];
    return row && {
      record: toToken(row), digest: row.secret_sha256,
      account: row.account_status === null ? null : { status: row.account_status, healthGrant: row.account_health === true },
    };
  }

  async list(integration?: string): Promise<ApiTokenRecord[]> {
    const r = integration === undefined
      ? await this.db.query<TokenRow>('listing API tokens', 'SELECT * FROM integrations.api_tokens ORDER BY created_at, id')
      : await this.db.query<TokenRow>('listing API tokens', 'SELECT * FROM integrations.api_tokens WHERE integration = $1 ORDER BY created_at, id', [integration]);
    return r.rows.map(toToken);
  }

  async revoke(id: string, at: string): Promise<boolean> {
    const r = await this.db.query('revoking an API token', 'UPDATE integrations.api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [at, id]);
    return r.rowCount === 1;
  }
}

/** The accounts and tokens on `target`: one SQLite file for both, or the `integrations` schema. */
export async function openIntegrationStores(target: DbTarget): Promise<{ accounts: IntegrationStore; tokens: TokenStore }> {
  if (target.kind === 'sqlite') {
    const accounts = new SqliteIntegrationStore(target.file);
    return { accounts, tokens: new SqliteTokenStore(accounts.db) };
  }
  await target.db.migrate('integrations', MIGRATIONS);
  return { accounts: new PgIntegrationStore(target.db), tokens: new PgTokenStore(target.db) };
}
