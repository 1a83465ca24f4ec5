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

/** The app channel: writes a page to the person's open care-page streams. */
export interface AppChannel {
  /** True when some open stream of the person took the page (here, or on another cloud that recorded a receipt). */
  deliver(userId: string, payload: PagePayload, signal: AbortSignal): Promise<boolean>;
  start(): Promise<void>;
  close(): void;
}

export interface PgAppRelayOptions {
  db: PostgresDatabase;
  /** this cloud's open streams */
  hub: { page(userId: string, data: unknown): boolean; connected(userId: string): number };
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

  constructor(private readonly o: PgAppRelayOptions) {
    this.receiptMs = o.receiptMs ?? DEFAULT_APP_RECEIPT_MS;
    this.pollMs = o.pollMs ?? POLL_MS;
  }

  async deliver(userId: string, payload: PagePayload, signal: AbortSignal): Promise<boolean> {
    const id = payload.deliveryId;
    // A send of this delivery already reached a page (its cloud died before recording the
    // result, and the row was swept): it is delivered, and not shown again.
    if (await this.receiptOf(id).catch(() => false)) return true;
    const here = this.o.hub.page(userId, payload);
    let asked = false;
    try {
      await this.o.db.query('asking other clouds for a care page', 'SELECT pg_notify($1, $2)', [REQUEST, `${this.o.cloudId}|${id}|${userId}`]);
      asked = true;
    } catch (err) {
      this.o.log.warn({ err, notificationId: id }, 'asking other clouds for a care page failed');
    }
    if (here) {
      await this.recordReceipt(id, userId).catch((err: unknown) => this.o.log.warn({ err, notificationId: id }, 'recording a care-page receipt failed'));
      return true;
    }
    return asked ? this.awaitReceipt(id, signal) : false;
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
      if (!payload || payload.recipient.userId !== userId) return;
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
  }

  close(): void {
    this.closed = true;
    this.unlisten?.();
    this.unlisten = undefined;
  }
}
