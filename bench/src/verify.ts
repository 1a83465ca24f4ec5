import type { DeviceResult } from './load-protocol.js';
import { getJson } from './stack.js';

interface RawPage { points: { ts: number; seq: number }[] }

/** Reads back every stored raw reading of one device through the edge query API and
 * returns the set of distinct sequence numbers and how many points repeated one. */
export async function storedSeqs(edgeUrl: string, token: string, deviceId: string): Promise<{ seqs: Set<number>; duplicates: number }> {
  const seqs = new Set<number>();
  let duplicates = 0;
  let from = 0;
  let boundary = new Set<number>(); // seqs already counted at the page-boundary timestamp
  for (;;) {
    const q = new URLSearchParams({ deviceId, resolution: 'raw', from: String(from), to: String(Date.now() + 60_000), limit: '10000' });
    const page = await getJson<RawPage>(`${edgeUrl}/v1/telemetry?${q}`, token);
    let lastTs = from;
    const atLast = new Set<number>();
    for (const p of page.points) {
      if (p.ts === from && boundary.has(p.seq)) continue;
      if (seqs.has(p.seq)) duplicates += 1;
      seqs.add(p.seq);
      if (p.ts !== lastTs) atLast.clear();
      lastTs = p.ts;
      atLast.add(p.seq);
    }
    if (page.points.length < 10000) break;
    boundary = lastTs === from ? new Set([...boundary, ...atLast]) : atLast;
    from = lastTs;
  }
  return { seqs, duplicates };
}

/** Every acknowledged (device, seq) checked against the store. A device's seqs 1..acked
 * were acknowledged (acks arrive in order per connection, and a reconnecting device
 * resends until acknowledged); `lostBeforeDrop` are the lost ones at or below the seq the
 * device had when the broker first dropped it. */
export async function readBack(edgeUrl: string, token: string, results: DeviceResult[]):
  Promise<{ stored: number; duplicates: number; lost: number; lostBeforeDrop: number }> {
  let stored = 0;
  let duplicates = 0;
  let lost = 0;
  let lostBeforeDrop = 0;
  for (const r of results) {
    const got = await storedSeqs(edgeUrl, token, r.id);
    stored += got.seqs.size;
    duplicates += got.duplicates;
    for (let q = 1; q <= r.acked; q++) {
      if (got.seqs.has(q)) continue;
      lost += 1;
      if (r.droppedAtSeq !== undefined && q <= r.droppedAtSeq) lostBeforeDrop += 1;
    }
  }
  return { stored, duplicates, lost, lostBeforeDrop };
}
