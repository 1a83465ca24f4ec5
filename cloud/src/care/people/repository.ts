import { SqliteAuditLog } from './audit-log.js';
import { openPeopleDb, type Db } from './db.js';
import { ResidentStore } from './resident-store.js';
import { StaffStore } from './staff-store.js';
import { UserStore } from './user-store.js';

export interface PeopleRepositoryOptions {
  /** file path, or ':memory:' */
  file: string;
  now?: () => number;
}

/**
 * people.sqlite: one database, one store per concern. The stores are synchronous
 * (better-sqlite3); the seams other parts use (CareDirectory, AuditLog) are async, so a
 * networked database can replace this without touching the alert side.
 */
export class PeopleRepository {
  readonly users: UserStore;
  readonly residents: ResidentStore;
  readonly staff: StaffStore;
  readonly audit: SqliteAuditLog;
  private readonly db: Db;

  constructor(opts: PeopleRepositoryOptions) {
    const now = opts.now ?? Date.now;
    this.db = openPeopleDb(opts.file);
    this.users = new UserStore(this.db, now);
    this.residents = new ResidentStore(this.db, now);
    this.staff = new StaffStore(this.db, now);
    this.audit = new SqliteAuditLog(this.db, now);
  }

  ping(): boolean {
    try {
      return this.db.open && this.db.prepare('SELECT 1 AS ok').get() !== undefined;
    } catch {
      return false;
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
