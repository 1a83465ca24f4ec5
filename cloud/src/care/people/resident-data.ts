import type { EdgeClient } from '../../edge-client.js';
import { CloudError, CloudErrorCode } from '../../errors.js';
import type { LinkPeriod } from './records.js';

/**
 * The part of a resident's data that lives at the edge: the telemetry and events of the
 * devices linked to them, for the periods they were linked (docs/care.md §5). Export
 * reads it, erasure deletes it; both work from the link periods in people.sqlite.
 */

const PAGE = 10_000;
/** At most this many readings (and as many events) per device period in one export;
 * beyond that the period says `complete: false` and the rest is read page by page
 * through GET /residents/:id/activity. */
export const EXPORT_MAX_POINTS = 200_000;

interface Stamped { ts: number; seq: number }

export interface DevicePeriodData {
  deviceId: string;
  from: string;
  to: string;
  telemetry: unknown[];
  events: unknown[];
  /** false when a list stopped at EXPORT_MAX_POINTS */
  complete: boolean;
}

function arrayOf(body: unknown, key: string): Stamped[] {
  const v = (body as Record<string, unknown> | null)?.[key];
  if (!Array.isArray(v)) throw new CloudError(CloudErrorCode.EdgeBadResponse, `edge returned an invalid response (no "${key}" array)`);
  return v as Stamped[];
}

/** Every item in [from, to), fetched a page at a time in (ts, seq) order. */
async function allPages(fetchPage: (from: number) => Promise<Stamped[]>, from: number, to: number): Promise<{ items: Stamped[]; complete: boolean }> {
  const items: Stamped[] = [];
  let cursor = from;
  let last: Stamped | undefined;
  for (;;) {
    const page = await fetchPage(cursor);
    // The next page starts at the last timestamp again (several readings may share a
    // millisecond); what was already taken is skipped by (ts, seq).
    const fresh = last === undefined ? page : page.filter((p) => p.ts > last!.ts || (p.ts === last!.ts && p.seq > last!.seq));
    items.push(...fresh);
    if (items.length >= EXPORT_MAX_POINTS) return { items: items.slice(0, EXPORT_MAX_POINTS), complete: false };
    if (page.length < PAGE || fresh.length === 0) return { items, complete: page.length < PAGE };
    last = page[page.length - 1]!;
    cursor = last.ts;
    if (cursor >= to) return { items, complete: true };
  }
}

/** Readings and events of each linked period, for the resident's export. */
export async function exportDeviceData(edge: EdgeClient, periods: readonly LinkPeriod[]): Promise<DevicePeriodData[]> {
  const out: DevicePeriodData[] = [];
  for (const p of periods) {
    if (p.fromMs >= p.toMs) continue;
    const range = { deviceId: p.deviceId, to: p.toMs, limit: PAGE };
    const telemetry = await allPages(async (from) => arrayOf(await edge.telemetry({ ...range, from, resolution: 'raw' }), 'points'), p.fromMs, p.toMs);
    const events = await allPages(async (from) => arrayOf(await edge.events({ ...range, from }), 'events'), p.fromMs, p.toMs);
    out.push({
      deviceId: p.deviceId, from: new Date(p.fromMs).toISOString(), to: new Date(p.toMs).toISOString(),
      telemetry: telemetry.items, events: events.items, complete: telemetry.complete && events.complete,
    });
  }
  return out;
}

/**
 * Deletes the data of every linked period at the edge. Stops at the first failure with
 * a 502 that says so: the caller then erases nothing in the cloud, so the periods are
 * still known and the same request can be repeated (the edge's delete is idempotent).
 */
export async function eraseDeviceData(edge: EdgeClient, periods: readonly LinkPeriod[]): Promise<number> {
  let n = 0;
  for (const p of periods) {
    if (p.fromMs >= p.toMs) continue;
    try {
      await edge.erase({ deviceId: p.deviceId, from: p.fromMs, to: p.toMs });
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new CloudError(
        err instanceof CloudError && err.code === CloudErrorCode.EdgeUnreachable ? CloudErrorCode.EdgeUnreachable : CloudErrorCode.EdgeBadResponse,
        `erasure not done: the edge could not delete the data of device "${p.deviceId}" (${why}); nothing was erased here, retry when the edge is back`,
        { cause: err },
      );
    }
    n++;
  }
  return n;
}
