import { CloudError, CloudErrorCode } from '../../errors.js';
import type { AuditEntry, LadderConfig } from '../contracts.js';
import { auditValues } from './audit-log.js';
import { sqliteCode, wrap, type Db } from './db.js';
import type { Community, FamilyLink, LinkPeriod, NewResident, ResidentPatch, ResidentRecord, Routine } from './records.js';

interface ResidentRow {
  id: string;
  name: string;
  address: string | null;
  community_id: string;
  phone: string | null;
  birth_year: number | null;
  notes: string | null;
  ladder: string;
  routine: string;
  created_at: number;
}

function toResident(r: ResidentRow): ResidentRecord {
  return {
    id: r.id,
    name: r.name,
    address: r.address,
    communityId: r.community_id,
    phone: r.phone,
    birthYear: r.birth_year,
    notes: r.notes,
    ladder: JSON.parse(r.ladder) as LadderConfig,
    routine: JSON.parse(r.routine) as Routine,
    createdAt: r.created_at,
  };
}

const COLUMN: Record<keyof ResidentPatch, string> = {
  name: 'name',
  address: 'address',
  communityId: 'community_id',
  phone: 'phone',
  birthYear: 'birth_year',
  notes: 'notes',
  ladder: 'ladder',
  routine: 'routine',
};

function unknownCommunity(err: unknown, communityId: string | undefined): never {
  if (sqliteCode(err) === 'SQLITE_CONSTRAINT_FOREIGNKEY') {
    throw new CloudError(CloudErrorCode.Validation, `body/communityId: community "${communityId}" does not exist`, { cause: err });
  }
  throw err;
}

/** Communities, residents, the devices installed for them and their family contacts. */
export class SqliteResidentStore {
  private readonly stmts;

  constructor(
    private readonly db: Db,
    private readonly now: () => number,
  ) {
    this.stmts = {
      communityInsert: db.prepare('INSERT INTO communities (id, name, created_at) VALUES (?, ?, ?)'),
      communityGet: db.prepare('SELECT id, name, created_at AS createdAt FROM communities WHERE id = ?'),
      communities: db.prepare('SELECT id, name, created_at AS createdAt FROM communities ORDER BY id'),
      communityRename: db.prepare('UPDATE communities SET name = ? WHERE id = ?'),
      communityDelete: db.prepare('DELETE FROM communities WHERE id = ?'),
      insert: db.prepare(
        `INSERT INTO residents (id, name, address, community_id, phone, birth_year, notes, ladder, routine, created_at)
         VALUES (@id, @name, @address, @communityId, @phone, @birthYear, @notes, @ladder, @routine, @createdAt)`,
      ),
      get: db.prepare('SELECT * FROM residents WHERE id = ?'),
      all: db.prepare('SELECT * FROM residents ORDER BY community_id, name, id'),
      remove: db.prepare('DELETE FROM residents WHERE id = ?'),
      devicesOf: db.prepare('SELECT device_id FROM resident_devices WHERE resident_id = ? ORDER BY device_id'),
      deviceOwner: db.prepare('SELECT resident_id FROM resident_devices WHERE device_id = ?'),
      devicesClear: db.prepare('DELETE FROM resident_devices WHERE resident_id = ?'),
      deviceInsert: db.prepare('INSERT INTO resident_devices (device_id, resident_id) VALUES (?, ?)'),
      linkOpen: db.prepare('INSERT INTO device_links (device_id, resident_id, from_ms, to_ms) VALUES (?, ?, ?, NULL)'),
      linkClose: db.prepare('UPDATE device_links SET to_ms = ? WHERE device_id = ? AND resident_id = ? AND to_ms IS NULL'),
      linksOf: db.prepare(
        `SELECT device_id AS deviceId, from_ms AS fromMs, to_ms AS toMs FROM device_links
         WHERE resident_id = ? ORDER BY from_ms, device_id`,
      ),
      residentsOfDevice: db.prepare(
        `SELECT DISTINCT resident_id FROM device_links
         WHERE device_id = ? AND from_ms < ? AND (to_ms IS NULL OR to_ms > ?) ORDER BY resident_id`,
      ),
      allDevices: db.prepare('SELECT device_id AS deviceId, resident_id AS residentId FROM resident_devices ORDER BY device_id'),
      familyOf: db.prepare(
        `SELECT resident_id AS residentId, user_id AS userId, position, relation
         FROM family_links WHERE resident_id = ? ORDER BY position`,
      ),
      linkedTo: db.prepare('SELECT resident_id FROM family_links WHERE user_id = ? ORDER BY resident_id'),
      familyClear: db.prepare('DELETE FROM family_links WHERE resident_id = ?'),
      familyInsert: db.prepare('INSERT INTO family_links (resident_id, user_id, position, relation) VALUES (?, ?, ?, ?)'),
      inCommunities: db.prepare(
        `SELECT r.id FROM residents r JOIN worker_assignments w ON w.community_id = r.community_id
         WHERE w.user_id = ? ORDER BY r.id`,
      ),
    };
  }

  async createCommunity(id: string, name: string): Promise<Community> {
    return wrap('creating a community', () => {
      try {
        this.stmts.communityInsert.run(id, name, this.now());
      } catch (err) {
        if (sqliteCode(err) === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
          throw new CloudError(CloudErrorCode.Duplicate, `community "${id}" already exists`, { cause: err });
        }
        throw err;
      }
      return this.stmts.communityGet.get(id) as Community;
    });
  }

  async community(id: string): Promise<Community | undefined> {
    return wrap('reading a community', () => this.stmts.communityGet.get(id) as Community | undefined);
  }

  async communities(): Promise<Community[]> {
    return wrap('listing communities', () => this.stmts.communities.all() as Community[]);
  }

  async renameCommunity(id: string, name: string): Promise<Community | undefined> {
    return wrap('renaming a community', () =>
      this.stmts.communityRename.run(name, id).changes > 0 ? (this.stmts.communityGet.get(id) as Community) : undefined,
    );
  }

  /** false when unknown; 409 while residents still live there. */
  async removeCommunity(id: string): Promise<boolean> {
    return wrap('deleting a community', () => {
      try {
        return this.stmts.communityDelete.run(id).changes > 0;
      } catch (err) {
        if (sqliteCode(err) === 'SQLITE_CONSTRAINT_FOREIGNKEY') {
          throw new CloudError(CloudErrorCode.Duplicate, `community "${id}" still has residents`, { cause: err });
        }
        throw err;
      }
    });
  }

  async create(r: NewResident): Promise<ResidentRecord> {
    return wrap('creating a resident', () => {
      try {
        this.stmts.insert.run({
          ...r,
          ladder: JSON.stringify(r.ladder),
          routine: JSON.stringify(r.routine),
          createdAt: this.now(),
        });
      } catch (err) {
        unknownCommunity(err, r.communityId);
      }
      return toResident(this.stmts.get.get(r.id) as ResidentRow);
    });
  }

  async get(id: string): Promise<ResidentRecord | undefined> {
    return wrap('reading a resident', () => {
      const row = this.stmts.get.get(id) as ResidentRow | undefined;
      return row ? toResident(row) : undefined;
    });
  }

  async all(): Promise<ResidentRecord[]> {
    return wrap('listing residents', () => (this.stmts.all.all() as ResidentRow[]).map(toResident));
  }

  async update(id: string, patch: ResidentPatch): Promise<ResidentRecord | undefined> {
    return wrap('updating a resident', () => {
      const sets: string[] = [];
      const params: Record<string, unknown> = { id };
      for (const [key, column] of Object.entries(COLUMN) as [keyof ResidentPatch, string][]) {
        const value = patch[key];
        if (value === undefined) continue;
        sets.push(`${column} = @${column}`);
        params[column] = key === 'ladder' || key === 'routine' ? JSON.stringify(value) : value;
      }
      if (sets.length > 0) {
        try {
          if (this.db.prepare(`UPDATE residents SET ${sets.join(', ')} WHERE id = @id`).run(params).changes === 0) return undefined;
        } catch (err) {
          unknownCommunity(err, patch.communityId);
        }
      }
      const row = this.stmts.get.get(id) as ResidentRow | undefined;
      return row ? toResident(row) : undefined;
    });
  }

  async devicesOf(residentId: string): Promise<string[]> {
    return wrap('reading resident devices', () => this.devicesSync(residentId));
  }

  private devicesSync(residentId: string): string[] {
    return (this.stmts.devicesOf.all(residentId) as { device_id: string }[]).map((r) => r.device_id);
  }

  async ownerOfDevice(deviceId: string): Promise<string | undefined> {
    return wrap('reading a device link', () => (this.stmts.deviceOwner.get(deviceId) as { resident_id: string } | undefined)?.resident_id);
  }

  async allDeviceLinks(): Promise<{ deviceId: string; residentId: string }[]> {
    return wrap('listing device links', () => this.stmts.allDevices.all() as { deviceId: string; residentId: string }[]);
  }

  /** Replaces the resident's devices; 409 if one already belongs to another resident. */
  async setDevices(residentId: string, deviceIds: readonly string[]): Promise<string[]> {
    return wrap('linking devices', () =>
      this.db.transaction(() => {
        for (const d of deviceIds) {
          const owner = (this.stmts.deviceOwner.get(d) as { resident_id: string } | undefined)?.resident_id;
          if (owner !== undefined && owner !== residentId) {
            throw new CloudError(CloudErrorCode.Duplicate, `device "${d}" already belongs to another resident`);
          }
        }
        const before = new Set(this.devicesSync(residentId));
        const after = new Set(deviceIds);
        const now = this.now();
        for (const d of before) if (!after.has(d)) this.stmts.linkClose.run(now, d, residentId);
        for (const d of after) if (!before.has(d)) this.stmts.linkOpen.run(d, residentId, now);
        this.stmts.devicesClear.run(residentId);
        for (const d of after) this.stmts.deviceInsert.run(d, residentId);
        return this.devicesSync(residentId);
      })(),
    );
  }

  /** When each device served the resident, oldest first; an open link ends at `nowMs`. */
  async linkPeriods(residentId: string, nowMs: number): Promise<LinkPeriod[]> {
    return wrap('reading device link periods', () =>
      (this.stmts.linksOf.all(residentId) as { deviceId: string; fromMs: number; toMs: number | null }[])
        .map((l) => ({ deviceId: l.deviceId, fromMs: l.fromMs, toMs: l.toMs ?? nowMs })),
    );
  }

  /** The residents a device served at some time in [fromMs, toMs). */
  async residentsOfDevice(deviceId: string, fromMs: number, toMs: number): Promise<string[]> {
    return wrap('reading device link periods', () =>
      (this.stmts.residentsOfDevice.all(deviceId, toMs, fromMs) as { resident_id: string }[]).map((r) => r.resident_id),
    );
  }

  async family(residentId: string): Promise<FamilyLink[]> {
    return wrap('reading family links', () => this.stmts.familyOf.all(residentId) as FamilyLink[]);
  }

  /** Replaces the family contacts; their order is the ladder order. */
  async setFamily(residentId: string, links: readonly { userId: string; relation: string | null }[]): Promise<FamilyLink[]> {
    return wrap('linking family', () =>
      this.db.transaction(() => {
        this.stmts.familyClear.run(residentId);
        links.forEach((l, i) => this.stmts.familyInsert.run(residentId, l.userId, i, l.relation));
        return (this.stmts.familyOf.all(residentId) as FamilyLink[]);
      })(),
    );
  }

  async linkedResidents(userId: string): Promise<string[]> {
    return wrap('reading family links', () => (this.stmts.linkedTo.all(userId) as { resident_id: string }[]).map((r) => r.resident_id));
  }

  async residentsInCommunitiesOf(workerId: string): Promise<string[]> {
    return wrap('reading assigned residents', () => (this.stmts.inCommunities.all(workerId) as { id: string }[]).map((r) => r.id));
  }

  /** Deletes the resident with their device links and link periods, family links (cascades), their health
   * grants, and strips the detail of audit rows about them (the resident id stays); `audit`,
   * the row recording the erasure, is written in the same transaction. */
  async erase(residentId: string, audit?: AuditEntry): Promise<{ devices: number; familyLinks: number } | undefined> {
    return wrap('erasing a resident', () =>
      this.db.transaction(() => {
        const devices = this.devicesSync(residentId).length;
        const familyLinks = (this.stmts.familyOf.all(residentId) as FamilyLink[]).length;
        if (this.stmts.remove.run(residentId).changes === 0) return undefined;
        this.db.prepare('DELETE FROM health_grants WHERE resident_id = ?').run(residentId);
        this.db.prepare('UPDATE audit SET detail = NULL WHERE resident_id = ?').run(residentId);
        if (audit) {
          this.db.prepare('INSERT INTO audit (at_ms, actor, action, resident_id, purpose, detail) VALUES (?, ?, ?, ?, ?, ?)').run(...auditValues(audit, this.now()));
        }
        return { devices, familyLinks };
      })(),
    );
  }
}
