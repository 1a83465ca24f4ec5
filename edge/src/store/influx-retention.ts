import type { Logger } from 'pino';
import type { StoreRecord } from '../domain/records.js';
import type { RetentionConfig } from '../retention.js';
import { Measurement } from './influx-lines.js';

/**
 * InfluxDB 1.x retention policies, one per kind of data, matching the SQLite store's
 * retention (YULAN_RETENTION_*_DAYS, README "Retention"): InfluxDB drops whole expired
 * shards itself, so nothing is pruned row by row. The raw policy is the database's DEFAULT,
 * so unqualified queries (Grafana, the influx shell) see the readings.
 */
export type RetentionClass = 'raw' | 'aggregates' | 'events';

export const RETENTION_POLICY: Record<RetentionClass, string> = { raw: 'yulan_raw', aggregates: 'yulan_agg', events: 'yulan_events' };

/** Which policy a measurement lives in: air indices are computed from the aggregates and kept as long. */
export function classOfMeasurement(m: string): RetentionClass {
  if (m === Measurement.Reading) return 'raw';
  if (m === Measurement.Event || m === Measurement.Presence) return 'events';
  return 'aggregates';
}

export function classOfRecord(r: StoreRecord): RetentionClass {
  if (r.type === 'reading') return 'raw';
  if (r.type === 'event' || r.type === 'presence') return 'events';
  return 'aggregates';
}

const ident = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/** `CREATE` and, for a policy that exists with other settings, `ALTER`; 0 days = INF. */
export function policyStatements(db: string, cfg: RetentionConfig): { name: string; create: string; alter: string }[] {
  const days: Record<RetentionClass, number> = { raw: cfg.rawDays, aggregates: cfg.aggregatesDays, events: cfg.eventsDays };
  return (Object.keys(RETENTION_POLICY) as RetentionClass[]).map((c) => {
    const name = RETENTION_POLICY[c];
    const spec = `DURATION ${days[c] > 0 ? `${days[c]}d` : 'INF'} REPLICATION 1${c === 'raw' ? ' DEFAULT' : ''}`;
    return { name, create: `CREATE RETENTION POLICY ${ident(name)} ON ${ident(db)} ${spec}`, alter: `ALTER RETENTION POLICY ${ident(name)} ON ${ident(db)} ${spec}` };
  });
}

/** `FROM` target of a measurement: "policy"."measurement", or the bare measurement when the
 * edge writes to the database's default policy (no retention configured or allowed). */
export function fromClause(m: string, policies: Partial<Record<RetentionClass, string>>): string {
  const rp = policies[classOfMeasurement(m)];
  return rp ? `${ident(rp)}.${ident(m)}` : ident(m);
}

export type RunStatement = (q: string) => Promise<{ status: number; error?: string; series?: { values: unknown[][] }[] }>;

/**
 * Creates (or brings to the configured durations) one retention policy per kind of data and
 * returns the ones in place. A policy that cannot be made (no admin right, a server that
 * refuses) is logged and that data goes to the default policy: retention must never stop
 * the data from being stored.
 */
export async function ensureRetentionPolicies(db: string, cfg: RetentionConfig, run: RunStatement, logger: Logger): Promise<Partial<Record<RetentionClass, string>>> {
  const ready: Partial<Record<RetentionClass, string>> = {};
  const problems: string[] = [];
  const statements = policyStatements(db, cfg);
  const classes = Object.keys(RETENTION_POLICY) as RetentionClass[];
  let denied = false;
  for (const [i, st] of statements.entries()) {
    let r = await run(st.create);
    // An existing policy with other settings (the days were changed): bring it in line.
    if (r.error && /already exists|conflict/i.test(r.error)) r = await run(st.alter);
    if (r.status === 401 || r.status === 403) { denied = true; break; }
    if (r.error || r.status >= 300) problems.push(`${st.name}: ${r.error ?? `HTTP ${r.status}`}`);
    else ready[classes[i]!] = st.name;
  }
  if (denied) {
    // Not an admin: use the policies an administrator made, if they are there.
    const shown = await run(`SHOW RETENTION POLICIES ON ${ident(db)}`);
    const names = new Set((shown.series?.[0]?.values ?? []).map((v) => String(v[0])));
    for (const c of classes) if (names.has(RETENTION_POLICY[c])) ready[c] = RETENTION_POLICY[c];
    problems.push('no right to create retention policies (needs an InfluxDB admin)');
  }
  if (problems.length > 0) logger.warn({ problems, using: ready }, 'influxdb retention policies incomplete; the rest goes to the default policy, which keeps everything');
  else logger.info({ policies: statements.map((s) => s.create) }, 'influxdb retention policies ready');
  return ready;
}
