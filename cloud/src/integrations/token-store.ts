import type Database from 'better-sqlite3';
import { wrapDb } from '../repositories/sqlite.js';
import type { TokenScope } from './token-scopes.js';

export interface ApiTokenRecord {
  id: string;
  /** the integration account it acts for, or null (standalone) */
  integration: string | null;
  scopes: TokenScope[];
  /** empty: every site */
  sites: string[];
  /** empty: every kind */
  kinds: string[];
  description: string | null;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
}

interface Row {
  id: string; secret_sha256: Buffer; integration: string | null; scopes: string; sites: string; kinds: string;
  description: string | null; created_at: string; expires_at: string | null; revoked_at: string | null;
}

function toRecord(r: Row): ApiTokenRecord {
  return {
    id: r.id, integration: r.integration, scopes: JSON.parse(r.scopes) as TokenScope[], sites: JSON.parse(r.sites) as string[],
    kinds: JSON.parse(r.kinds) as string[], description: r.description, createdAt: r.created_at, expiresAt: r.expires_at, revokedAt: r.revoked_at,
  };
}

/** What a token's request needs of its integration account (null: standalone, or the account is gone). */
export interface TokenAccount { status: 'active' | 'disabled'; healthGrant: boolean }

/** A token as the per-request check reads it: one round trip for the record, its digest
 * and its account's state. */
export interface TokenWithDigest { record: ApiTokenRecord; digest: Buffer; account: TokenAccount | null }

/**
 * The scoped API tokens: secrets kept as SHA-256 digests only (256 random bits: see
 * auth-tokens.ts for why not scrypt). SQLite (`api_tokens` in integrations.sqlite,
 * migration 2 in store.ts) or PostgreSQL (`integrations.api_tokens`); no cache in front of
 * either, so a revocation applies from the next request on every cloud sharing the data.
 */
export interface TokenStore {
  insert(r: ApiTokenRecord, digest: Buffer): Promise<void>;
  get(id: string): Promise<ApiTokenRecord | undefined>;
  withDigest(id: string): Promise<TokenWithDigest | undefined>;
  list(integration?: string): Promise<ApiTokenRecord[]>;
  /** false when unknown or already revoked (so only one revocation is audited) */
  revoke(id: string, at: string): Promise<boolean>;
}

type JoinedRow = Row & { account_status: 'active' | 'disabled' | null; account_health: number | null };

export class SqliteTokenStore implements TokenStore {
  constructor(private readonly db: Database.Database) {}

  async insert(r: ApiTokenRecord, digest: Buffer): Promise<void> {
    wrapDb('creating an API token', () => this.db.prepare(
      `INSERT INTO api_tokens (id, secret_sha256, integration, scopes, sites, kinds, description, created_at, expires_at, revoked_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`,
    ).run(r.id, digest, r.integration, JSON.stringify(r.scopes), JSON.stringify(r.sites), JSON.stringify(r.kinds), r.description, r.createdAt, r.expiresAt));
  }

  async get(id: string): Promise<ApiTokenRecord | undefined> {
    const row = wrapDb('reading an API token', () => this.db.prepare('SELECT * FROM api_tokens WHERE id = ?').get(id) as Row | undefined);
    return row && toRecord(row);
  }

  async withDigest(id: string): Promise<TokenWithDigest | undefined> {
    const row = wrapDb('reading an API token', () => this.db.prepare(
      `SELECT t.*, i.status AS account_status, i.health_grant AS account_health
       FROM api_tokens t LEFT JOIN integrations i ON i.name = t.integration WHERE t.id = ?`,
    ).get(id) as JoinedRow | undefined);
    return row && {
      record: toRecord(row), digest: row.secret_sha256,
      account: row.account_status === null ? null : { status: row.account_status, healthGrant: row.account_health === 1 },
    };
  }

  async list(integration?: string): Promise<ApiTokenRecord[]> {
    return wrapDb('listing API tokens', () => (integration === undefined
      ? this.db.prepare('SELECT * FROM api_tokens ORDER BY created_at, id').all()
      : this.db.prepare('SELECT * FROM api_tokens WHERE integration = ? ORDER BY created_at, id').all(integration)) as Row[]).map(toRecord);
  }

  async revoke(id: string, at: string): Promise<boolean> {
    return wrapDb('revoking an API token', () => this.db.prepare('UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(at, id).changes === 1);
  }
}
