import type { PostgresDatabase } from '../../db/postgres.js';
import { PgAuditLog } from './pg-audit-log.js';
import { PEOPLE_MIGRATIONS } from './pg-people-schema.js';
import { PgResidentStore } from './pg-resident-store.js';
import { PgStaffStore } from './pg-staff-store.js';
import { PgUserStore } from './pg-user-store.js';
import type { PeopleRepository } from './repository.js';

/** People and care records in PostgreSQL (schema `people`), shared by every cloud on the
 * database. The pool belongs to start.ts: closing the repository leaves it open. */
export class PgPeopleRepository implements PeopleRepository {
  readonly users: PgUserStore;
  readonly residents: PgResidentStore;
  readonly staff: PgStaffStore;
  readonly audit: PgAuditLog;

  private constructor(private readonly db: PostgresDatabase, now: () => number) {
    this.users = new PgUserStore(db, now);
    this.residents = new PgResidentStore(db, now);
    this.staff = new PgStaffStore(db, now);
    this.audit = new PgAuditLog(db, now);
  }

  static async open(db: PostgresDatabase, now: () => number = Date.now): Promise<PgPeopleRepository> {
    await db.migrate('people', PEOPLE_MIGRATIONS);
    return new PgPeopleRepository(db, now);
  }

  async ping(): Promise<boolean> {
    try {
      return (await this.db.query('pinging people', 'SELECT 1 AS ok')).rowCount === 1;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    // the shared pool is closed by its owner
  }
}
