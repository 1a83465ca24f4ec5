import { generateSecret } from '@yulan/protos';
import type { PostgresDatabase } from '../../db/postgres.js';
import { CloudError, CloudErrorCode } from '../../errors.js';
import type { Channel, Locale, Role } from '../contracts.js';
import { pgCode, UNIQUE } from './pg-people-schema.js';
import type { NewUser, UserPatch, UserRecord } from './records.js';
import type { UserStore } from './stores.js';
import { SESSION_IDLE_MS, SessionEndFeed, sessionDigest, sessionEndFor, type SessionEnded } from './user-store.js';

const TOUCH_EVERY_MS = 60_000;

interface Row {
  id: string; login: string; name: string; role: string; locale: string; password_hash: string | null;
  channels: Channel[]; phone: string | null; disabled: boolean; created_at: number;
}

const toUser = (r: Row): UserRecord => ({
  id: r.id, login: r.login, name: r.name, role: r.role as Role, locale: r.locale as Locale, channels: r.channels,
  phone: r.phone, disabled: r.disabled, hasPassword: r.password_hash !== null, createdAt: r.created_at,
});

/**
 * Users and sessions in PostgreSQL (schema `people`). Sessions are read from the database
 * on every request (no per-process cache), so a session ended on one cloud is refused on
 * every other at once. Session-end announcements reach this process's listeners only;
 * a live stream on another cloud notices at its next heartbeat (SessionHandle.active).
 */
export class PgUserStore implements UserStore {
  private readonly ends = new SessionEndFeed();

  constructor(private readonly db: PostgresDatabase, private readonly now: () => number) {}

  async create(u: NewUser): Promise<UserRecord> {
    try {
      const res = await this.db.query<Row>('creating a person', `INSERT INTO people.users
        (id, login, name, role, locale, password_hash, channels, phone, created_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *`,
      [u.id, u.login, u.name, u.role, u.locale, u.passwordHash, JSON.stringify(u.channels), u.phone, this.now()]);
      return toUser(res.rows[0]!);
    } catch (err) {
      if (pgCode(err) === UNIQUE) {
        const byId = (err as { cause?: { constraint?: string } }).cause?.constraint === 'users_pkey';
        throw new CloudError(CloudErrorCode.Duplicate, byId ? `person "${u.id}" already exists` : `login "${u.login}" is taken`, { cause: err });
      }
      throw err;
    }
  }

  async get(id: string): Promise<UserRecord | undefined> {
    const res = await this.db.query<Row>('reading a person', 'SELECT * FROM people.users WHERE id = $1', [id]);
    return res.rows[0] ? toUser(res.rows[0]) : undefined;
  }

  async forLogin(login: string): Promise<{ user: UserRecord; passwordHash: string | null } | undefined> {
    const res = await this.db.query<Row>('reading a login', 'SELECT * FROM people.users WHERE lower(login) = lower($1)', [login]);
    const row = res.rows[0];
    return row ? { user: toUser(row), passwordHash: row.password_hash } : undefined;
  }

  async list(opts: { role?: Role; limit: number; offset: number }): Promise<{ items: UserRecord[]; total: number }> {
    const role = opts.role ?? null;
    const rows = await this.db.query<Row>('listing people',
      'SELECT * FROM people.users WHERE ($1::text IS NULL OR role = $1) ORDER BY login LIMIT $2 OFFSET $3', [role, opts.limit, opts.offset]);
    const total = await this.db.query<{ n: number }>('listing people',
      'SELECT COUNT(*)::int AS n FROM people.users WHERE ($1::text IS NULL OR role = $1)', [role]);
    return { items: rows.rows.map(toUser), total: total.rows[0]!.n };
  }

  async activeWithRole(role: Role): Promise<UserRecord[]> {
    const res = await this.db.query<Row>('listing people by role', 'SELECT * FROM people.users WHERE role = $1 AND NOT disabled ORDER BY login', [role]);
    return res.rows.map(toUser);
  }

  onSessionEnded(listener: (e: SessionEnded) => void): () => void {
    return this.ends.on(listener);
  }

  private announce(e: SessionEnded): void {
    this.ends.announce(e);
  }

  async update(id: string, patch: UserPatch): Promise<UserRecord | undefined> {
    const ends = sessionEndFor(patch);
    const updated = await this.db.tx('updating a person', async (sql) => {
      const sets: string[] = [];
      const values: unknown[] = [id];
      const put = (column: string, value: unknown): void => {
        values.push(value);
        sets.push(`${column} = $${values.length}`);
      };
      if (patch.name !== undefined) put('name', patch.name);
      if (patch.role !== undefined) put('role', patch.role);
      if (patch.locale !== undefined) put('locale', patch.locale);
      if (patch.passwordHash !== undefined) put('password_hash', patch.passwordHash);
      if (patch.channels !== undefined) put('channels', JSON.stringify(patch.channels));
      if (patch.phone !== undefined) put('phone', patch.phone);
      if (patch.disabled !== undefined) put('disabled', patch.disabled);
      // Column names come from the fixed set above; values are parameters.
      const res = sets.length > 0
        ? await sql.query<Row>(`UPDATE people.users SET ${sets.join(', ')} WHERE id = $1 RETURNING *`, values)
        : await sql.query<Row>('SELECT * FROM people.users WHERE id = $1', [id]);
      if (!res.rows[0]) return undefined;
      // A new password, a new role or disabling ends every open session of the person.
      if (ends) await sql.query('DELETE FROM people.sessions WHERE user_id = $1', [id]);
      return toUser(res.rows[0]);
    });
    if (updated && ends) this.announce({ userId: id, reason: ends });
    return updated;
  }

  async remove(id: string): Promise<boolean> {
    const res = await this.db.query('deleting a person', 'DELETE FROM people.users WHERE id = $1', [id]);
    const removed = (res.rowCount ?? 0) > 0;
    if (removed) this.announce({ userId: id, reason: 'removed' });
    return removed;
  }

  async createSession(userId: string): Promise<string> {
    const token = generateSecret();
    const now = this.now();
    await this.db.tx('opening a session', async (sql) => {
      await sql.query('DELETE FROM people.sessions WHERE expires_at <= $1', [now]);
      await sql.query('INSERT INTO people.sessions (digest, user_id, created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $3, $4)',
        [sessionDigest(token), userId, now, now + SESSION_IDLE_MS]);
    });
    return token;
  }

  async resolveSession(token: string): Promise<UserRecord | undefined> {
    const digest = sessionDigest(token);
    const now = this.now();
    const res = await this.db.query<Row & { last_seen_at: number; expires_at: number }>('reading a session',
      `SELECT u.*, s.last_seen_at, s.expires_at FROM people.sessions s JOIN people.users u ON u.id = s.user_id WHERE s.digest = $1`, [digest]);
    const s = res.rows[0];
    if (!s) return undefined;
    if (s.expires_at <= now) {
      const del = await this.db.query('closing a session', 'DELETE FROM people.sessions WHERE digest = $1', [digest]);
      if ((del.rowCount ?? 0) > 0) this.announce({ digest, reason: 'expired' });
      return undefined;
    }
    if (s.disabled) return undefined;
    if (now - s.last_seen_at >= TOUCH_EVERY_MS) {
      await this.db.query('touching a session', 'UPDATE people.sessions SET last_seen_at = $1, expires_at = $2 WHERE digest = $3',
        [now, now + SESSION_IDLE_MS, digest]);
    }
    return toUser(s);
  }

  async deleteSession(token: string): Promise<boolean> {
    const digest = sessionDigest(token);
    const res = await this.db.query('closing a session', 'DELETE FROM people.sessions WHERE digest = $1', [digest]);
    const deleted = (res.rowCount ?? 0) > 0;
    if (deleted) this.announce({ digest, reason: 'logout' });
    return deleted;
  }

  async liveSessionUser(digest: string): Promise<string | undefined> {
    const res = await this.db.query<{ user_id: string }>('reading a session',
      `SELECT s.user_id FROM people.sessions s JOIN people.users u ON u.id = s.user_id
       WHERE s.digest = $1 AND s.expires_at > $2 AND NOT u.disabled`, [digest, this.now()]);
    return res.rows[0]?.user_id;
  }
}
