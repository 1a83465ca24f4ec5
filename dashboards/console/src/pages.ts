/**
 * Reads a time range the edge answers a page at a time (oldest first, at most `max` points
 * a page): a full page is followed by the next one from just after its last point. Seven
 * days of 1-minute means are 10,080 points, one page of 10,000 would leave out the newest
 * 80 minutes — the part an operator looks at first. At most `maxPages` pages.
 */
export async function readAllPages<P extends { ts: number }>(page: (from: number) => Promise<P[]>, from: number, max: number, maxPages = 4): Promise<P[]> {
  const all: P[] = [];
  let next = from;
  for (let n = 0; n < maxPages; n++) {
    const points = await page(next);
    all.push(...points);
    const last = points[points.length - 1];
    if (points.length < max || !last) break;
    next = last.ts + 1;
  }
  return all;
}
