import type Database from 'better-sqlite3';
import type { DbTarget } from '../db/target.js';
import { openMigratedDb, wrapDb } from '../repositories/sqlite.js';

export interface SecurityAlert {
  id: number;
  rule: string;
  source: string;
  description: string;
  threshold: number;
  windowSec: number;
  openedAt: string;
  closedAt: string | null;
  /** the rise within the window when it opened, and the highest seen since */
  openedCount: number;
  peakCount: number;
  /** events counted while it was open */
  events: number;
  lastSeenAt: string;
  /** how the operators were told: e.g. "webhook:ops@2 sent; email:a@b failed: …" */
  delivery: string | null;
}

const MIGRATIONS = [
  `CREATE TABLE security_alerts (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     rule TEXT NOT NULL,
     source TEXT NOT NULL,
     description TEXT NOT NULL,
     threshold INTEGER NOT NULL,
     window_sec INTEGER NOT NULL,
     opened_at TEXT NOT NULL,
     closed_at TEXT,
     opened_count INTEGER NOT NULL,
     peak_count INTEGER NOT NULL,
     events INTEGER NOT NULL,
     last_seen_at TEXT NOT NULL,
     delivery TEXT
   );
   -- one open episode per rule, whatever a restart or a race tries
   CREATE UNIQUE INDEX security_alerts_one_open ON security_alerts (rule) WHERE closed_at IS NULL;
   CREATE INDEX security_alerts_by_opened ON security_alerts (id DESC);`,
];

export interface OpenAlert { rule: string; source: string; description: string; threshold: number; windowSec: number; at: string; count: number }

/** Every security alert, open and closed: `security-alerts.sqlite`, or the `security` schema in
 * PostgreSQL. At most one open alert per rule (a unique index), so two clouds opening the same
 * rule's alert at once get one row, and only the opener is told it opened; closing likewise. */
export interface SecurityAlertStore {
  /** Opens an episode; undefined when the rule has one open already (nothing written). */
  open(a: OpenAlert): Promise<SecurityAlert | undefined>;
  seen(id: number, at: string, count: number, added: number): Promise<void>;
  /** Closes an open alert; undefined when it was not open (closed already, by this cloud or another). */
  close(id: number, at: string): Promise<SecurityAlert | undefined>;
  /** Appends one round of delivery results (opening, closing). */
  addDelivery(id: number, delivery: string): Promise<void>;
  get(id: number): Promise<SecurityAlert | undefined>;
  /** Open alerts by rule id. */
  openByRule(): Promise<Map<string, number>>;
  /** Newest first; `open` limits to open ones. */
  list(o: { open?: boolean; limit: number; beforeId?: number }): Promise<SecurityAlert[]>;
  dispose(): Promise<void>;
}

export interface Row {
  id: number; rule: string; source: string; description: string; threshold: number; window_sec: number; opened_at: string;
  closed_at: string | null; opened_count: number; peak_count: number; events: number; last_seen_at: string; delivery: string | null;
}
export const toAlert = (r: Row): SecurityAlert => ({
  id: r.id, rule: r.rule, source: r.source, description: r.description, threshold: r.threshold, windowSec: r.window_sec,
  openedAt: r.opened_at, closedAt: r.closed_at, openedCount: r.opened_count, peakCount: r.peak_count, events: r.events,
  lastSeenAt: r.last_seen_at, delivery: r.delivery,
});

/** `<dataDir>/security-alerts.sqlite` */
export class SqliteSecurityAlertStore implements SecurityAlertStore {
  readonly #db: Database.Database;

  constructor(file: string) {
    this.#db = openMigratedDb(file, MIGRATIONS, 'security alerts');
  }

  async open(a: OpenAlert): Promise<SecurityAlert | undefined> {
    return wrapDb('opening a security alert', () => {
      const r = this.#db.prepare(
        `INSERT OR IGNORE INTO security_alerts (rule, source, description, threshold, window_sec, opened_at, opened_count, peak_count, events, last_seen_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(a.rule, a.source, a.description, a.threshold, a.windowSec, a.at, a.count, a.count, a.count, a.at);
      return r.changes === 1 ? this.#get(Number(r.lastInsertRowid)) : undefined;
    });
  }

  async seen(id: number, at: string, count: number, added: number): Promise<void> {
    wrapDb('updating a security alert', () => this.#db.prepare(
      'UPDATE security_alerts SET events = events + ?, peak_count = MAX(peak_count, ?), last_seen_at = ? WHERE id = ? AND closed_at IS NULL',
    ).run(added, count, at, id));
  }

  async close(id: number, at: string): Promise<SecurityAlert | undefined> {
    return wrapDb('closing a security alert', () => {
      const r = this.#db.prepare('UPDATE security_alerts SET closed_at = ? WHERE id = ? AND closed_at IS NULL').run(at, id);
      return r.changes === 1 ? this.#get(id) : undefined;
    });
  }

  async addDelivery(id: number, delivery: string): Promise<void> {
    wrapDb('recording a security alert\'s delivery', () => this.#db.prepare("UPDATE security_alerts SET delivery = substr(COALESCE(delivery || ' | ', '') || ?, 1, 4000) WHERE id = ?").run(delivery.slice(0, 2000), id));
  }

  async get(id: number): Promise<SecurityAlert | undefined> {
    return this.#get(id);
  }

  #get(id: number): SecurityAlert | undefined {
    const row = wrapDb('reading a security alert', () => this.#db.prepare('SELECT * FROM security_alerts WHERE id = ?').get(id) as Row | undefined);
    return row && toAlert(row);
  }

  async openByRule(): Promise<Map<string, number>> {
    const rows = wrapDb('listing open security alerts', () => this.#db.prepare('SELECT id, rule FROM security_alerts WHERE closed_at IS NULL').all() as { id: number; rule: string }[]);
    return new Map(rows.map((r) => [r.rule, r.id]));
  }

  async list(o: { open?: boolean; limit: number; beforeId?: number }): Promise<SecurityAlert[]> {
    return wrapDb('listing security alerts', () => (this.#db.prepare(
      `SELECT * FROM security_alerts WHERE (@open = 0 OR closed_at IS NULL) AND (@before IS NULL OR id < @before) ORDER BY id DESC LIMIT @limit`,
    ).all({ open: o.open ? 1 : 0, before: o.beforeId ?? null, limit: o.limit }) as Row[]).map(toAlert));
  }

  async dispose(): Promise<void> {
    this.#db.close();
  }
}

export async function openSecurityAlertStore(target: DbTarget): Promise<SecurityAlertStore> {
  if (target.kind === 'sqlite') return new SqliteSecurityAlertStore(target.file);
  const { PgSecurityAlertStore } = await import('./pg-security-alert-store.js');
  return PgSecurityAlertStore.open(target.db);
}
