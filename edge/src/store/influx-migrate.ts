import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import type { InfluxConfig } from '../config.js';
import { EdgeError, EdgeErrorCode } from '../errors.js';
import type { RetentionConfig } from '../retention.js';
import { Measurement } from './influx-lines.js';
import { RETENTION_POLICY, classOfMeasurement, ensureRetentionPolicies, type RunStatement } from './influx-retention.js';

/**
 * Moves what older releases wrote into a 1.x database's `autogen` retention policy into the
 * per-kind policies the edge writes to now (influx-retention.ts). Window by window, oldest
 * first: count the source per series and field, `SELECT * INTO … GROUP BY *` (tags stay tags,
 * and a copy of a copy rewrites the same points, so a repeated window is harmless), count
 * the target and require every series' field count there to be at least the source's.
 * A checkpoint file records the last verified window per measurement, so a stopped run
 * (`maxWindows`, a crash, the server going away) resumes where it stopped. Points older than
 * their new policy's duration would be refused by InfluxDB: they are counted as expired.
 */
export const SOURCE_POLICY = 'autogen';
export const MIGRATED_MEASUREMENTS: readonly string[] = Object.values(Measurement);

export interface InfluxMigrateOptions {
  influx: InfluxConfig;
  retention: RetentionConfig;
  /** JSON file with the verified progress; created 0600. */
  checkpointFile: string;
  /** width of one copy; smaller windows mean smaller queries on a busy server */
  windowMs: number;
  /** stop after copying this many windows (a night's slice); the next run goes on */
  maxWindows?: number;
  /** drop the `autogen` policy (and so its data) once every measurement is verified */
  dropAutogen?: boolean;
  logger: Logger;
  now?: () => number;
  onProgress?: (line: string) => void;
}

export interface MeasurementMigration {
  measurement: string;
  policy: string;
  /** field values counted in `autogen` over the copied windows of this run */
  sourceValues: number;
  /** field values in the target policy over the same windows after the copy */
  targetValues: number;
  /** field values older than the target policy's duration, not copied */
  expiredValues: number;
  windowsCopied: number;
  /** true when every window up to the newest source point is verified (this run or before) */
  complete: boolean;
}

export interface InfluxMigrateResult {
  measurements: MeasurementMigration[];
  complete: boolean;
  droppedAutogen: boolean;
  /** the database had no `autogen` policy: nothing to move */
  noSource: boolean;
}

interface Checkpoint { version: 1; url: string; db: string; doneUntilMs: Record<string, number> }

export class InfluxMigrateError extends EdgeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(EdgeErrorCode.InfluxMigrate, message, options);
    this.name = 'InfluxMigrateError';
  }
}

const ident = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

interface Series { name: string; tags?: Record<string, string>; columns: string[]; values: unknown[][] }

/** InfluxQL over HTTP with the edge's credentials; every answer's error becomes a typed error. */
function client(cfg: InfluxConfig): { run: RunStatement; select(q: string): Promise<Series[]> } {
  const headers: Record<string, string> = {};
  if (cfg.username) headers.authorization = `Basic ${Buffer.from(`${cfg.username}:${cfg.password ?? ''}`).toString('base64')}`;
  else if (cfg.token) headers.authorization = `Token ${cfg.token}`;
  const post = async (q: string): Promise<{ status: number; json: { error?: string; results?: { error?: string; series?: Series[] }[] } }> => {
    let res: Response;
    try {
      res = await fetch(`${cfg.url}/query`, { method: 'POST', headers, body: new URLSearchParams({ db: cfg.db, epoch: 'ms', q }), signal: AbortSignal.timeout(120_000) });
    } catch (err) {
      throw new InfluxMigrateError(`influxdb unreachable at ${cfg.url}: ${(err as Error).message}; run the command again to resume`, { cause: err });
    }
    return { status: res.status, json: (await res.json().catch(() => ({}))) as never };
  };
  return {
    async run(q) {
      const { status, json } = await post(q);
      const error = json.error ?? json.results?.[0]?.error;
      return { status, ...(error ? { error } : {}), ...(json.results?.[0]?.series ? { series: json.results[0].series } : {}) };
    },
    async select(q) {
      const { status, json } = await post(q);
      const error = json.error ?? json.results?.[0]?.error;
      if (status >= 300 || error) throw new InfluxMigrateError(`influxdb answered ${status} to ${q}: ${error ?? 'no details'}`);
      return json.results?.[0]?.series ?? [];
    },
  };
}

/** "720h0m0s" → ms; "0s" (INF) → 0. */
export function parseInfluxDuration(s: string): number {
  let ms = 0;
  for (const [, n, unit] of s.matchAll(/(\d+)(h|m|s)/g)) ms += Number(n) * (unit === 'h' ? 3_600_000 : unit === 'm' ? 60_000 : 1000);
  return ms;
}

/** Field-value counts per series and field of one time range, keyed "tags|field". */
function countsOf(series: Series[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of series) {
    const tags = JSON.stringify(Object.entries(s.tags ?? {}).filter(([, v]) => v !== '').sort());
    const row = s.values[0] ?? [];
    s.columns.forEach((c, i) => { if (c !== 'time' && typeof row[i] === 'number' && row[i] > 0) out.set(`${tags}|${c}`, row[i]); });
  }
  return out;
}
const total = (m: Map<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0);

function loadCheckpoint(file: string, cfg: InfluxConfig): Checkpoint {
  const fresh: Checkpoint = { version: 1, url: cfg.url, db: cfg.db, doneUntilMs: {} };
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch { return fresh; }
  const cp = JSON.parse(text) as Checkpoint;
  // Progress of another server or database says nothing about this one.
  return cp.version === 1 && cp.url === cfg.url && cp.db === cfg.db ? cp : fresh;
}

function saveCheckpoint(file: string, cp: Checkpoint): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(cp, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
}

export async function migrateAutogen(o: InfluxMigrateOptions): Promise<InfluxMigrateResult> {
  const { influx: cfg, logger } = o;
  if (cfg.api !== 'v1') throw new InfluxMigrateError('influx-migrate is for InfluxDB 1.x (YULAN_INFLUX_API=v1): 2.x/3.x keep everything in one bucket');
  if (!(o.windowMs >= 60_000)) throw new InfluxMigrateError('the window must be at least one minute');
  const say = o.onProgress ?? ((): void => {});
  const now = o.now ?? Date.now;
  const db = client(cfg);
  const shown = await db.select(`SHOW RETENTION POLICIES ON ${ident(cfg.db)}`).catch((err: unknown) => {
    if (err instanceof InfluxMigrateError && /database not found/.test(err.message)) return [] as Series[];
    throw err;
  });
  if (!(shown[0]?.values ?? []).some((v) => v[0] === SOURCE_POLICY)) {
    say(`database ${cfg.db} has no "${SOURCE_POLICY}" retention policy: nothing to migrate`);
    return { measurements: [], complete: true, droppedAutogen: false, noSource: true };
  }
  // The same policies the edge creates at start; copying needs every one of them.
  const ready = await ensureRetentionPolicies(cfg.db, o.retention, db.run, logger);
  const missing = Object.values(RETENTION_POLICY).filter((p) => !Object.values(ready).includes(p));
  if (missing.length > 0) throw new InfluxMigrateError(`retention policies ${missing.join(', ')} are missing and could not be created (needs an InfluxDB admin user)`);
  const policies = (await db.select(`SHOW RETENTION POLICIES ON ${ident(cfg.db)}`))[0]?.values ?? [];
  const durations = new Map(policies.map((v) => [String(v[0]), parseInfluxDuration(String(v[1]))]));
  const autogenIsDefault = policies.some((v) => v[0] === SOURCE_POLICY && v[4] === true);

  const cp = loadCheckpoint(o.checkpointFile, cfg);
  const results: MeasurementMigration[] = [];
  let budget = o.maxWindows ?? Number.POSITIVE_INFINITY;
  for (const m of MIGRATED_MEASUREMENTS) {
    const policy = RETENTION_POLICY[classOfMeasurement(m)];
    const from = `${ident(SOURCE_POLICY)}.${ident(m)}`;
    const r: MeasurementMigration = { measurement: m, policy, sourceValues: 0, targetValues: 0, expiredValues: 0, windowsCopied: 0, complete: false };
    results.push(r);
    const edge = async (order: 'ASC' | 'DESC'): Promise<number | undefined> => {
      const s = await db.select(`SELECT * FROM ${from} ORDER BY time ${order} LIMIT 1`);
      const t = s[0]?.values[0]?.[0];
      return typeof t === 'number' ? t : undefined;
    };
    const first = await edge('ASC');
    const last = first === undefined ? undefined : await edge('DESC');
    if (first === undefined || last === undefined) { r.complete = true; continue; }
    const end = last + 1;
    let start = Math.max(Math.floor(first / o.windowMs) * o.windowMs, cp.doneUntilMs[m] ?? Number.NEGATIVE_INFINITY);
    const duration = durations.get(policy) ?? 0;
    // A minute's margin: the cut-off moves while the copy runs.
    const cutoff = duration > 0 ? now() - duration + 60_000 : Number.NEGATIVE_INFINITY;
    while (start < end && budget > 0) {
      const stop = Math.min(start + o.windowMs, end);
      const live = Math.max(start, cutoff);
      const range = (a: number, b: number): string => `time >= ${a}ms AND time < ${b}ms`;
      if (live > start) {
        r.expiredValues += total(countsOf(await db.select(`SELECT COUNT(*) FROM ${from} WHERE ${range(start, Math.min(live, stop))} GROUP BY *`)));
      }
      if (live < stop) {
        const where = range(live, stop);
        const source = countsOf(await db.select(`SELECT COUNT(*) FROM ${from} WHERE ${where} GROUP BY *`));
        if (source.size > 0) {
          await db.select(`SELECT * INTO ${ident(policy)}.${ident(m)} FROM ${from} WHERE ${where} GROUP BY *`);
          const target = countsOf(await db.select(`SELECT COUNT(*) FROM ${ident(policy)}.${ident(m)} WHERE ${where} GROUP BY *`));
          const short = [...source].filter(([k, n]) => (target.get(k) ?? 0) < n);
          if (short.length > 0) {
            throw new InfluxMigrateError(`${m}: after copying ${new Date(live).toISOString()}..${new Date(stop).toISOString()} into ${policy}, ${short.length} series/field counts are lower than in ${SOURCE_POLICY} (e.g. ${short[0]![0]}: ${target.get(short[0]![0]) ?? 0} < ${short[0]![1]}); nothing was deleted`);
          }
          r.sourceValues += total(source);
          r.targetValues += [...source.keys()].reduce((a, k) => a + (target.get(k) ?? 0), 0);
          r.windowsCopied += 1;
          budget -= 1;
        }
      }
      start = stop;
      cp.doneUntilMs[m] = start;
      saveCheckpoint(o.checkpointFile, cp);
    }
    r.complete = start >= end;
    say(`${m} → ${policy}: ${r.windowsCopied} windows, ${r.sourceValues} field values copied and verified (${r.targetValues} in ${policy}), ${r.expiredValues} expired${r.complete ? '' : ' — stopped early, run again to go on'}`);
    logger.info({ ...r }, 'influx autogen migration');
  }
  const complete = results.every((r) => r.complete);
  let droppedAutogen = false;
  if (o.dropAutogen) {
    if (!complete) throw new InfluxMigrateError(`not every measurement is migrated yet: "${SOURCE_POLICY}" was kept; run again`);
    if (autogenIsDefault) throw new InfluxMigrateError(`"${SOURCE_POLICY}" is still the default policy: start the edge once on this database first (it makes ${RETENTION_POLICY.raw} the default)`);
    await db.select(`DROP RETENTION POLICY ${ident(SOURCE_POLICY)} ON ${ident(cfg.db)}`);
    droppedAutogen = true;
    say(`dropped retention policy "${SOURCE_POLICY}" on ${cfg.db}`);
    logger.info({ db: cfg.db }, 'influx autogen policy dropped after migration');
  }
  return { measurements: results, complete, droppedAutogen, noSource: false };
}
