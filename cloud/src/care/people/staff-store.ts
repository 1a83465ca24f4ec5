import { randomBytes } from 'node:crypto';
import { CloudError, CloudErrorCode } from '../../errors.js';
import { sqliteCode, wrap, type Db } from './db.js';
import type { HealthGrant, WorkerAssignment } from './records.js';

interface AssignmentRow {
  user_id: string;
  community_id: string;
  on_duty: number;
  duty_from: string | null;
  duty_to: string | null;
}

const toAssignment = (r: AssignmentRow): WorkerAssignment => ({
  userId: r.user_id,
  communityId: r.community_id,
  onDuty: r.on_duty === 1,
  dutyFrom: r.duty_from,
  dutyTo: r.duty_to,
});

const GRANT_COLUMNS =
  'id, user_id AS userId, resident_id AS residentId, granted_by AS grantedBy, created_at AS createdAt, expires_at AS expiresAt';

/** Community workers' assignments and on-duty state; operators' health-data grants. */
export class SqliteStaffStore {
  private readonly stmts;

  constructor(
    private readonly db: Db,
    private readonly now: () => number,
  ) {
    this.stmts = {
      ofUser: db.prepare('SELECT * FROM worker_assignments WHERE user_id = ? ORDER BY community_id'),
      ofCommunity: db.prepare('SELECT * FROM worker_assignments WHERE community_id = ? ORDER BY user_id'),
      clear: db.prepare('DELETE FROM worker_assignments WHERE user_id = ?'),
      insert: db.prepare(
        'INSERT INTO worker_assignments (user_id, community_id, on_duty, duty_from, duty_to) VALUES (?, ?, ?, ?, ?)',
      ),
      onDutyAll: db.prepare('UPDATE worker_assignments SET on_duty = ? WHERE user_id = ?'),
      onDutyOne: db.prepare('UPDATE worker_assignments SET on_duty = ? WHERE user_id = ? AND community_id = ?'),
      grantInsert: db.prepare(
        'INSERT INTO health_grants (id, user_id, resident_id, granted_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      grantGet: db.prepare(`SELECT ${GRANT_COLUMNS} FROM health_grants WHERE id = ?`),
      grantsOf: db.prepare(`SELECT ${GRANT_COLUMNS} FROM health_grants WHERE user_id = ? ORDER BY created_at`),
      grants: db.prepare(`SELECT ${GRANT_COLUMNS} FROM health_grants ORDER BY created_at`),
      grantDelete: db.prepare('DELETE FROM health_grants WHERE id = ?'),
    };
  }

  async assignments(userId: string): Promise<WorkerAssignment[]> {
    return wrap('reading assignments', () => (this.stmts.ofUser.all(userId) as AssignmentRow[]).map(toAssignment));
  }

  async assignmentsIn(communityId: string): Promise<WorkerAssignment[]> {
    return wrap('reading assignments', () => (this.stmts.ofCommunity.all(communityId) as AssignmentRow[]).map(toAssignment));
  }

  /** Replaces a worker's assignments. */
  async setAssignments(userId: string, list: readonly Omit<WorkerAssignment, 'userId'>[]): Promise<WorkerAssignment[]> {
    return wrap('assigning communities', () =>
      this.db.transaction(() => {
        this.stmts.clear.run(userId);
        for (const a of list) {
          try {
            this.stmts.insert.run(userId, a.communityId, a.onDuty ? 1 : 0, a.dutyFrom, a.dutyTo);
          } catch (err) {
            if (sqliteCode(err) === 'SQLITE_CONSTRAINT_FOREIGNKEY') {
              throw new CloudError(CloudErrorCode.Validation, `body/assignments: community "${a.communityId}" does not exist`, { cause: err });
            }
            if (sqliteCode(err) === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
              throw new CloudError(CloudErrorCode.Validation, `body/assignments: community "${a.communityId}" is listed twice`, { cause: err });
            }
            throw err;
          }
        }
        return (this.stmts.ofUser.all(userId) as AssignmentRow[]).map(toAssignment);
      })(),
    );
  }

  /** Sets on-duty for one community or all of the worker's; returns how many changed. */
  async setOnDuty(userId: string, onDuty: boolean, communityId?: string): Promise<number> {
    return wrap('setting on-duty', () =>
      (communityId === undefined
        ? this.stmts.onDutyAll.run(onDuty ? 1 : 0, userId)
        : this.stmts.onDutyOne.run(onDuty ? 1 : 0, userId, communityId)
      ).changes,
    );
  }

  async grant(g: { userId: string; residentId: string; grantedBy: string; expiresAt: number }): Promise<HealthGrant> {
    return wrap('granting health access', () => {
      const id = `hg_${randomBytes(8).toString('hex')}`;
      this.stmts.grantInsert.run(id, g.userId, g.residentId, g.grantedBy, this.now(), g.expiresAt);
      return this.stmts.grantGet.get(id) as HealthGrant;
    });
  }

  async grantsOf(userId: string): Promise<HealthGrant[]> {
    return wrap('reading grants', () => this.stmts.grantsOf.all(userId) as HealthGrant[]);
  }

  async grants(): Promise<HealthGrant[]> {
    return wrap('listing grants', () => this.stmts.grants.all() as HealthGrant[]);
  }

  async revoke(id: string): Promise<boolean> {
    return wrap('revoking a grant', () => this.stmts.grantDelete.run(id).changes > 0);
  }
}
