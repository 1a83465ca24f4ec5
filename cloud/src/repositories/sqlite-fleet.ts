import type Database from 'better-sqlite3';
import type { KindSlug } from '@yulan/protos';
import { DeviceStatus, type DeviceRecord, type FleetCounts, type FleetQuery } from './device-repository.js';

/**
 * The console's fleet table over the registry (issue 15): filters, text search, sorting
 * and counts, each answered from an index so 100,000 devices stay interactive
 * (measured in BENCHMARKS.md, "Console"). Sort keys are a closed list: the ORDER BY text
 * is never built from user input.
 */
export const FLEET_INDEXES = `
  CREATE INDEX devices_state ON devices (site, kind, disabled, online);
  CREATE INDEX devices_kind ON devices (kind, id);
  CREATE INDEX devices_firmware ON devices (firmware_version, id);
  CREATE INDEX devices_last_seen ON devices (last_seen, id);
  CREATE INDEX devices_presence_ts ON devices (presence_ts);
  CREATE INDEX devices_created ON devices (created_at);`;

const SORT_SQL: Record<FleetQuery['sort'], string> = {
  id: 'id',
  site: 'site, id',
  kind: 'kind, id',
  firmware: 'firmware_version, id',
  lastSeen: 'last_seen, id',
  status: 'disabled, online, id',
};

export function fleetWhere(q: Omit<FleetQuery, 'sort' | 'order' | 'limit' | 'offset'>): { clause: string; params: Record<string, unknown> } {
  const where: string[] = [];
  const params: Record<string, unknown> = {};
  if (q.site !== undefined) (where.push('site = @site'), (params.site = q.site));
  if (q.kind !== undefined) (where.push('kind = @kind'), (params.kind = q.kind));
  if (q.firmware !== undefined) (where.push('firmware_version = @firmware'), (params.firmware = q.firmware));
  if (q.status === DeviceStatus.Disabled) where.push('disabled = 1');
  if (q.status === DeviceStatus.Online) where.push('disabled = 0 AND online = 1');
  if (q.status === DeviceStatus.Offline) where.push('disabled = 0 AND online = 0');
  if (q.ids !== undefined) {
    // One bound JSON array, looked up by primary key: no SQL built from the ids.
    where.push('id IN (SELECT value FROM json_each(@ids))');
    params.ids = JSON.stringify(q.ids);
  }
  if (q.text !== undefined && q.text !== '') {
    // Substring of id or name, case-insensitive; LIKE's wildcards in the text are literal.
    where.push(`(id LIKE @text ESCAPE '\\' OR name LIKE @text ESCAPE '\\')`);
    params.text = `%${q.text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  }
  return { clause: where.length > 0 ? `WHERE ${where.join(' AND ')}` : '', params };
}

export function fleetPage<R>(db: Database.Database, columns: string, toRecord: (r: R) => DeviceRecord, q: FleetQuery): { items: DeviceRecord[]; total: number } {
  const { clause, params } = fleetWhere(q);
  const dir = q.order === 'desc' ? 'DESC' : 'ASC';
  const order = SORT_SQL[q.sort].split(', ').map((c) => `${c} ${dir}`).join(', ');
  const total = (db.prepare(`SELECT COUNT(*) AS n FROM devices ${clause}`).get(params) as { n: number }).n;
  const rows = db.prepare(`SELECT ${columns} FROM devices ${clause} ORDER BY ${order} LIMIT @limit OFFSET @offset`)
    .all({ ...params, limit: q.limit, offset: q.offset }) as R[];
  return { items: rows.map(toRecord), total };
}

export function fleetCounts(db: Database.Database, nowMs: number, faultedIds: readonly string[] = []): FleetCounts {
  const counted = db.prepare(
    `SELECT site, kind, SUM(disabled = 0 AND online = 1) AS online, SUM(disabled = 0 AND online = 0) AS offline,
       SUM(disabled) AS disabled, COUNT(*) AS total
     FROM devices GROUP BY site, kind ORDER BY site, kind`,
  ).all() as { site: string; kind: KindSlug; online: number; offline: number; disabled: number; total: number }[];
  // The faulted few by primary key; the registry's site and kind win over the edge's.
  const faulted = new Map<string, number>();
  if (faultedIds.length > 0) {
    const f = db.prepare(`SELECT site, kind, COUNT(*) AS n FROM devices WHERE disabled = 0 AND id IN (SELECT value FROM json_each(?)) GROUP BY site, kind`)
      .all(JSON.stringify(faultedIds)) as { site: string; kind: string; n: number }[];
    for (const r of f) faulted.set(`${r.site}\u0000${r.kind}`, r.n);
  }
  const rows = counted.map((r) => ({ ...r, faulted: faulted.get(`${r.site}\u0000${r.kind}`) ?? 0 }));
  const since = nowMs - 3_600_000;
  const hour = db.prepare(
    `SELECT SUM(online = 1) AS wentOnline, SUM(online = 0) AS wentOffline FROM devices WHERE presence_ts >= ?`,
  ).get(since) as { wentOnline: number | null; wentOffline: number | null };
  const registered = (db.prepare('SELECT COUNT(*) AS n FROM devices WHERE created_at >= ?').get(since) as { n: number }).n;
  return {
    bySiteKind: rows,
    lastHour: { wentOnline: hour.wentOnline ?? 0, wentOffline: hour.wentOffline ?? 0, registered },
  };
}
