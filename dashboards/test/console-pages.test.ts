import { describe, expect, it } from 'vitest';
import { readAllPages } from '../console/src/pages.js';

/** The history chart's paging: a range longer than one edge page (7 days of 1-minute means). */
describe('readAllPages', () => {
  const MIN = 60_000;
  const week = Array.from({ length: 7 * 24 * 60 }, (_, i) => ({ ts: i * MIN, v: i }));
  // Like the edge: oldest first from `from`, at most `max` points.
  const edge = (max: number) => {
    const asked: number[] = [];
    return { asked, page: async (from: number) => { asked.push(from); return week.filter((p) => p.ts >= from).slice(0, max); } };
  };

  it('reads 7 days of 1-minute means (10,080) in two pages, newest minute included, none twice', async () => {
    const e = edge(10_000);
    const got = await readAllPages(e.page, 0, 10_000);
    expect(got.length).toBe(10_080);
    expect(got.at(-1)?.v).toBe(10_079);
    expect(new Set(got.map((p) => p.ts)).size).toBe(10_080);
    expect(e.asked).toEqual([0, 9_999 * MIN + 1]);
  });

  it('stops after one short page, and after an empty one', async () => {
    const e = edge(20_000);
    expect((await readAllPages(e.page, 0, 20_000)).length).toBe(10_080);
    expect(e.asked.length).toBe(1);
    const exact = edge(5_040);
    expect((await readAllPages(exact.page, 0, 5_040)).length).toBe(10_080);
    expect(exact.asked.length).toBe(3);
  });

  it('gives up after maxPages rather than reading forever', async () => {
    const e = edge(10);
    expect((await readAllPages(e.page, 0, 10, 3)).length).toBe(30);
    expect(e.asked.length).toBe(3);
  });
});
