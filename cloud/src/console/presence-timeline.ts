/**
 * A device's connectivity over a range, from the edge's presence records (birth, will,
 * broker connect/disconnect). Pure functions: the route fetches, these shape.
 */
export interface PresencePoint { ts: number; online: boolean; reason: string; firmware: string }
export interface PresenceHistory { before: PresencePoint | null; points: PresencePoint[] }

export type PresenceState = 'online' | 'offline' | 'unknown';
export interface PresenceInterval { from: number; to: number; state: PresenceState; reason: string }
export interface PresenceTimeline {
  from: number;
  to: number;
  intervals: PresenceInterval[];
  /** ms spent in each state within [from, to) */
  totals: Record<PresenceState, number>;
  /** online/offline transitions inside the range */
  changes: number;
}

/** Intervals covering [from, to) exactly: the state before the first record in the range
 * is the record before it, or 'unknown' when the edge has none (retention, a new device).
 * Repeated records of the same state (a broker-connect after a birth) merge into one. */
export function presenceTimeline(h: PresenceHistory, from: number, to: number): PresenceTimeline {
  const intervals: PresenceInterval[] = [];
  let state: PresenceState = h.before ? (h.before.online ? 'online' : 'offline') : 'unknown';
  let reason = h.before?.reason ?? '';
  let start = from;
  let changes = 0;
  const points = h.points.filter((p) => p.ts >= from && p.ts < to).sort((a, b) => a.ts - b.ts);
  for (const p of points) {
    const next: PresenceState = p.online ? 'online' : 'offline';
    if (next === state) continue;
    if (p.ts > start) intervals.push({ from: start, to: p.ts, state, reason });
    if (state !== 'unknown') changes++;
    state = next;
    reason = p.reason;
    start = p.ts;
  }
  if (to > start) intervals.push({ from: start, to, state, reason });
  const totals: Record<PresenceState, number> = { online: 0, offline: 0, unknown: 0 };
  for (const i of intervals) totals[i.state] += i.to - i.from;
  return { from, to, intervals, totals, changes };
}

export interface FirmwareChange { version: string; since: number }

/** The firmware versions a device announced, each from the first presence that named it
 * (a record without a version, e.g. a will, changes nothing). */
export function firmwareChanges(h: PresenceHistory): FirmwareChange[] {
  const out: FirmwareChange[] = [];
  for (const p of [...(h.before ? [h.before] : []), ...h.points]) {
    if (p.firmware === '' || out.at(-1)?.version === p.firmware) continue;
    out.push({ version: p.firmware, since: p.ts });
  }
  return out;
}

/** The edge's `/v1/presence` body, checked: anything else is the edge's fault (502). */
export function parsePresenceHistory(body: unknown): PresenceHistory | undefined {
  const b = body as { before?: unknown; points?: unknown } | null;
  const ok = (p: unknown): p is PresencePoint => {
    const x = p as PresencePoint | null;
    return typeof x === 'object' && x !== null && typeof x.ts === 'number' && typeof x.online === 'boolean';
  };
  if (typeof b !== 'object' || b === null || !Array.isArray(b.points) || !b.points.every(ok)) return undefined;
  if (b.before !== null && b.before !== undefined && !ok(b.before)) return undefined;
  const norm = (p: PresencePoint): PresencePoint => ({ ts: p.ts, online: p.online, reason: String(p.reason ?? ''), firmware: String(p.firmware ?? '') });
  return { before: ok(b.before) ? norm(b.before) : null, points: b.points.map(norm) };
}
