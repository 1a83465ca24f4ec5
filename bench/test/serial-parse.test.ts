import { describe, expect, it } from 'vitest';
import { measureParsing } from '../src/serial-parse.js';

describe('serial bench: parse rate', () => {
  it('measures every protocol and its peer on the same frames (a parser that loses frames throws)', () => {
    const rows = measureParsing(500, 20);
    expect(rows.map((r) => r.protocol)).toEqual(['PMS5003', 'SDS011', 'MR60FDA1', 'lock board']);
    expect(rows.map((r) => r.frameBytes)).toEqual([32, 10, 10, 10]);
    for (const r of rows) {
      expect(r.yulan).toBeGreaterThan(0);
      expect(r.peer).toBeGreaterThan(0);
    }
  });
});
