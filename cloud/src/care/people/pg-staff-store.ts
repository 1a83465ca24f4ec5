import { randomBytes } from 'node:crypto';
import type { PostgresDatabase } from '../../db/postgres.js';
import { CloudError, CloudErrorCode } from '../../errors.js';
import { FOREIGN_KEY, pgCode, UNIQUE } from './pg-people-schema.js';
import type { HealthGrant, WorkerAssignment } from './records.js';
import type { StaffStore } from './stores.js';

const ASSIGNMENT = 'SELECT user_id AS "userId", community_id AS "communityId", on_duty AS "onDuty", duty_from AS "dutyFrom", duty_to AS "dutyTo" FROM people.worker_assignments';
const GRANT = 'SELECT id, user_id AS "userId", resident_id AS "residentId", granted_by AS "grantedBy", created_at AS "createdAt", expires_at AS "expiresAt" FROM people.health_grants';

/** Community workers' assignments and on-duty state; operators' health-data grants (PostgreSQL). */
export class PgStaffStore implements StaffStore {
  constructor(private readonly db: PostgresDatabase, private readonly now: () => number) {}

  async assignments(userId: string): Promise<WorkerAssignment[]> {
    return (await this.db.query<WorkerAssignment>('reading assignments', `${ASSIGNMENT} WHERE user_id = $1 ORDER BY community_id`, [userId])).rows;
  }

  async assignmentsIn(communityId: string): Promise<WorkerAssignment[]> {
    return (await this.db.query<WorkerAssignment>('reading assignments', `${ASSIGNMENT} WHERE community_id = $1 ORDER BY user_id`, [communityId])).rows;
  }

  async setAssignments(userId: string, list: readonly Omit<WorkerAssignment, 'userId'>[]): Promise<WorkerAssignment[]> {
    return this.db.tx('assigning communities', async (sql) => {
      await sql.query('DELETE FROM people.worker_assignments WHERE user_id = $1', [userId]);
      for (const a of list) {
        try {
          await sql.query('INSERT INTO people.worker_assignments (user_id, community_id, on_duty, duty_from, duty_to) VALUES ($1, $2, $3, $4, $5)',
            [userId, a.communityId, a.onDuty, a.dutyFrom, a.dutyTo]);
        } catch (err) {
          if (pgCode(err) === FOREIGN_KEY) throw new CloudError(CloudErrorCode.Validation, `body/assignments: community "${a.communityId}" does not exist`, { cause: err });
          if (pgCode(err) === UNIQUE) throw new CloudError(CloudErrorCode.Validation, `body/assignments: community "${a.communityId}" is listed twice`, { cause: err });
          throw err;
        }
      }
      return (await sql.query<WorkerAssignment>(`${ASSIGNMENT} WHERE user_id = $1 ORDER BY community_id`, [userId])).rows;
    });
  }

  async setOnDuty(userId: string, onDuty: boolean, communityId?: string): Promise<number> {
    const res = await this.db.query('setting on-duty',
      'UPDATE people.worker_assignments SET on_duty = $1 WHERE user_id = $2 AND ($3::text IS NULL OR community_id = $3)', [onDuty, userId, communityId ?? null]);
    return res.rowCount ?? 0;
  }

  async grant(g: { userId: string; residentId: string; grantedBy: string; expiresAt: number }): Promise<HealthGrant> {
    const id = `hg_${randomBytes(8).toString('hex')}`;
    const res = await this.db.query<HealthGrant>('granting health access', `INSERT INTO people.health_grants
      (id, user_id, resident_id, granted_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)
      RETURNING id, user_id AS "userId", resident_id AS "residentId", granted_by AS "grantedBy", created_at AS "createdAt", expires_at AS "expiresAt"`,
    [id, g.userId, g.residentId, g.grantedBy, this.now(), g.expiresAt]);
    return res.rows[0]!;
  }

  async grantsOf(userId: string): Promise<HealthGrant[]> {
    return (await this.db.query<HealthGrant>('reading grants', `${GRANT} WHERE user_id = $1 ORDER BY created_at`, [userId])).rows;
  }

  async grants(): Promise<HealthGrant[]> {
    return (await this.db.query<HealthGrant>('listing grants', `${GRANT} ORDER BY created_at`)).rows;
  }

  async revoke(id: string): Promise<boolean> {
    return ((await this.db.query('revoking a grant', 'DELETE FROM people.health_grants WHERE id = $1', [id])).rowCount ?? 0) > 0;
  }
}
