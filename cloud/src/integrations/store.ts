import type Database from 'better-sqlite3';
import type { IntegrationRule } from '@yulan/protos';
import { openMigratedDb, wrapDb } from '../repositories/sqlite.js';

export type IntegrationStatus = 'active' | 'disabled';

export interface IntegrationRecord {
  name: string;
  status: IntegrationStatus;
  rules: IntegrationRule[];
  namespace: boolean;
  healthGrant: boolean;
  description: string | null;
  createdAt: string;
  updatedAt: string;
  secretRotatedAt: string;
}

/** The fields a change sets; the others keep what is stored (a concurrent change of them,
 * on another cloud, is not overwritten with an older read). */
export type IntegrationPatch = Partial<Pick<IntegrationRecord, 'status' | 'rules' | 'namespace' | 'healthGrant' | 'description' | 'secretRotatedAt'>>
  & { updatedAt: string };

export interface IntegrationAuditRow {
  id: number;
  at: string;
  actor: string;
  action: string;
  detail: string | null;
}

const MIGRATIONS = [
  `CREATE TABLE integrations (
     name TEXT PRIMARY KEY,
     secret_hash TEXT NOT NULL,
     status TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
     rules TEXT NOT NULL,
     namespace INTEGER NOT NULL,
     health_grant INTEGER NOT NULL,
     description TEXT,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL,
     secret_rotated_at TEXT NOT NULL
   );
   CREATE TABLE integration_audit (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     at TEXT NOT NULL,
     actor TEXT NOT NULL,
     name TEXT NOT NULL,
     action TEXT NOT NULL,
     detail TEXT
   );
   CREATE INDEX integration_audit_name ON integration_audit (name, id);`,
  // Scoped API tokens (token-store.ts): bound to an account or standalone (integration NULL).
  `CREATE TABLE api_tokens (
     id TEXT PRIMARY KEY,
     secret_sha256 BLOB NOT NULL,
     integration TEXT,
     scopes TEXT NOT NULL,
     sites TEXT NOT NULL,
     kinds TEXT NOT NULL,
     description TEXT,
     created_at TEXT NOT NULL,
     expires_at TEXT,
     revoked_at TEXT
   );
   CREATE INDEX api_tokens_integration ON api_tokens (integration);`,
];

interface Row {
  name: string; secret_hash: string; status: IntegrationStatus; rules: string; namespace: number; health_grant: number;
  description: string | null; created_at: string; updated_at: string; secret_rotated_at: string;
}

function toRecord(r: Row): IntegrationRecord {
  return {
    name: r.name, status: r.status, rules: JSON.parse(r.rules) as IntegrationRule[], namespace: r.namespace === 1,
    healthGrant: r.health_grant === 1, description: r.description, createdAt: r.created_at, updatedAt: r.updated_at,
    secretRotatedAt: r.secret_rotated_at,
  };
}

/**
 * The integration accounts (secrets as scrypt hashes) and their audit trail: SQLite
 * (`<dataDir>/integrations.sqlite`, below) or PostgreSQL (schema `integrations`,
 * pg-integration-store.ts); both pass cloud/test/integration-store-contract.test.ts.
 */
export interface IntegrationStore {
  /** false when the name is taken */
  insert(r: IntegrationRecord, secretHash: string): Promise<boolean>;
  get(name: string): Promise<IntegrationRecord | undefined>;
  secretHash(name: string): Promise<{ record: IntegrationRecord; hash: string } | undefined>;
  list(): Promise<IntegrationRecord[]>;
  /** Sets the patch's fields (and the secret hash, when given); the account as now stored, or undefined when there is none. */
  update(name: string, patch: IntegrationPatch, secretHash?: string): Promise<IntegrationRecord | undefined>;
  delete(name: string): Promise<boolean>;
  audit(at: string, actor: string, name: string, action: string, detail: string | null): Promise<void>;
  auditOf(name: string, limit: number): Promise<IntegrationAuditRow[]>;
  close(): Promise<void>;
}

/** `<dataDir>/integrations.sqlite`. The better-sqlite3 calls stay synchronous inside. */
export class SqliteIntegrationStore implements IntegrationStore {
  readonly #db: Database.Database;

  constructor(file: string) {
    this.#db = openMigratedDb(file, MIGRATIONS, 'integrations');
  }

  async insert(r: IntegrationRecord, secretHash: string): Promise<boolean> {
    return wrapDb('creating an integration', () => this.#db.prepare(
      `INSERT OR IGNORE INTO integrations (name, secret_hash, status, rules, namespace, health_grant, description, created_at, updated_at, secret_rotated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(r.name, secretHash, r.status, JSON.stringify(r.rules), r.namespace ? 1 : 0, r.healthGrant ? 1 : 0, r.description, r.createdAt, r.updatedAt, r.secretRotatedAt).changes === 1);
  }

  async get(name: string): Promise<IntegrationRecord | undefined> {
    const row = wrapDb('reading an integration', () => this.#db.prepare('SELECT * FROM integrations WHERE name = ?').get(name) as Row | undefined);
    return row && toRecord(row);
  }

  async secretHash(name: string): Promise<{ record: IntegrationRecord; hash: string } | undefined> {
    const row = wrapDb('reading an integration', () => this.#db.prepare('SELECT * FROM integrations WHERE name = ?').get(name) as Row | undefined);
    return row && { record: toRecord(row), hash: row.secret_hash };
  }

  async list(): Promise<IntegrationRecord[]> {
    return wrapDb('listing integrations', () => (this.#db.prepare('SELECT * FROM integrations ORDER BY name').all() as Row[]).map(toRecord));
  }

  async update(name: string, p: IntegrationPatch, secretHash?: string): Promise<IntegrationRecord | undefined> {
    const row = wrapDb('updating an integration', () => this.#db.prepare(
      `UPDATE integrations SET status = COALESCE(?, status), rules = COALESCE(?, rules), namespace = COALESCE(?, namespace),
         health_grant = COALESCE(?, health_grant), description = CASE WHEN ? THEN ? ELSE description END, updated_at = ?,
         secret_rotated_at = COALESCE(?, secret_rotated_at), secret_hash = COALESCE(?, secret_hash) WHERE name = ? RETURNING *`,
    ).get(p.status ?? null, p.rules === undefined ? null : JSON.stringify(p.rules), p.namespace === undefined ? null : p.namespace ? 1 : 0,
      p.healthGrant === undefined ? null : p.healthGrant ? 1 : 0, p.description === undefined ? 0 : 1, p.description ?? null, p.updatedAt,
      p.secretRotatedAt ?? null, secretHash ?? null, name) as Row | undefined);
    return row && toRecord(row);
  }

  async delete(name: string): Promise<boolean> {
    return wrapDb('deleting an integration', () => this.#db.prepare('DELETE FROM integrations WHERE name = ?').run(name).changes === 1);
  }

  async audit(at: string, actor: string, name: string, action: string, detail: string | null): Promise<void> {
    wrapDb('writing the integration audit', () => {
      this.#db.prepare('INSERT INTO integration_audit (at, actor, name, action, detail) VALUES (?, ?, ?, ?, ?)').run(at, actor, name, action, detail);
    });
  }

  async auditOf(name: string, limit: number): Promise<IntegrationAuditRow[]> {
    return wrapDb('reading the integration audit', () => this.#db.prepare(
      'SELECT id, at, actor, action, detail FROM integration_audit WHERE name = ? ORDER BY id DESC LIMIT ?',
    ).all(name, limit) as IntegrationAuditRow[]);
  }

  /** The same file for the API tokens (token-store.ts), one schema version for both. */
  get db(): Database.Database {
    return this.#db;
  }

  async close(): Promise<void> {
    this.#db.close();
  }
}
