import type { PostgresDatabase } from '../../db/postgres.js';
import { CloudError, CloudErrorCode } from '../../errors.js';
import type { AuditEntry, LadderConfig } from '../contracts.js';
import { auditValues } from './audit-log.js';
import { FOREIGN_KEY, onForeignKey, pgCode, UNIQUE } from './pg-people-schema.js';
import type { Community, FamilyLink, LinkPeriod, NewResident, ResidentPatch, ResidentRecord, Routine } from './records.js';
import type { ResidentStore } from './stores.js';

interface Row {
  id: string; name: string; address: string | null; community_id: string; phone: string | null;
  birth_year: number | null; notes: string | null; ladder: LadderConfig; routine: Routine; created_at: number;
}

const toResident = (r: Row): ResidentRecord => ({
  id: r.id, name: r.name, address: r.address, communityId: r.community_id, phone: r.phone, birthYear: r.birth_year,
  notes: r.notes, ladder: r.ladder, routine: r.routine, createdAt: r.created_at,
});

const COLUMN: Record<keyof ResidentPatch, string> = {
  name: 'name', address: 'address', communityId: 'community_id', phone: 'phone', birthYear: 'birth_year',
  notes: 'notes', ladder: 'ladder', routine: 'routine',
};
const COMMUNITY = 'SELECT id, name, created_at AS "createdAt" FROM people.communities';
const FAMILY = 'SELECT resident_id AS "residentId", user_id AS "userId", position, relation FROM people.family_links WHERE resident_id = $1 ORDER BY position';

/**
 * Communities, residents, their devices and family contacts in PostgreSQL (schema
 * `people`). Replacing a resident's devices locks the resident row and relies on the
 * device's primary key, so two clouds linking one device to two residents at once leave
 * it with exactly one (the other gets 409). Erasure is one transaction.
 */
export class PgResidentStore implements ResidentStore {
  constructor(private readonly db: PostgresDatabase, private readonly now: () => number) {}

  async createCommunity(id: string, name: string): Promise<Community> {
    try {
      const res = await this.db.query<Community>('creating a community',
        'INSERT INTO people.communities (id, name, created_at) VALUES ($1, $2, $3) RETURNING id, name, created_at AS "createdAt"', [id, name, this.now()]);
      return res.rows[0]!;
    } catch (err) {
      if (pgCode(err) === UNIQUE) throw new CloudError(CloudErrorCode.Duplicate, `community "${id}" already exists`, { cause: err });
      throw err;
    }
  }

  async community(id: string): Promise<Community | undefined> {
    return (await this.db.query<Community>('reading a community', `${COMMUNITY} WHERE id = $1`, [id])).rows[0];
  }

  async communities(): Promise<Community[]> {
    return (await this.db.query<Community>('listing communities', `${COMMUNITY} ORDER BY id`)).rows;
  }

  async renameCommunity(id: string, name: string): Promise<Community | undefined> {
    return (await this.db.query<Community>('renaming a community',
      'UPDATE people.communities SET name = $2 WHERE id = $1 RETURNING id, name, created_at AS "createdAt"', [id, name])).rows[0];
  }

  async removeCommunity(id: string): Promise<boolean> {
    try {
      return ((await this.db.query('deleting a community', 'DELETE FROM people.communities WHERE id = $1', [id])).rowCount ?? 0) > 0;
    } catch (err) {
      return onForeignKey(err, CloudErrorCode.Duplicate, `community "${id}" still has residents`);
    }
  }

  async create(r: NewResident): Promise<ResidentRecord> {
    try {
      const res = await this.db.query<Row>('creating a resident', `INSERT INTO people.residents
        (id, name, address, community_id, phone, birth_year, notes, ladder, routine, created_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING *`,
      [r.id, r.name, r.address, r.communityId, r.phone, r.birthYear, r.notes, JSON.stringify(r.ladder), JSON.stringify(r.routine), this.now()]);
      return toResident(res.rows[0]!);
    } catch (err) {
      if (pgCode(err) === UNIQUE) throw new CloudError(CloudErrorCode.Duplicate, `resident "${r.id}" already exists`, { cause: err });
      return onForeignKey(err, CloudErrorCode.Validation, `body/communityId: community "${r.communityId}" does not exist`);
    }
  }

  async get(id: string): Promise<ResidentRecord | undefined> {
    const row = (await this.db.query<Row>('reading a resident', 'SELECT * FROM people.residents WHERE id = $1', [id])).rows[0];
    return row ? toResident(row) : undefined;
  }

  async all(): Promise<ResidentRecord[]> {
    return (await this.db.query<Row>('listing residents', 'SELECT * FROM people.residents ORDER BY community_id, name, id')).rows.map(toResident);
  }

  async update(id: string, patch: ResidentPatch): Promise<ResidentRecord | undefined> {
    const sets: string[] = [];
    const values: unknown[] = [id];
    for (const [key, column] of Object.entries(COLUMN) as [keyof ResidentPatch, string][]) {
      const value = patch[key];
      if (value === undefined) continue;
      values.push(key === 'ladder' || key === 'routine' ? JSON.stringify(value) : value);
      sets.push(`${column} = $${values.length}`);
    }
    if (sets.length === 0) return this.get(id);
    try {
      // Column names come from the fixed map above; values are parameters.
      const row = (await this.db.query<Row>('updating a resident', `UPDATE people.residents SET ${sets.join(', ')} WHERE id = $1 RETURNING *`, values)).rows[0];
      return row ? toResident(row) : undefined;
    } catch (err) {
      return onForeignKey(err, CloudErrorCode.Validation, `body/communityId: community "${patch.communityId}" does not exist`);
    }
  }

  async devicesOf(residentId: string): Promise<string[]> {
    return (await this.db.query<{ device_id: string }>('reading resident devices',
      'SELECT device_id FROM people.resident_devices WHERE resident_id = $1 ORDER BY device_id', [residentId])).rows.map((r) => r.device_id);
  }

  async ownerOfDevice(deviceId: string): Promise<string | undefined> {
    return (await this.db.query<{ resident_id: string }>('reading a device link',
      'SELECT resident_id FROM people.resident_devices WHERE device_id = $1', [deviceId])).rows[0]?.resident_id;
  }

  async allDeviceLinks(): Promise<{ deviceId: string; residentId: string }[]> {
    return (await this.db.query<{ deviceId: string; residentId: string }>('listing device links',
      'SELECT device_id AS "deviceId", resident_id AS "residentId" FROM people.resident_devices ORDER BY device_id')).rows;
  }

  async setDevices(residentId: string, deviceIds: readonly string[]): Promise<string[]> {
    const taken = (d: string, cause?: unknown) => new CloudError(CloudErrorCode.Duplicate, `device "${d}" already belongs to another resident`, cause ? { cause } : undefined);
    return this.db.tx('linking devices', async (sql) => {
      // The resident's row lock orders two clouds replacing the same resident's devices.
      await sql.query('SELECT id FROM people.residents WHERE id = $1 FOR UPDATE', [residentId]);
      const owners = await sql.query<{ device_id: string; resident_id: string }>(
        'SELECT device_id, resident_id FROM people.resident_devices WHERE device_id = ANY($1::text[])', [[...deviceIds]]);
      const other = owners.rows.find((o) => o.resident_id !== residentId);
      if (other) throw taken(other.device_id);
      const before = new Set((await sql.query<{ device_id: string }>('SELECT device_id FROM people.resident_devices WHERE resident_id = $1', [residentId])).rows.map((r) => r.device_id));
      const after = new Set(deviceIds);
      const now = this.now();
      for (const d of before) {
        if (after.has(d)) continue;
        await sql.query('UPDATE people.device_links SET to_ms = $1 WHERE device_id = $2 AND resident_id = $3 AND to_ms IS NULL', [now, d, residentId]);
        await sql.query('DELETE FROM people.resident_devices WHERE device_id = $1 AND resident_id = $2', [d, residentId]);
      }
      for (const d of after) {
        if (before.has(d)) continue;
        try {
          await sql.query('INSERT INTO people.resident_devices (device_id, resident_id) VALUES ($1, $2)', [d, residentId]);
        } catch (err) {
          // Another cloud linked it to someone else between our read and this insert.
          if (pgCode(err) === UNIQUE) throw taken(d, err);
          if (pgCode(err) === FOREIGN_KEY) throw new CloudError(CloudErrorCode.NotFound, `resident "${residentId}" not found`, { cause: err });
          throw err;
        }
        await sql.query('INSERT INTO people.device_links (device_id, resident_id, from_ms, to_ms) VALUES ($1, $2, $3, NULL)', [d, residentId, now]);
      }
      return [...after].sort();
    });
  }

  async linkPeriods(residentId: string, nowMs: number): Promise<LinkPeriod[]> {
    const res = await this.db.query<{ deviceId: string; fromMs: number; toMs: number | null }>('reading device link periods',
      `SELECT device_id AS "deviceId", from_ms AS "fromMs", to_ms AS "toMs" FROM people.device_links
       WHERE resident_id = $1 ORDER BY from_ms, device_id`, [residentId]);
    return res.rows.map((l) => ({ deviceId: l.deviceId, fromMs: l.fromMs, toMs: l.toMs ?? nowMs }));
  }

  async residentsOfDevice(deviceId: string, fromMs: number, toMs: number): Promise<string[]> {
    const res = await this.db.query<{ resident_id: string }>('reading device link periods',
      `SELECT DISTINCT resident_id FROM people.device_links
       WHERE device_id = $1 AND from_ms < $2 AND (to_ms IS NULL OR to_ms > $3) ORDER BY resident_id`, [deviceId, toMs, fromMs]);
    return res.rows.map((r) => r.resident_id);
  }

  async family(residentId: string): Promise<FamilyLink[]> {
    return (await this.db.query<FamilyLink>('reading family links', FAMILY, [residentId])).rows;
  }

  async setFamily(residentId: string, links: readonly { userId: string; relation: string | null }[]): Promise<FamilyLink[]> {
    return this.db.tx('linking family', async (sql) => {
      await sql.query('DELETE FROM people.family_links WHERE resident_id = $1', [residentId]);
      for (const [i, l] of links.entries()) {
        await sql.query('INSERT INTO people.family_links (resident_id, user_id, position, relation) VALUES ($1, $2, $3, $4)', [residentId, l.userId, i, l.relation]);
      }
      return (await sql.query<FamilyLink>(FAMILY, [residentId])).rows;
    });
  }

  async linkedResidents(userId: string): Promise<string[]> {
    return (await this.db.query<{ resident_id: string }>('reading family links',
      'SELECT resident_id FROM people.family_links WHERE user_id = $1 ORDER BY resident_id', [userId])).rows.map((r) => r.resident_id);
  }

  async residentsInCommunitiesOf(workerId: string): Promise<string[]> {
    return (await this.db.query<{ id: string }>('reading assigned residents',
      `SELECT r.id FROM people.residents r JOIN people.worker_assignments w ON w.community_id = r.community_id
       WHERE w.user_id = $1 ORDER BY r.id`, [workerId])).rows.map((r) => r.id);
  }

  /** As on SQLite: the resident, links and link periods, grants, and the detail of audit
   * rows about them, and `audit` (the row recording the erasure), in one transaction. */
  async erase(residentId: string, audit?: AuditEntry): Promise<{ devices: number; familyLinks: number } | undefined> {
    return this.db.tx('erasing a resident', async (sql) => {
      const locked = await sql.query('SELECT id FROM people.residents WHERE id = $1 FOR UPDATE', [residentId]);
      if (locked.rowCount === 0) return undefined;
      const devices = (await sql.query('SELECT 1 FROM people.resident_devices WHERE resident_id = $1', [residentId])).rowCount ?? 0;
      const familyLinks = (await sql.query('SELECT 1 FROM people.family_links WHERE resident_id = $1', [residentId])).rowCount ?? 0;
      await sql.query('DELETE FROM people.residents WHERE id = $1', [residentId]);
      await sql.query('DELETE FROM people.health_grants WHERE resident_id = $1', [residentId]);
      await sql.query('UPDATE people.audit SET detail = NULL WHERE resident_id = $1', [residentId]);
      if (audit) {
        await sql.query('INSERT INTO people.audit (at_ms, actor, action, resident_id, purpose, detail) VALUES ($1, $2, $3, $4, $5, $6)', auditValues(audit, this.now()));
      }
      return { devices, familyLinks };
    });
  }
}
