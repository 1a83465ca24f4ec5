import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { DbTarget } from './target.js';
import type { PostgresDatabase } from './postgres.js';

/**
 * "Only one cloud does this at a time": a named lease in PostgreSQL for the loops that must
 * run once per platform however many cloud processes share the database (a firmware
 * campaign's runner, retention). The holder renews it every third of its lifetime; a cloud
 * that dies stops renewing and another takes over once it expires. On SQLite there is one
 * cloud per data directory, so the lease is always held.
 *
 * A lease narrows the window for duplicate work; it does not close it (a holder paused past
 * its expiry can still act once). Work whose duplication would harm — sending an alert
 * step, taking the last claim slot — is made safe by the statement that records it (a
 * conditional UPDATE, a unique key), lease or not.
 */
export interface Lease {
  readonly name: string;
  /** true while this process holds the lease (checked at the last renewal) */
  held(): boolean;
  /** begins acquiring/renewing; `onChange` is told when it is gained or lost */
  start(onChange?: (held: boolean) => void): Promise<void>;
  /** stops renewing and releases the lease so another cloud takes over at once */
  close(): Promise<void>;
}

export interface LeaseOptions {
  /** how long a lease lasts without renewal */
  ttlMs?: number;
  logger: Logger;
  /** identifies this process in the lease table (default: random per process start) */
  holder?: string;
}

export function openLease(target: DbTarget, name: string, opts: LeaseOptions): Lease {
  if (target.kind === 'sqlite') return alwaysHeld(name);
  return new PostgresLease(target.db, name, opts);
}

function alwaysHeld(name: string): Lease {
  return {
    name,
    held: () => true,
    start: async (onChange) => { onChange?.(true); },
    close: async () => undefined,
  };
}

const SCHEMA = `CREATE TABLE IF NOT EXISTS public.yulan_leases (
  name text PRIMARY KEY, holder text NOT NULL, expires_at timestamptz NOT NULL)`;

class PostgresLease implements Lease {
  readonly name: string;
  readonly #db: PostgresDatabase;
  readonly #ttlMs: number;
  readonly #holder: string;
  readonly #log: Logger;
  #held = false;
  #timer: NodeJS.Timeout | undefined;
  #onChange: ((held: boolean) => void) | undefined;
  #closed = false;

  constructor(db: PostgresDatabase, name: string, opts: LeaseOptions) {
    this.name = name;
    this.#db = db;
    this.#ttlMs = opts.ttlMs ?? 15_000;
    this.#holder = opts.holder ?? `${process.pid}-${randomUUID()}`;
    this.#log = opts.logger;
  }

  held(): boolean { return this.#held; }

  async start(onChange?: (held: boolean) => void): Promise<void> {
    this.#onChange = onChange;
    await this.#db.query('creating the lease table', SCHEMA);
    await this.#tick();
  }

  async #tick(): Promise<void> {
    if (this.#closed) return;
    let now = false;
    try {
      // Taken when free, expired, or already ours (a renewal); the server's clock decides,
      // so clouds with skewed clocks still agree.
      const r = await this.#db.query('renewing a lease', `INSERT INTO public.yulan_leases (name, holder, expires_at)
        VALUES ($1, $2, now() + make_interval(secs => $3::double precision / 1000))
        ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
        WHERE public.yulan_leases.holder = EXCLUDED.holder OR public.yulan_leases.expires_at < now()
        RETURNING holder`, [this.name, this.#holder, this.#ttlMs]);
      now = r.rowCount === 1;
    } catch (err) {
      // Unreachable database: act as if lost (another cloud may take it over meanwhile).
      this.#log.warn({ lease: this.name, err: (err as Error).message }, 'lease: renewal failed');
    }
    if (now !== this.#held) {
      this.#held = now;
      this.#log.info({ lease: this.name, held: now }, now ? 'lease: acquired' : 'lease: lost');
      this.#onChange?.(now);
    }
    if (!this.#closed) this.#timer = setTimeout(() => { void this.#tick(); }, Math.max(50, Math.floor(this.#ttlMs / 3)));
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (!this.#held) return;
    this.#held = false;
    await this.#db.query('releasing a lease', 'DELETE FROM public.yulan_leases WHERE name = $1 AND holder = $2', [this.name, this.#holder])
      .catch((err: unknown) => this.#log.warn({ lease: this.name, err: (err as Error).message }, 'lease: release failed'));
  }
}
