import type { KindSlug } from '@yulan/protos';
import type { Sql } from '../db/postgres.js';
import { DeviceStatus, type DeviceRecord, type FleetCounts, type FleetQuery } from './device-repository.js';

/**
 * The console's fleet table on PostgreSQL: the same filters, sorts and counts as
 * sqlite-fleet.ts, from the same indexes. Sort keys are a closed list and every value is a
 * bound parameter ($n): no SQL is built from user input.
 */
export const PG_FLEET_INDEXES = `
  CREATE INDEX devices_state ON registry.devices (site, kind, disabled, online);
  CREATE INDEX devices_kind ON registry.devices (kind, id);
  CREATE INDEX devices_firmware ON registry.devices (firmware_version, id);
  CREATE INDEX devices_last_seen ON registry.devices (last_seen, id);
  CREATE INDEX devices_presence_ts ON registry.devices (presence_ts);
  CREATE INDEX devices_created ON registry.devices (created_at);`;

// NULLS FIRST ascending, as SQLite sorts NULL (a never-seen device) before any value.
const SORT_SQL: Record<FleetQuery['sort'], string[]> = {
  id: ['id'],
  site: ['site', 'id'],
  kind: ['kind', 'id'],
  firmware: ['firmware_version', 'id'],
  lastSeen: ['last_seen', 'id'],
  status: ['disabled', 'online', 'id'],
};

export function pgFleetWhere(q: Omit<FleetQuery, 'sort' | 'order' | 'limit' | 'offset'>): { clause: string; values: unknown[] } {
  const where: string[] = [];
  const values: unknown[] = [];
  const bind = (v: unknown): string => { values.push(v); return `$${values.length}`; };
  if (q.site !== undefined) where.push(`site = ${bind(q.site)}`);
  if (q.kind !== undefined) where.push(`kind = ${bind(q.kind)}`);
  if (q.firmware !== undefined) where.push(`firmware_version = ${bind(q.firmware)}`);
  if (q.status === DeviceStatus.Disabled) where.push('disabled');
  if (q.status === DeviceStatus.Online) where.push('NOT disabled AND online');
  if (q.status === DeviceStatus.Offline) where.push('NOT disabled AND NOT online');
  if (q.ids !== undefined) where.push(`id = ANY(${bind([...q.ids])}::text[])`);
  if (q.text !== undefined && q.text !== '') {
    // Substring of id or name, case-insensitive; LIKE's wildcards in the text are literal.
    const p = bind(`%${q.text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
    where.push(`(id ILIKE ${p} OR name ILIKE ${p})`);
  }
  return { clause: where.length > 0 ? `WHERE ${where.join(' AND ')}` : '', values };
}

export async function pgFleetPage<R extends object>(sql: Sql, columns: string, toRecord: (r: R) => DeviceRecord, q: FleetQuery): Promise<{ items: DeviceRecord[]; total: number }> {
  const { clause, values } = pgFleetWhere(q);
  const dir = q.order === 'desc' ? 'DESC NULLS LAST' : 'ASC NULLS FIRST';
  const order = SORT_SQL[q.sort].map((c) => `${c} ${dir}`).join(', ');
  const total = (await sql.query<{ n: number }>(`SELECT COUNT(*)::int8 AS n FROM registry.devices ${clause}`, values)).rows[0]?.n ?? 0;
  const n = values.length;
  const rows = (await sql.query<R & object>(
    `SELECT ${columns} FROM registry.devices ${clause} ORDER BY ${order} LIMIT $${n + 1} OFFSET $${n + 2}`,
    [...values, q.limit, q.offset],
  )).rows;
  return { items: rows.map(toRecord), total };
}

export async function pgFleetCounts(sql: Sql, nowMs: number, faultedIds: readonly string[] = []): Promise<FleetCounts> {
  const counted = (await sql.query<{ site: string; kind: KindSlug; online: number; offline: number; disabled: number; total: number }>(
    `SELECT site, kind,
       COUNT(*) FILTER (WHERE NOT disabled AND online)::int8 AS online,
       COUNT(*) FILTER (WHERE NOT disabled AND NOT online)::int8 AS offline,
       COUNT(*) FILTER (WHERE disabled)::int8 AS disabled,
       COUNT(*)::int8 AS total
     FROM registry.devices GROUP BY site, kind ORDER BY site COLLATE "C", kind COLLATE "C"`,
  )).rows;
  // The faulted few by primary key; the registry's site and kind win over the edge's.
  const faulted = new Map<string, number>();
  if (faultedIds.length > 0) {
    const f = (await sql.query<{ site: string; kind: string; n: number }>(
      'SELECT site, kind, COUNT(*)::int8 AS n FROM registry.devices WHERE NOT disabled AND id = ANY($1::text[]) GROUP BY site, kind',
      [[...faultedIds]],
    )).rows;
    for (const r of f) faulted.set(`${r.site}\u0000${r.kind}`, r.n);
  }
  const since = nowMs - 3_600_000;
  const hour = (await sql.query<{ went_online: number; went_offline: number; registered: number }>(
    `SELECT (SELECT COUNT(*) FILTER (WHERE online) FROM registry.devices WHERE presence_ts >= $1)::int8 AS went_online,
            (SELECT COUNT(*) FILTER (WHERE NOT online) FROM registry.devices WHERE presence_ts >= $1)::int8 AS went_offline,
            (SELECT COUNT(*) FROM registry.devices WHERE created_at >= $1)::int8 AS registered`,
    [since],
  )).rows[0];
  return {
    bySiteKind: counted.map((r) => ({ ...r, faulted: faulted.get(`${r.site}\u0000${r.kind}`) ?? 0 })),
    lastHour: { wentOnline: hour?.went_online ?? 0, wentOffline: hour?.went_offline ?? 0, registered: hour?.registered ?? 0 },
  };
}
