import type Database from 'better-sqlite3';

export const ID_TAG_STATUSES = ['Accepted', 'Blocked', 'Expired'] as const;
export type IdTagStatus = (typeof ID_TAG_STATUSES)[number];
export interface IdTagInfo { status: 'Accepted' | 'Blocked' | 'Expired' | 'Invalid'; expiryDate?: string }
export interface IdTagEntry { tag: string; status: IdTagStatus; expiryMs: number | null }

/**
 * The idTag list chargers authorize against (OCPP Authorize, Start/StopTransaction).
 * Managed through the gateway's HTTP API (docs/ocpp.md); a tag not on it is Invalid.
 * IdToken is CiString20: compared case-insensitively, stored upper-case.
 */
export class IdTags {
  readonly #get;
  readonly #put;
  readonly #del;
  readonly #all;

  constructor(db: Database.Database) {
    this.#get = db.prepare('SELECT tag, status, expiry_ms AS expiryMs FROM id_tags WHERE tag = ?');
    this.#put = db.prepare('INSERT INTO id_tags (tag, status, expiry_ms) VALUES (?, ?, ?) ON CONFLICT (tag) DO UPDATE SET status = excluded.status, expiry_ms = excluded.expiry_ms');
    this.#del = db.prepare('DELETE FROM id_tags WHERE tag = ?');
    this.#all = db.prepare('SELECT tag, status, expiry_ms AS expiryMs FROM id_tags ORDER BY tag LIMIT ? OFFSET ?');
  }

  info(tag: string, now = Date.now()): IdTagInfo {
    const e = this.#get.get(tag.toUpperCase()) as IdTagEntry | undefined;
    if (!e) return { status: 'Invalid' };
    const expiry = e.expiryMs !== null ? { expiryDate: new Date(e.expiryMs).toISOString() } : {};
    if (e.status === 'Accepted' && e.expiryMs !== null && e.expiryMs <= now) return { status: 'Expired', ...expiry };
    return { status: e.status, ...expiry };
  }

  put(tag: string, status: IdTagStatus, expiryMs: number | null): IdTagEntry {
    this.#put.run(tag.toUpperCase(), status, expiryMs);
    return { tag: tag.toUpperCase(), status, expiryMs };
  }

  delete(tag: string): boolean {
    return this.#del.run(tag.toUpperCase()).changes > 0;
  }

  list(limit = 1000, offset = 0): IdTagEntry[] {
    return this.#all.all(limit, offset) as IdTagEntry[];
  }
}
