import pg from 'pg';
import type { Logger } from 'pino';
import { DataError, DataErrorCode } from '@yulan/protos';
import { CloudError, CloudErrorCode } from '../errors.js';

/**
 * The cloud's PostgreSQL database (`YULAN_DATABASE_URL`): one pool per cloud process, shared
 * by every store. Each store keeps its tables in its own schema (`registry`, `people`,
 * `alerts`, …) — the PostgreSQL counterpart of one SQLite file per store — and records its
 * schema version in `public.yulan_schema`.
 *
 * Several cloud processes may use one database at once (docs/deploy.md, "three machines"),
 * so everything here is safe to run concurrently: migrations take a transaction-scoped
 * advisory lock, and `tx` retries a transaction PostgreSQL aborted for a serialization
 * failure or a deadlock (which two clouds can cause, one alone cannot).
 */
export type Sql = Pick<pg.PoolClient, 'query'>;

export interface PostgresOptions {
  url: string;
  logger: Logger;
  /** pool size per cloud process */
  max?: number;
  /** PEM of the CA the server's certificate must chain to (sslmode verify-full) */
  ca?: string;
  applicationName?: string;
  /**
   * Called once before a migration would change a schema that already has data (an
   * upgrade, not a first start), inside the migration's advisory lock, so the other clouds
   * wait. start.ts takes a pg_dump here; if it throws, nothing is migrated.
   */
  beforeUpgrade?: (u: { component: string; from: number; to: number }) => Promise<void>;
}

/**
 * bigint (int8) columns hold epoch milliseconds and counts: read them as numbers, as
 * better-sqlite3 does, instead of pg's default strings — refusing a value a JavaScript
 * number cannot hold exactly rather than rounding it.
 */
const INT8 = 20;
function parseInt8(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new RangeError(`int8 value ${v} is outside the safe integer range`);
  return n;
}
const typeParser = ((oid: number, format?: 'text' | 'binary') =>
  oid === INT8 && format !== 'binary' ? parseInt8 : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser;

/** PostgreSQL error codes a transaction is retried on (a new attempt can succeed). */
const RETRYABLE = new Set(['40001', '40P01']);
const MAX_ATTEMPTS = 10;

export class PostgresDatabase {
  readonly pool: pg.Pool;
  private readonly log: Logger;
  private readonly beforeUpgrade: PostgresOptions['beforeUpgrade'];

  constructor(opts: PostgresOptions) {
    this.log = opts.logger;
    this.beforeUpgrade = opts.beforeUpgrade;
    this.pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.max ?? 10,
      application_name: opts.applicationName ?? 'yulan-cloud',
      types: { getTypeParser: typeParser },
      ...(opts.ca ? { ssl: { ca: opts.ca, rejectUnauthorized: true } } : {}),
    });
    // An idle client losing its server (a restart, a failover) must not crash the process:
    // the pool drops it and the next query opens a new one.
    this.pool.on('error', (err) => this.log.warn({ err: err.message }, 'postgres: idle connection lost'));
  }

  /** One statement outside any transaction. */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(what: string, text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(text, values);
    } catch (err) {
      throw toCloudError(what, err);
    }
  }

  /**
   * Runs `fn` in one transaction (READ COMMITTED unless `isolation` says otherwise) and
   * commits; on an error it rolls back and rethrows. Retried from the start, up to 10 times,
   * when PostgreSQL aborts it for a serialization failure or a deadlock — so `fn` must
   * have no side effects outside the database. Each retry waits a random, growing pause so
   * the transactions that collided do not collide again in lockstep.
   */
  async tx<T>(what: string, fn: (sql: Sql) => Promise<T>, isolation: 'read committed' | 'repeatable read' | 'serializable' = 'read committed'): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let client: pg.PoolClient;
      try {
        client = await this.pool.connect();
      } catch (err) {
        throw toCloudError(what, err);
      }
      try {
        await client.query(`BEGIN ISOLATION LEVEL ${isolation.toUpperCase()}`);
        const out = await fn(client);
        await client.query('COMMIT');
        client.release();
        return out;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        // A client whose connection broke must not go back to the pool.
        client.release(isConnectionError(err) ? (err as Error) : undefined);
        const code = (err as { code?: string }).code;
        if (code && RETRYABLE.has(code) && attempt < MAX_ATTEMPTS) {
          this.log.debug({ what, code, attempt }, 'postgres: transaction retried');
          await new Promise((r) => setTimeout(r, attempt * (5 + Math.random() * 20)));
          continue;
        }
        throw err instanceof CloudError || err instanceof DataError ? err : toCloudError(what, err);
      }
    }
  }

  /**
   * Brings `component`'s schema up to `migrations.length`: each migration in order, in one
   * transaction with the version bump, under an advisory lock so two clouds starting at
   * once migrate once. A database written by a newer release is refused with the same
   * message as a newer SQLite file. Migrations create their own schema and name their
   * tables with it (`CREATE SCHEMA IF NOT EXISTS registry; CREATE TABLE registry.devices …`).
   */
  async migrate(component: string, migrations: readonly string[]): Promise<{ from: number; to: number }> {
    return this.tx(`migrating the ${component} schema`, async (sql) => {
      await sql.query("SELECT pg_advisory_xact_lock(hashtext('yulan-schema'))");
      await sql.query(`CREATE TABLE IF NOT EXISTS public.yulan_schema (
        component text PRIMARY KEY, version integer NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())`);
      const row = await sql.query<{ version: number }>('SELECT version FROM public.yulan_schema WHERE component = $1', [component]);
      const from = row.rows[0]?.version ?? 0;
      if (from > migrations.length) {
        throw new DataError(DataErrorCode.SchemaTooNew,
          `the ${component} schema in PostgreSQL has version ${from}, but this Yulan release knows versions up to ${migrations.length}: ` +
          'it was written by a newer release. Run that release again, or restore a backup taken before the upgrade (docs/deploy.md, "Upgrades").');
      }
      if (from > 0 && from < migrations.length && this.beforeUpgrade) await this.beforeUpgrade({ component, from, to: migrations.length });
      for (let i = from; i < migrations.length; i++) await sql.query(migrations[i] as string);
      if (from < migrations.length) {
        await sql.query(`INSERT INTO public.yulan_schema (component, version) VALUES ($1, $2)
          ON CONFLICT (component) DO UPDATE SET version = EXCLUDED.version, updated_at = now()`, [component, migrations.length]);
        this.log.info({ component, from, to: migrations.length }, 'postgres: schema migrated');
      }
      return { from, to: migrations.length };
    });
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: string }).code ?? '';
  return code.startsWith('08') || code === 'ECONNRESET' || code === 'ECONNREFUSED' || code === '57P01';
}

/** Driver errors become a typed CloudError; unique violations keep their code for callers. */
export function toCloudError(what: string, err: unknown): CloudError {
  if (err instanceof CloudError) return err;
  return new CloudError(CloudErrorCode.Database, `${what} failed`, { cause: err });
}

/** True for a unique-constraint violation (SQLSTATE 23505), e.g. "this id is taken". */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; cause?: { code?: string } };
  return e.code === '23505' || e.cause?.code === '23505';
}
