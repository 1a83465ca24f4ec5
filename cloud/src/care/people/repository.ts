import { SqliteAuditLog } from './audit-log.js';
import { openPeopleDb, type Db } from './db.js';
import { SqliteResidentStore } from './resident-store.js';
import { SqliteStaffStore } from './staff-store.js';
import type { PeopleAuditLog, ResidentStore, StaffStore, UserStore } from './stores.js';
import { SqliteUserStore } from './user-store.js';

export interface PeopleRepositoryOptions {
  /** file path, or ':memory:' */
  file: string;
  now?: () => number;
}

/** People and care records: one store per concern, on SQLite (people.sqlite) or
 * PostgreSQL (schema `people`, pg-people-repository.ts). */
export interface PeopleRepository {
  readonly users: UserStore;
  readonly residents: ResidentStore;
  readonly staff: StaffStore;
  readonly audit: PeopleAuditLog;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * people.sqlite: one database, one store per concern. The stores keep better-sqlite3's
 * synchronous code inside (no transaction spans an await) behind the async interfaces.
 */
export class SqlitePeopleRepository implements PeopleRepository {
  readonly users: SqliteUserStore;
  readonly residents: SqliteResidentStore;
  readonly staff: SqliteStaffStore;
  readonly audit: SqliteAuditLog;
  private readonly db: Db;

  constructor(opts: PeopleRepositoryOptions) {
    const now = opts.now ?? Date.now;
    this.db = openPeopleDb(opts.file);
    this.users = new SqliteUserStore(this.db, now);
    this.residents = new SqliteResidentStore(this.db, now);
    this.staff = new SqliteStaffStore(this.db, now);
    this.audit = new SqliteAuditLog(this.db, now);
  }

  async ping(): Promise<boolean> {
    try {
      return this.db.open && this.db.prepare('SELECT 1 AS ok').get() !== undefined;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}
