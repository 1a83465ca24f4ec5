import type pg from 'pg';
import type { Logger } from 'pino';
import type { PostgresDatabase } from '../../db/postgres.js';
import type { PagePayload } from './messages.js';

/** Page requests: `<sending cloud>|<delivery id>|<user id>` (no personal data: receivers read the rest from the database). */
const REQUEST = 'yulan_care_page';
/** Receipts: `<delivery id>`, sent when a cloud's receipt row commits. */
const RECEIPT = 'yulan_care_page_receipt';
const DB_NOW = '(extract(epoch FROM clock_timestamp()) * 1000)::bigint';

/**
 * How long the sender waits for some cloud to say it wrote a page to an open stream.
 * A receipt takes one NOTIFY to every cloud, two or three short queries on the cloud
 * holding the stream and one NOTIFY back: milliseconds on a healthy database, a few
 * hundred on a loaded one. 2 s leaves that margin several times over while staying
 * negligible next to the shortest ack wait a ladder step gives (the family's 180 s by
 * default) and well inside a notification claim (30 s), so a page nobody sees delays
 * the next channel by at most 2 s and the claim never lapses while waiting.
 */
export const DEFAULT_APP_RECEIPT_MS = 2000;
/** While waiting, the receipts table is read this often in case a receipt's NOTIFY was missed. */
const POLL_MS = 500;
/**
 * Each cloud says which people have a page open on it (alerts.app_streams), refreshed this
 * often; a row not refreshed for PRESENCE_STALE_MS is a cloud that died, and is ignored.
 * Only a fresh row makes a sender wait: with no page open anywhere the channel fails at
 * once, so a burst of pages nobody sees never holds the dispatcher's slots for 2 s each.
 */
const PRESENCE_REFRESH_MS = 5000;
const PRESENCE_STALE_MS = 15_000;
/** rows of clouds gone this long are deleted by whichever cloud refreshes next */
const PRESENCE_FORGET_MS = 60_000;

/** The app channel: writes a page to the person's open care-page streams. */
export interface AppChannel {
  /** True when some open stream of the person took the page (here, or on another cloud that recorded a receipt). */
  deliver(userId: string, payload: PagePayload, signal: AbortSignal): Promise<boolean>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export interface PgAppRelayOptions {
  db: PostgresDatabase;
  /** this cloud's open streams */
  hub: {
    page(userId: string, data: unknown): boolean;
    connected(userId: string): number;
    users(): string[];
    onPresence(fn: (userId: string) => void): void;
  };
  /** the page of a delivery as the sender would build it, read from the shared database; null when unknown */
  payloadOf(deliveryId: string): Promise<PagePayload | null>;
  /** this cloud's name in requests and receipts (unique per process) */
  cloudId: string;
  log: Logger;
  receiptMs?: number;
  pollMs?: number;
}

/**
 * The app channel with several clouds on one PostgreSQL database (docs/care.md §3, §4).
 * Behind a load balancer the person's care page may hold its stream on any cloud, so the
 * sender writes to its own streams and asks every other cloud (NOTIFY on `yulan_care_page`)
 * to write to theirs. A cloud that writes the page records a receipt — one row per
 * (delivery, cloud), so a duplicate request or a re-sent delivery never counts twice — and
 * announces it. The page counts as delivered only on a receipt (or the sender's own
 * write); with none within `receiptMs` the channel fails and the ladder goes on to the
 * next channel. Receipts are read from the table as well as heard, so a missed NOTIFY only
 * costs a poll, and a cloud that dies before its receipt commits makes the channel fail,
 * never hang.
 */
export class PgAppRelay implements AppChannel {
  private readonly waiters = new Map<string, Set<() => void>>();
  /** deliveries this cloud is writing right now: a duplicate request waits for nothing and writes nothing */
  private readonly writing = new Set<string>();
  private listener: pg.PoolClient | undefined;
  private unlisten: (() => void) | undefined;
  private closed = false;
  private readonly receiptMs: number;
  private readonly pollMs: number;
  /** presence writes, one after the other, each writing the state of the moment it runs */
  private presenceWrites: Promise<void> = Promise.resolve();
  private refresh: NodeJS.Timeout | undefined;

  constructor(private readonly o: PgAppRelayOptions) {
    this.receiptMs = o.receiptMs ?? DEFAULT_APP_RECEIPT_MS;
    this.pollMs = o.pollMs ?? POLL_MS;
    o.hub.onPresence((userId) => this.presence(() => this.writePresence(userId)));
  }

  async deliver(userId: string, payload: PagePayload, signal: AbortSignal): Promise<boolean> {
    const id = payload.deliveryId;
    // A send of this delivery already reached a page (its cloud died before recording the
    // result, and the row was swept): it is delivered, and not shown again.
    if (await this.receiptOf(id).catch(() => false)) return true;
    const here = this.o.hub.page(userId, payload);
    let asked = false;
    // Not knowing where pages are open (the read failed) is no reason to skip asking.
    if (await this.openElsewhere(userId).catch(() => true)) {
      try {
        await this.o.db.query('asking other clouds for a care page', 'SELECT pg_notify($1, $2)', [REQUEST, `${this.o.cloudId}|${id}|${userId}`]);
        asked = true;
      } catch (err) {
        this.o.log.warn({ err, notificationId: id }, 'asking other clouds for a care page failed');
      }
    }
    if (here) {
      await this.recordReceipt(id, userId).catch((err: unknown) => this.o.log.warn({ err, notificationId: id }, 'recording a care-page receipt failed'));
      return true;
    }
    return asked ? this.awaitReceipt(id, signal) : false;
  }

  private async openElsewhere(userId: string): Promise<boolean> {
    const r = await this.o.db.query('reading where care pages are open',
      `SELECT 1 FROM alerts.app_streams WHERE user_id = $1 AND cloud <> $2 AND seen_at_ms > ${DB_NOW} - $3 LIMIT 1`,
      [userId, this.o.cloudId, PRESENCE_STALE_MS]);
    return (r.rowCount ?? 0) > 0;
  }

  private presence(write: () => Promise<void>): void {
    if (this.closed) return;
    this.presenceWrites = this.presenceWrites.then(write)
      .catch((err: unknown) => this.o.log.warn({ err }, 'recording where care pages are open failed; the next refresh retries'));
  }

  /** A person's pages here are announced only while this cloud listens for requests (else a sender would wait for nothing). */
  private async writePresence(userId: string): Promise<void> {
    if (this.listener && !this.closed && this.o.hub.connected(userId) > 0) {
      await this.o.db.query('recording an open care page', `INSERT INTO alerts.app_streams (cloud, user_id, seen_at_ms) VALUES ($1, $2, ${DB_NOW})
        ON CONFLICT (cloud, user_id) DO UPDATE SET seen_at_ms = EXCLUDED.seen_at_ms`, [this.o.cloudId, userId]);
    } else {
      await this.o.db.query('recording a closed care page', 'DELETE FROM alerts.app_streams WHERE cloud = $1 AND user_id = $2', [this.o.cloudId, userId]);
    }
  }

  /** All of this cloud's rows at once (a write that failed is made good here), and dead clouds' rows forgotten. */
  private async refreshPresence(): Promise<void> {
    const users = this.listener && !this.closed ? this.o.hub.users() : [];
    await this.o.db.tx('refreshing open care pages', async (sql) => {
      await sql.query('DELETE FROM alerts.app_streams WHERE cloud = $1 AND NOT (user_id = ANY($2::text[]))', [this.o.cloudId, users]);
      await sql.query(`INSERT INTO alerts.app_streams (cloud, user_id, seen_at_ms) SELECT $1, u, ${DB_NOW} FROM unnest($2::text[]) AS u
        ON CONFLICT (cloud, user_id) DO UPDATE SET seen_at_ms = EXCLUDED.seen_at_ms`, [this.o.cloudId, users]);
      await sql.query(`DELETE FROM alerts.app_streams WHERE seen_at_ms < ${DB_NOW} - $1`, [PRESENCE_FORGET_MS]);
    });
  }

  private async receiptOf(deliveryId: string, cloud?: string): Promise<boolean> {
    const r = cloud === undefined
      ? await this.o.db.query('reading care-page receipts', 'SELECT 1 FROM alerts.app_receipts WHERE delivery_id = $1 LIMIT 1', [deliveryId])
      : await this.o.db.query('reading care-page receipts', 'SELECT 1 FROM alerts.app_receipts WHERE delivery_id = $1 AND cloud = $2', [deliveryId, cloud]);
    return (r.rowCount ?? 0) > 0;
  }

  /** The row and its announcement commit together: a receipt heard is a receipt stored. */
  private async recordReceipt(deliveryId: string, userId: string): Promise<void> {
    await this.o.db.tx('recording a care-page receipt', async (sql) => {
      await sql.query(`INSERT INTO alerts.app_receipts (delivery_id, cloud, user_id, at_ms) VALUES ($1, $2, $3, ${DB_NOW})
        ON CONFLICT (delivery_id, cloud) DO NOTHING`, [deliveryId, this.o.cloudId, userId]);
      await sql.query('SELECT pg_notify($1, $2)', [RECEIPT, deliveryId]);
    });
  }

  /** Waits on the monotonic clock, not the alert clock: tests freeze that one, and a wall-clock jump must not stretch the bound. */
  private async awaitReceipt(deliveryId: string, signal: AbortSignal): Promise<boolean> {
    const deadline = performance.now() + this.receiptMs;
    for (;;) {
      const left = deadline - performance.now();
      // The last read decides: a receipt whose NOTIFY never arrived still counts.
      if (left <= 0) return this.receiptOf(deliveryId);
      await this.heard(deliveryId, Math.min(left, this.pollMs), signal);
      if (await this.receiptOf(deliveryId)) return true;
    }
  }

  private heard(deliveryId: string, ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(new Error('aborted'));
      const set = this.waiters.get(deliveryId) ?? new Set<() => void>();
      this.waiters.set(deliveryId, set);
      const done = (): void => {
        clearTimeout(t);
        signal.removeEventListener('abort', onAbort);
        set.delete(done);
        if (set.size === 0 && this.waiters.get(deliveryId) === set) this.waiters.delete(deliveryId);
      };
      const t = setTimeout(() => { done(); resolve(); }, ms);
      const onAbort = (): void => { done(); reject(new Error('aborted')); };
      signal.addEventListener('abort', onAbort, { once: true });
      set.add(() => { done(); resolve(); });
    });
  }

  /** Another cloud asks for a page: written here only if the person has a stream here, once per delivery. */
  private async onRequest(origin: string, deliveryId: string, userId: string): Promise<void> {
    if (origin === this.o.cloudId || this.o.hub.connected(userId) === 0 || this.writing.has(deliveryId)) return;
    this.writing.add(deliveryId);
    try {
      // Already written here (the request came again: a re-send after its cloud died):
      // say so again for whoever waits now, but do not show it twice.
      if (await this.receiptOf(deliveryId, this.o.cloudId)) {
        await this.o.db.query('announcing a care-page receipt', 'SELECT pg_notify($1, $2)', [RECEIPT, deliveryId]);
        return;
      }
      const payload = await this.o.payloadOf(deliveryId);
      // The request names the person, but only the stored notification says whose page it is.
      if (!payload || payload.recipient.userId !== userId) {
        this.o.log.warn({ notificationId: deliveryId, userId, origin }, payload
          ? 'care-page request names a person the notification is not for; not shown'
          : 'care-page request for an unknown notification; not shown');
        return;
      }
      // Written first, then recorded: a receipt never claims a page no stream took.
      if (!this.o.hub.page(userId, payload)) return;
      await this.recordReceipt(deliveryId, userId);
    } finally {
      this.writing.delete(deliveryId);
    }
  }

  private onReceipt(deliveryId: string): void {
    for (const wake of [...(this.waiters.get(deliveryId) ?? [])]) wake();
  }

  /**
   * One pooled connection LISTENs on both channels; tried again every second while it
   * cannot be opened or after it breaks. Meanwhile pages open here are not reached from
   * other clouds (their channel fails over to the next), and this cloud's own waits still
   * see receipts by reading the table.
   */
  start(): Promise<void> {
    if (!this.refresh && !this.closed) {
      this.refresh = setInterval(() => this.presence(() => this.refreshPresence()), PRESENCE_REFRESH_MS);
      this.refresh.unref();
    }
    return this.listen().catch((err: unknown) => {
      this.retryLater();
      throw err;
    });
  }

  private retryLater(): void {
    if (!this.closed) setTimeout(() => { void this.listen().catch(() => this.retryLater()); }, 1000).unref();
  }

  private async listen(): Promise<void> {
    if (this.closed || this.listener) return;
    const client = await this.o.db.pool.connect();
    let released = false;
    const drop = (err?: Error): void => {
      if (released) return;
      released = true;
      client.removeListener('notification', onNote);
      client.removeListener('error', onError);
      if (this.listener === client) this.listener = undefined;
      // Destroyed rather than pooled: a connection that was LISTENing is not handed out again.
      client.release(err ?? true);
      // Not listening: no longer say pages are open here.
      this.presence(() => this.refreshPresence());
    };
    const onNote = (m: pg.Notification): void => {
      const text = m.payload ?? '';
      if (m.channel === RECEIPT) return this.onReceipt(text);
      const [origin, deliveryId, userId] = text.split('|', 3);
      if (!origin || !deliveryId || !userId) return;
      void this.onRequest(origin, deliveryId, userId)
        .catch((err: unknown) => this.o.log.warn({ err, notificationId: deliveryId }, 'writing another cloud\'s page to a care page failed'));
    };
    const onError = (err: Error): void => {
      drop(err);
      this.retryLater();
    };
    client.on('notification', onNote);
    client.on('error', onError);
    this.unlisten = () => drop();
    try {
      await client.query(`LISTEN ${REQUEST}`);
      await client.query(`LISTEN ${RECEIPT}`);
    } catch (err) {
      drop(err as Error);
      throw err;
    }
    this.listener = client;
    if (this.closed) drop();
    // Listening now: say which pages are open here.
    else this.presence(() => this.refreshPresence());
  }

  /** Stops listening and takes back this cloud's "pages open here" before the pool closes. */
  async close(): Promise<void> {
    if (this.refresh) clearInterval(this.refresh);
    this.refresh = undefined;
    this.unlisten?.();
    this.unlisten = undefined;
    this.closed = true;
    await this.presenceWrites;
    await this.o.db.query('forgetting open care pages', 'DELETE FROM alerts.app_streams WHERE cloud = $1', [this.o.cloudId])
      .catch((err: unknown) => this.o.log.warn({ err }, 'forgetting this cloud\'s open care pages failed; they expire on their own'));
  }
}
