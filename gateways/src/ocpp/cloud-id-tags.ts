import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { makePrivate, prepareSchema } from '@yulan/protos';
import type { Logger } from 'pino';
import { GatewayError, GatewayErrorCode } from './errors.js';
import type { IdTagInfo } from './id-tags.js';

const SCHEMA_VERSION = 1;
const EVERY_SITE = '*';
/** On an unknown tag the list is pulled again, but not more often than this. */
const MISS_REFRESH_MS = 2_000;
const PAGE = 1000;

interface Change {
  tag: string; site: string | null; status: 'Accepted' | 'Blocked' | 'Expired'; expiryDate: string | null;
  parentIdTag: string | null; deleted: boolean; version: number;
}
interface Feed { version: number; items: Change[]; more: boolean }
interface Row { status: 'Accepted' | 'Blocked' | 'Expired'; expiry_ms: number | null; parent: string | null }

export interface IdTagSyncState {
  /** the cloud list version this copy holds */
  version: number;
  /** last successful pull (ms since epoch), 0 = never */
  syncedAt: number;
  lastError: string | null;
  syncs: number;
  syncFailures: number;
}

export interface CloudIdTagsOptions {
  /** the gateway's data dir: the copy is `id-tags.sqlite` there */
  dir: string;
  cloudUrl: string;
  token: string;
  /** how often the list is pulled (changes since the held version) */
  syncMs: number;
  logger: Logger;
  /** the held version moved (chargers' local lists are brought up to date) */
  onChanged?: () => void;
  now?: () => number;
  /** https:// with a private CA (fetchTrustingCa); the global fetch when unset */
  fetch?: typeof fetch;
}

/**
 * The gateway's copy of the cloud's id tag list (docs/ocpp.md §1.4). Pulled from
 * `GET /api/v1/internal/ocpp/id-tags?since=<version>` at start, every `syncMs`, and on an
 * unknown tag in Authorize; kept in SQLite so a restarted gateway with the cloud
 * unreachable still answers from the last list it saw. Lookups never wait for the cloud
 * longer than one bounded pull. A charger at site S gets the entry for S if there is one,
 * else the every-site entry, else Invalid.
 */
export class CloudIdTags {
  readonly #db: Database.Database;
  readonly #o: CloudIdTagsOptions;
  readonly #now: () => number;
  readonly #lookup;
  readonly #state: IdTagSyncState = { version: 0, syncedAt: 0, lastError: null, syncs: 0, syncFailures: 0 };
  #inflight: Promise<boolean> | undefined;
  #followUp: Promise<boolean> | undefined;
  #lastAttempt = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(o: CloudIdTagsOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
    mkdirSync(o.dir, { recursive: true, mode: 0o700 });
    const file = join(o.dir, 'id-tags.sqlite');
    try {
      this.#db = new Database(file);
      makePrivate(file);
      prepareSchema(this.#db, file, SCHEMA_VERSION, 'OCPP gateway id tag copy');
      this.#db.pragma('journal_mode = WAL');
      this.#db.exec(`
        CREATE TABLE IF NOT EXISTS tags (tag TEXT NOT NULL, scope TEXT NOT NULL, status TEXT NOT NULL, expiry_ms INTEGER, parent TEXT,
          deleted INTEGER NOT NULL DEFAULT 0, version INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (tag, scope));
        CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);
      `);
      this.#db.pragma(`user_version = ${SCHEMA_VERSION}`);
    } catch (cause) {
      throw new GatewayError(GatewayErrorCode.Outbox, `cannot open the id tag copy in ${o.dir}: ${(cause as Error).message}`, { cause });
    }
    this.#lookup = this.#db.prepare('SELECT status, expiry_ms, parent FROM tags WHERE tag = ? AND scope = ? AND deleted = 0');
    const meta = (k: string): number => (this.#db.prepare('SELECT v FROM meta WHERE k = ?').get(k) as { v: number } | undefined)?.v ?? 0;
    this.#state.version = meta('version');
    this.#state.syncedAt = meta('synced_at');
  }

  state(): IdTagSyncState {
    return { ...this.#state };
  }

  /** What a charger of `site` is told about `tag`, from the copy held now. */
  info(tag: string, site: string): IdTagInfo {
    const t = tag.toUpperCase();
    const r = (this.#lookup.get(t, site) ?? this.#lookup.get(t, EVERY_SITE)) as Row | undefined;
    if (!r) return { status: 'Invalid' };
    const extra = {
      ...(r.expiry_ms !== null ? { expiryDate: new Date(r.expiry_ms).toISOString() } : {}),
      ...(r.parent !== null ? { parentIdTag: r.parent } : {}),
    };
    if (r.status === 'Accepted' && r.expiry_ms !== null && r.expiry_ms <= this.#now()) return { status: 'Expired', ...extra };
    return { status: r.status, ...extra };
  }

  /** Authorize: like `info`, but an unknown tag first pulls the list again (a card the
   * operator just added works at once), at most every 2 s; cloud down → the copy answers. */
  async authorize(tag: string, site: string): Promise<IdTagInfo> {
    const first = this.info(tag, site);
    if (first.status !== 'Invalid' || this.#now() - this.#lastAttempt < MISS_REFRESH_MS) return first;
    await this.sync();
    return this.info(tag, site);
  }

  start(): void {
    void this.sync();
    this.#timer = setInterval(() => void this.sync(), this.#o.syncMs);
    this.#timer.unref();
  }

  /** One pull up to the cloud's current version, begun after this call: a caller arriving
   * while a pull runs may want a change that pull read too early (a card added a moment ago),
   * so it gets one more pull after it, shared with everyone else who asked meanwhile. */
  sync(): Promise<boolean> {
    if (!this.#inflight) {
      this.#inflight = this.#pull().finally(() => { this.#inflight = undefined; });
      return this.#inflight;
    }
    this.#followUp ??= this.#inflight.then(() => {
      this.#followUp = undefined;
      return this.sync();
    });
    return this.#followUp;
  }

  /** Stops pulling; a pull in flight (≤ 5 s per request) and one queued after it finish first. */
  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.#followUp;
    await this.#inflight;
    this.#db.close();
  }

  async #pull(): Promise<boolean> {
    this.#lastAttempt = this.#now();
    try {
      let since = this.#state.version;
      for (;;) {
        const feed = await this.#fetch(since);
        if (feed.version < since) {
          // The cloud's list is older than our copy (restored from a backup): start over.
          this.#o.logger.warn({ held: since, cloud: feed.version }, 'cloud id tag list went back; pulling it whole');
          await this.#replaceAll();
          break;
        }
        this.#apply(feed.items, feed.version, false);
        since = feed.version;
        if (!feed.more) break;
      }
      this.#state.syncs++;
      this.#state.lastError = null;
      this.#state.syncedAt = this.#now();
      this.#setMeta('synced_at', this.#state.syncedAt);
      return true;
    } catch (err) {
      this.#state.syncFailures++;
      this.#state.lastError = (err as Error).message;
      this.#o.logger.warn({ err: (err as Error).message, version: this.#state.version }, 'id tag sync failed; answering from the last list');
      return false;
    }
  }

  async #replaceAll(): Promise<void> {
    const all: Change[] = [];
    let since = 0;
    let version = 0;
    for (;;) {
      const feed = await this.#fetch(since);
      all.push(...feed.items);
      since = version = feed.version;
      if (!feed.more) break;
    }
    this.#apply(all, version, true);
  }

  #apply(items: Change[], version: number, replace: boolean): void {
    // Removed tags stay as tombstones: a charger's local list learns of them (local-list.ts).
    const put = this.#db.prepare(`INSERT INTO tags (tag, scope, status, expiry_ms, parent, deleted, version) VALUES (?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (tag, scope) DO UPDATE SET status = excluded.status, expiry_ms = excluded.expiry_ms, parent = excluded.parent,
        deleted = excluded.deleted, version = excluded.version`);
    this.#db.transaction(() => {
      if (replace) this.#db.exec('DELETE FROM tags');
      for (const c of items) {
        const scope = c.site ?? EVERY_SITE;
        put.run(c.tag, scope, c.status, c.expiryDate === null ? null : Date.parse(c.expiryDate), c.parentIdTag, c.deleted ? 1 : 0, c.version);
      }
      this.#setMeta('version', version);
    })();
    const changed = version !== this.#state.version;
    this.#state.version = version;
    if (changed) this.#o.onChanged?.();
  }

  /**
   * What a charger of `site` holding local list `since` needs (SendLocalList): nothing when
   * current, the whole list when it holds none or a version we cannot diff from, else the
   * tags changed after `since` (an entry without idTagInfo removes the tag).
   */
  localListFor(site: string, since: number): { version: number; full: boolean; entries: { idTag: string; idTagInfo?: IdTagInfo }[] } | undefined {
    const version = this.#state.version;
    if (version === 0 || since === version) return undefined;
    const full = since <= 0 || since > version;
    const tags = full
      ? (this.#db.prepare('SELECT DISTINCT tag FROM tags WHERE deleted = 0 AND scope IN (?, ?) ORDER BY tag').all(site, EVERY_SITE) as { tag: string }[])
      : (this.#db.prepare('SELECT DISTINCT tag FROM tags WHERE version > ? AND scope IN (?, ?) ORDER BY tag').all(since, site, EVERY_SITE) as { tag: string }[]);
    const entries = tags.map(({ tag }) => {
      const info = this.info(tag, site);
      return info.status === 'Invalid' ? { idTag: tag } : { idTag: tag, idTagInfo: info };
    }).filter((e) => !full || e.idTagInfo !== undefined);
    return { version, full, entries };
  }

  #setMeta(k: string, v: number): void {
    this.#db.prepare('INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v').run(k, v);
  }

  async #fetch(since: number): Promise<Feed> {
    const res = await (this.#o.fetch ?? fetch)(`${this.#o.cloudUrl}/api/v1/internal/ocpp/id-tags?since=${since}&limit=${PAGE}`, {
      headers: { authorization: `Bearer ${this.#o.token}` },
      signal: AbortSignal.timeout(5_000),
    });
    if (res.status !== 200) throw new Error(`cloud answered ${res.status} to the id tag sync`);
    const body = (await res.json()) as Partial<Feed>;
    if (typeof body.version !== 'number' || !Array.isArray(body.items) || typeof body.more !== 'boolean') {
      throw new Error('cloud answered the id tag sync with a malformed body');
    }
    return body as Feed;
  }
}
