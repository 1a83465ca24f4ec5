import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import type { Logger } from 'pino';
import type { InfluxConfig } from '../config.js';
import type { StoreRecord } from '../domain/records.js';
import { WINDOW_MS } from '../domain/aggregator.js';
import { StoreError } from '../errors.js';
import { Measurement, quote, toLine } from './influx-lines.js';
import { aggPoints, airIndexPoints, eventPoints, latestPoints, presencePoints, rawPoints, type Series } from './influx-rows.js';
import { classOfRecord, ensureRetentionPolicies, fromClause, type RetentionClass } from './influx-retention.js';
import type {
  AggPoint, AirIndexPoint, AirIndexQuery, DeleteRange, EventPoint, LatestPoint, PresenceHistory, RawPoint, RawQuery, TelemetryStore, TimeRange,
} from './store.js';

const gzip = promisify(gzipCb);

interface QueryResponse {
  results?: { series?: Series[]; error?: string }[];
  error?: string;
}

/**
 * InfluxDB store. Writes POST gzip'd line protocol ourselves (the client library's `Point`
 * does the encoding) rather than through `WriteApi`: its background batching resolved
 * `close()` before in-flight batches were answered, and the outbox must release entries
 * only once THIS batch got its 204. Back-off and retries belong to the forwarder, which
 * keeps the batch in the outbox meanwhile. `api: 'v1'` → `/write?db=` (InfluxDB 1.x);
 * `'v2'` → `/api/v2/write?org=&bucket=` (2.x, 3.x). Queries use InfluxQL on `/query`,
 * which all three versions serve (2.x needs a DBRP mapping for `db`).
 */
export class InfluxStore implements TelemetryStore {
  readonly name = 'influxdb' as const;
  private dbReady = false;
  /** the retention policy each kind of data is written to; absent: the default policy */
  private policies: Partial<Record<RetentionClass, string>> = {};

  constructor(private readonly cfg: InfluxConfig, private readonly logger: Logger, private readonly timeoutMs = 10_000) {}

  async init(): Promise<void> {
    await this.ensureDb().catch((err: unknown) => {
      // The server may simply be down at start; the forwarder retries later.
      this.logger.warn({ err }, 'influxdb not reachable at start; will retry');
    });
  }

  private authHeaders(): Record<string, string> {
    if (this.cfg.api === 'v2' || (this.cfg.token && !this.cfg.username)) {
      return this.cfg.token ? { authorization: `Token ${this.cfg.token}` } : {};
    }
    if (this.cfg.username) {
      const b = Buffer.from(`${this.cfg.username}:${this.cfg.password ?? ''}`).toString('base64');
      return { authorization: `Basic ${b}` };
    }
    return {};
  }

  private async ensureDb(): Promise<void> {
    if (this.dbReady || this.cfg.api !== 'v1') return;
    const body = new URLSearchParams({ q: `CREATE DATABASE "${this.cfg.db.replace(/"/g, '\\"')}"` });
    const res = await this.fetch('/query', { method: 'POST', body, headers: this.authHeaders() });
    // 401/403: no admin right; the database may exist anyway, the write will tell.
    if (!(res.ok || res.status === 401 || res.status === 403)) throw new StoreError(`CREATE DATABASE answered ${res.status}`, { retryable: res.status >= 500 });
    if (this.cfg.retention) await this.ensurePolicies();
    this.dbReady = true;
  }

  /** One InfluxQL statement that changes the schema: its HTTP status and error, if any. */
  private async statement(q: string): Promise<{ status: number; error?: string; series?: Series[] }> {
    const res = await this.fetch('/query', { method: 'POST', body: new URLSearchParams({ q }), headers: this.authHeaders() });
    const json = (await res.json().catch(() => ({}))) as QueryResponse;
    const error = json.error ?? json.results?.[0]?.error;
    return { status: res.status, ...(error ? { error } : {}), ...(json.results?.[0]?.series ? { series: json.results[0].series } : {}) };
  }

  private async ensurePolicies(): Promise<void> {
    this.policies = await ensureRetentionPolicies(this.cfg.db, this.cfg.retention!, (q) => this.statement(q), this.logger);
  }

  private async fetch(path: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(this.cfg.url + path, { ...init, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      throw new StoreError(`influxdb unreachable at ${this.cfg.url}`, { retryable: true, cause: err });
    }
  }

  async write(records: readonly StoreRecord[]): Promise<void> {
    const lines: { line: string; r: StoreRecord }[] = [];
    for (const r of records) {
      const l = toLine(r);
      if (l) lines.push({ line: l, r });
    }
    if (lines.length === 0) return;
    await this.ensureDb();
    // One write per retention policy; a retried batch rewrites the same points (idempotent).
    const groups = new Map<string | undefined, string[]>();
    for (const { line, r } of lines) {
      const rp = this.policies[classOfRecord(r)];
      groups.set(rp, [...(groups.get(rp) ?? []), line]);
    }
    for (const [rp, group] of groups) await this.writeLines(group, rp);
  }

  private async writeLines(lines: string[], rp: string | undefined): Promise<void> {
    const body = await gzip(lines.join('\n'));
    const path = this.cfg.api === 'v1'
      ? `/write?${new URLSearchParams({ db: this.cfg.db, precision: 'ns', ...(rp ? { rp } : {}) })}`
      : `/api/v2/write?${new URLSearchParams({ org: this.cfg.org ?? '', bucket: this.cfg.bucket ?? '', precision: 'ns' })}`;
    const res = await this.fetch(path, {
      method: 'POST', body,
      headers: { ...this.authHeaders(), 'content-type': 'text/plain; charset=utf-8', 'content-encoding': 'gzip' },
    });
    if (res.status === 204 || res.status === 200) return;
    const text = (await res.text().catch(() => '')).slice(0, 500);
    if (res.status === 404) this.dbReady = false;
    // Points older than their retention policy are expired by the rule the operator set:
    // InfluxDB stored the rest of the batch, so this is done, not a bad batch.
    const expired = /^\{"error":"partial write: points beyond retention policy dropped=(\d+)"\}\s*$/.exec(text);
    if (res.status === 400 && expired) {
      this.logger.info({ dropped: Number(expired[1]), rp }, 'points older than their retention policy were not stored');
      return;
    }
    // 400 = bad points (e.g. field type conflict): retrying the same batch cannot help.
    const retryable = res.status !== 400 && res.status !== 413;
    throw new StoreError(`influxdb write answered ${res.status}: ${text}`, { retryable });
  }

  private async query(q: string, method: 'GET' | 'POST' = 'GET'): Promise<Series[]> {
    // Reads name the retention policy of each measurement, known once the database is set up.
    if (!this.dbReady && this.cfg.retention) await this.ensureDb().catch(() => undefined);
    const params = new URLSearchParams({ db: this.cfg.db, epoch: 'ms', q });
    // Statements that change data (DELETE) must be POSTed; reads are GETs.
    const res = method === 'GET'
      ? await this.fetch(`/query?${params}`, { method, headers: this.authHeaders() })
      : await this.fetch('/query', { method, body: params, headers: this.authHeaders() });
    const text = await res.text();
    if (!res.ok) throw new StoreError(`influxdb query answered ${res.status}: ${text.slice(0, 300)}`, { retryable: res.status >= 500 });
    const json = JSON.parse(text) as QueryResponse;
    const first = json.results?.[0];
    const err = json.error ?? first?.error;
    // An unknown database/measurement just means "nothing written yet".
    if (err && /not found/.test(err)) return [];
    if (err) throw new StoreError(`influxdb query error: ${err}`, { retryable: false });
    return first?.series ?? [];
  }

  private range(measurement: string, q: TimeRange): string {
    return `SELECT * FROM ${fromClause(measurement, this.policies)} WHERE "device_id" = ${quote(q.deviceId)} AND time >= ${Math.trunc(q.fromMs)}ms AND time < ${Math.trunc(q.toMs)}ms ORDER BY time ASC LIMIT ${Math.trunc(q.limit)}`;
  }

  async queryRaw(q: RawQuery): Promise<RawPoint[]> {
    return rawPoints(await this.query(this.range(Measurement.Reading, q)), q.fields);
  }

  async queryAggregates(q: RawQuery): Promise<AggPoint[]> {
    return aggPoints(await this.query(this.range(Measurement.Aggregate, q)), q.fields);
  }

  async queryEvents(q: TimeRange): Promise<EventPoint[]> {
    return eventPoints(await this.query(this.range(Measurement.Event, q)), q.deviceId);
  }

  async queryPresence(q: TimeRange): Promise<PresenceHistory> {
    const before = presencePoints(await this.query(`SELECT * FROM ${fromClause(Measurement.Presence, this.policies)} WHERE "device_id" = ${quote(q.deviceId)}`
      + ` AND time < ${Math.trunc(q.fromMs)}ms ORDER BY time DESC LIMIT 1`));
    return { before: before.at(-1) ?? null, points: presencePoints(await this.query(this.range(Measurement.Presence, q))) };
  }

  async latest(): Promise<LatestPoint[]> {
    return latestPoints(await this.query(`SELECT * FROM ${fromClause(Measurement.Reading, this.policies)} GROUP BY "device_id" ORDER BY time DESC LIMIT 1`));
  }

  async queryAirIndex(q: AirIndexQuery): Promise<AirIndexPoint[]> {
    const m = q.measure === 'aqi' ? Measurement.Aqi : Measurement.Noise;
    const sql = `SELECT * FROM ${fromClause(m, this.policies)} WHERE "scope" = ${quote(q.scope)} AND "id" = ${quote(q.id)} AND "period" = ${quote(q.period)}`
      + ` AND time >= ${Math.trunc(q.fromMs)}ms AND time < ${Math.trunc(q.toMs)}ms ORDER BY time ASC LIMIT ${Math.trunc(q.limit)}`;
    return airIndexPoints(await this.query(sql));
  }

  /** Which points each measurement loses: [from, to) on the point time, widened for the
   * aggregates to every window that overlaps the range. Points are stamped tsMs·1e6 + seq
   * ns (influx-lines.ts), so `time < toMs` keeps exactly the readings from toMs on. */
  private deletions(q: DeleteRange): { measurement: string; fromNs: bigint; toNs: bigint }[] {
    const ns = (ms: number): bigint => BigInt(Math.trunc(ms)) * 1_000_000n;
    const plain = [Measurement.Reading, Measurement.Event, Measurement.Presence]
      .map((measurement) => ({ measurement, fromNs: ns(q.fromMs), toNs: ns(q.toMs) }));
    return [...plain, { measurement: Measurement.Aggregate, fromNs: ns(q.fromMs - WINDOW_MS) + 1n, toNs: ns(q.toMs) }];
  }

  async deleteRange(q: DeleteRange): Promise<void> {
    if (this.cfg.api === 'v1') {
      // InfluxQL DELETE takes tag predicates and a time range; device_id is a tag.
      // One statement per request: /query reports only the first statement's error here.
      for (const d of this.deletions(q)) {
        await this.query(`DELETE FROM "${d.measurement}" WHERE "device_id" = ${quote(q.deviceId)} AND time >= ${d.fromNs} AND time < ${d.toNs}`, 'POST');
      }
      return;
    }
    // 2.x/3.x: the delete API; its start and stop are both inclusive, hence stop = to - 1 ns.
    const rfc3339 = (t: bigint): string => {
      const ms = t / 1_000_000n;
      const sub = (t % 1_000_000n).toString().padStart(6, '0');
      return new Date(Number(ms)).toISOString().replace('Z', `${sub}Z`);
    };
    const path = `/api/v2/delete?${new URLSearchParams({ org: this.cfg.org ?? '', bucket: this.cfg.bucket ?? '' })}`;
    for (const d of this.deletions(q)) {
      const body = JSON.stringify({
        start: rfc3339(d.fromNs), stop: rfc3339(d.toNs - 1n),
        predicate: `_measurement="${d.measurement}" AND device_id="${q.deviceId.replace(/["\\]/g, '\\$&')}"`,
      });
      const res = await this.fetch(path, { method: 'POST', body, headers: { ...this.authHeaders(), 'content-type': 'application/json' } });
      if (res.status !== 204 && res.status !== 200) {
        const text = (await res.text().catch(() => '')).slice(0, 300);
        throw new StoreError(`influxdb delete answered ${res.status}: ${text}`, { retryable: res.status >= 500 });
      }
    }
  }

  async close(): Promise<void> {
    // Nothing buffered here: every write is awaited by the forwarder.
  }
}
