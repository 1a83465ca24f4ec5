import { createHash } from 'node:crypto';
import { generateSecret } from '@yulan/protos';
import { CloudError, CloudErrorCode } from '../../errors.js';
import type { Channel, Locale, Role, SessionEnd } from '../contracts.js';
import { sqliteCode, wrap, type Db } from './db.js';
import type { NewUser, UserPatch, UserRecord } from './records.js';

/** Sessions end after this long without a request (docs/care.md §5). */
export const SESSION_IDLE_MS = 12 * 60 * 60 * 1000;
/** last_seen_at is written at most this often, so reads do not each cost a write. */
const TOUCH_EVERY_MS = 60_000;

interface UserRow {
  id: string;
  login: string;
  name: string;
  role: string;
  locale: string;
  password_hash: string | null;
  channels: string;
  phone: string | null;
  disabled: number;
  created_at: number;
}

function toUser(r: UserRow): UserRecord {
  return {
    id: r.id,
    login: r.login,
    name: r.name,
    role: r.role as Role,
    locale: r.locale as Locale,
    channels: JSON.parse(r.channels) as Channel[],
    phone: r.phone,
    disabled: r.disabled === 1,
    hasPassword: r.password_hash !== null,
    createdAt: r.created_at,
  };
}

/** Sessions are looked up by the SHA-256 of the token: a leaked database holds no usable
 * token, and a 256-bit random token needs no slow hash (see auth-tokens.ts). */
export function sessionDigest(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('base64url');
}

/** A session, or every session of a person, has ended. */
export interface SessionEnded {
  reason: SessionEnd;
  /** one session (logout, expiry) */
  digest?: string;
  /** every session of the person (disabled, removed, new password or role) */
  userId?: string;
}

/** Which change to a person ends all their sessions (both stores apply the same rule). */
export function sessionEndFor(patch: UserPatch): SessionEnd | undefined {
  return patch.disabled === true ? 'disabled' : patch.passwordHash !== undefined || patch.role !== undefined ? 'credentials-changed' : undefined;
}

/** The listeners told when sessions end, shared by the SQLite and PostgreSQL user stores. */
export class SessionEndFeed {
  private readonly listeners = new Set<(e: SessionEnded) => void>();

  on(listener: (e: SessionEnded) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  announce(e: SessionEnded): void {
    for (const l of [...this.listeners]) {
      try {
        l(e);
      } catch {
        // a listener's failure must not undo the change that ended the session
      }
    }
  }
}

/** Users and their sessions. Whatever ends a session here is announced to
 * `onSessionEnded` listeners, so that what was opened with a session (a live stream)
 * ends with it, whichever route ended it. */
export class SqliteUserStore {
  private readonly stmts;
  private readonly ends = new SessionEndFeed();

  constructor(
    private readonly db: Db,
    private readonly now: () => number,
  ) {
    this.stmts = {
      insert: db.prepare(
        `INSERT INTO users (id, login, name, role, locale, password_hash, channels, phone, created_at)
         VALUES (@id, @login, @name, @role, @locale, @passwordHash, @channels, @phone, @createdAt)`,
      ),
      get: db.prepare('SELECT * FROM users WHERE id = ?'),
      byLogin: db.prepare('SELECT * FROM users WHERE login = ?'),
      list: db.prepare('SELECT * FROM users ORDER BY login LIMIT ? OFFSET ?'),
      listRole: db.prepare('SELECT * FROM users WHERE role = ? ORDER BY login LIMIT ? OFFSET ?'),
      count: db.prepare('SELECT COUNT(*) AS n FROM users'),
      countRole: db.prepare('SELECT COUNT(*) AS n FROM users WHERE role = ?'),
      activeByRole: db.prepare('SELECT * FROM users WHERE role = ? AND disabled = 0 ORDER BY login'),
      remove: db.prepare('DELETE FROM users WHERE id = ?'),
      sessionInsert: db.prepare(
        `INSERT INTO sessions (digest, user_id, created_at, last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
      ),
      sessionGet: db.prepare('SELECT user_id, last_seen_at, expires_at FROM sessions WHERE digest = ?'),
      sessionLive: db.prepare(
        `SELECT s.user_id FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.digest = ? AND s.expires_at > ? AND u.disabled = 0`,
      ),
      sessionTouch: db.prepare('UPDATE sessions SET last_seen_at = ?, expires_at = ? WHERE digest = ?'),
      sessionDelete: db.prepare('DELETE FROM sessions WHERE digest = ?'),
      sessionsOfUser: db.prepare('DELETE FROM sessions WHERE user_id = ?'),
      sessionsExpired: db.prepare('DELETE FROM sessions WHERE expires_at <= ?'),
    };
  }

  async create(u: NewUser): Promise<UserRecord> {
    return wrap('creating a person', () => {
      try {
        this.stmts.insert.run({ ...u, channels: JSON.stringify(u.channels), createdAt: this.now() });
      } catch (err) {
        if (sqliteCode(err) === 'SQLITE_CONSTRAINT_UNIQUE') {
          throw new CloudError(CloudErrorCode.Duplicate, `login "${u.login}" is taken`, { cause: err });
        }
        if (sqliteCode(err) === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
          throw new CloudError(CloudErrorCode.Duplicate, `person "${u.id}" already exists`, { cause: err });
        }
        throw err;
      }
      return toUser(this.stmts.get.get(u.id) as UserRow);
    });
  }

  async get(id: string): Promise<UserRecord | undefined> {
    return wrap('reading a person', () => {
      const row = this.stmts.get.get(id) as UserRow | undefined;
      return row ? toUser(row) : undefined;
    });
  }

  /** The user and password hash for a login attempt (login compared case-insensitively). */
  async forLogin(login: string): Promise<{ user: UserRecord; passwordHash: string | null } | undefined> {
    return wrap('reading a login', () => {
      const row = this.stmts.byLogin.get(login) as UserRow | undefined;
      return row ? { user: toUser(row), passwordHash: row.password_hash } : undefined;
    });
  }

  async list(opts: { role?: Role; limit: number; offset: number }): Promise<{ items: UserRecord[]; total: number }> {
    return wrap('listing people', () => {
      const rows = (opts.role
        ? this.stmts.listRole.all(opts.role, opts.limit, opts.offset)
        : this.stmts.list.all(opts.limit, opts.offset)) as UserRow[];
      const total = (opts.role ? this.stmts.countRole.get(opts.role) : this.stmts.count.get()) as { n: number };
      return { items: rows.map(toUser), total: total.n };
    });
  }

  async activeWithRole(role: Role): Promise<UserRecord[]> {
    return wrap('listing people by role', () => (this.stmts.activeByRole.all(role) as UserRow[]).map(toUser));
  }

  onSessionEnded(listener: (e: SessionEnded) => void): () => void {
    return this.ends.on(listener);
  }

  private announce(e: SessionEnded): void {
    this.ends.announce(e);
  }

  async update(id: string, patch: UserPatch): Promise<UserRecord | undefined> {
    const ends = sessionEndFor(patch);
    const updated = this.updateRow(id, patch);
    if (updated && ends) this.announce({ userId: id, reason: ends });
    return updated;
  }

  private updateRow(id: string, patch: UserPatch): UserRecord | undefined {
    return wrap('updating a person', () =>
      this.db.transaction(() => {
        const sets: string[] = [];
        const params: Record<string, unknown> = { id };
        const put = (column: string, value: unknown): void => {
          sets.push(`${column} = @${column}`);
          params[column] = value;
        };
        if (patch.name !== undefined) put('name', patch.name);
        if (patch.role !== undefined) put('role', patch.role);
        if (patch.locale !== undefined) put('locale', patch.locale);
        if (patch.passwordHash !== undefined) put('password_hash', patch.passwordHash);
        if (patch.channels !== undefined) put('channels', JSON.stringify(patch.channels));
        if (patch.phone !== undefined) put('phone', patch.phone);
        if (patch.disabled !== undefined) put('disabled', patch.disabled ? 1 : 0);
        if (sets.length > 0) {
          // Dynamic column list, but every column name comes from the fixed set above.
          const { changes } = this.db.prepare(`UPDATE users SET ${sets.join(', ')} WHERE id = @id`).run(params);
          if (changes === 0) return undefined;
        }
        // A new password, a new role or disabling ends every open session of the person.
        if (patch.passwordHash !== undefined || patch.disabled === true || patch.role !== undefined) {
          this.stmts.sessionsOfUser.run(id);
        }
        const row = this.stmts.get.get(id) as UserRow | undefined;
        return row ? toUser(row) : undefined;
      })(),
    );
  }

  /** Deletes the person; sessions, family links, assignments and grants go with them. */
  async remove(id: string): Promise<boolean> {
    const removed = wrap('deleting a person', () => this.stmts.remove.run(id).changes > 0);
    if (removed) this.announce({ userId: id, reason: 'removed' });
    return removed;
  }

  /** Opens a session; returns the token (shown to the client once, stored as a digest). */
  async createSession(userId: string): Promise<string> {
    return wrap('opening a session', () => {
      const token = generateSecret();
      const now = this.now();
      this.stmts.sessionsExpired.run(now);
      this.stmts.sessionInsert.run(sessionDigest(token), userId, now, now, now + SESSION_IDLE_MS);
      return token;
    });
  }

  /** The active user of a session token, sliding its idle expiry; undefined when the
   * session is unknown, expired, or its user is disabled or gone. */
  async resolveSession(token: string): Promise<UserRecord | undefined> {
    return wrap('reading a session', () => {
      const digest = sessionDigest(token);
      const s = this.stmts.sessionGet.get(digest) as
        | { user_id: string; last_seen_at: number; expires_at: number }
        | undefined;
      if (!s) return undefined;
      const now = this.now();
      if (s.expires_at <= now) {
        this.stmts.sessionDelete.run(digest);
        this.announce({ digest, reason: 'expired' });
        return undefined;
      }
      const row = this.stmts.get.get(s.user_id) as UserRow | undefined;
      if (!row || row.disabled === 1) return undefined;
      if (now - s.last_seen_at >= TOUCH_EVERY_MS) this.stmts.sessionTouch.run(now, now + SESSION_IDLE_MS, digest);
      return toUser(row);
    });
  }

  async deleteSession(token: string): Promise<boolean> {
    const digest = sessionDigest(token);
    const deleted = wrap('closing a session', () => this.stmts.sessionDelete.run(digest).changes > 0);
    if (deleted) this.announce({ digest, reason: 'logout' });
    return deleted;
  }

  /** The person of a live session (known, not expired, person enabled), without sliding
   * its expiry: an open stream is not activity. */
  async liveSessionUser(digest: string): Promise<string | undefined> {
    return wrap('reading a session', () => (this.stmts.sessionLive.get(digest, this.now()) as { user_id: string } | undefined)?.user_id);
  }
}
