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

/** The `api_tokens` table of `integrations.sqlite` (migration 2 in store.ts). Secrets are
 * kept as SHA-256 digests only (256 random bits: see auth-tokens.ts for why not scrypt). */
export class TokenStore {
  constructor(private readonly db: Database.Database) {}

  insert(r: ApiTokenRecord, digest: Buffer): void {
    wrapDb('creating an API token', () => this.db.prepare(
      `INSERT INTO api_tokens (id, secret_sha256, integration, scopes, sites, kinds, description, created_at, expires_at, revoked_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`,
    ).run(r.id, digest, r.integration, JSON.stringify(r.scopes), JSON.stringify(r.sites), JSON.stringify(r.kinds), r.description, r.createdAt, r.expiresAt));
  }

  get(id: string): ApiTokenRecord | undefined {
    return this.withDigest(id)?.record;
  }

  withDigest(id: string): { record: ApiTokenRecord; digest: Buffer } | undefined {
    const row = wrapDb('reading an API token', () => this.db.prepare('SELECT * FROM api_tokens WHERE id = ?').get(id) as Row | undefined);
    return row && { record: toRecord(row), digest: row.secret_sha256 };
  }

  list(integration?: string): ApiTokenRecord[] {
    return wrapDb('listing API tokens', () => (integration === undefined
      ? this.db.prepare('SELECT * FROM api_tokens ORDER BY created_at, id').all()
      : this.db.prepare('SELECT * FROM api_tokens WHERE integration = ? ORDER BY created_at, id').all(integration)) as Row[]).map(toRecord);
  }

  revoke(id: string, at: string): boolean {
    return wrapDb('revoking an API token', () => this.db.prepare('UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(at, id).changes === 1);
  }
}
