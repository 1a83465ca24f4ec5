import { describe, expect, it } from 'vitest';
import { firmwareChanges, parsePresenceHistory, presenceTimeline, type PresencePoint } from '../src/console/presence-timeline.js';

const p = (ts: number, online: boolean, firmware = '', reason = online ? 'birth' : 'will'): PresencePoint => ({ ts, online, reason, firmware });

describe('presence timeline (console device page)', () => {
  it('covers the range exactly, starting from the record before it, merging repeats', () => {
    const t = presenceTimeline({ before: p(50, true), points: [p(120, false), p(130, false, '', 'broker-disconnect'), p(150, true), p(160, true)] }, 100, 200);
    expect(t.intervals).toEqual([
      { from: 100, to: 120, state: 'online', reason: 'birth' },
      { from: 120, to: 150, state: 'offline', reason: 'will' },
      { from: 150, to: 200, state: 'online', reason: 'birth' },
    ]);
    expect(t.totals).toEqual({ online: 70, offline: 30, unknown: 0 });
    expect(t.changes).toBe(2);
  });

  it('is unknown until the first record when the edge has none before the range', () => {
    const t = presenceTimeline({ before: null, points: [p(140, true)] }, 100, 200);
    expect(t.intervals).toEqual([{ from: 100, to: 140, state: 'unknown', reason: '' }, { from: 140, to: 200, state: 'online', reason: 'birth' }]);
    expect(t.changes).toBe(0);
    expect(presenceTimeline({ before: null, points: [] }, 0, 10).intervals).toEqual([{ from: 0, to: 10, state: 'unknown', reason: '' }]);
  });

  it('a record at the very start replaces the state before it; records outside the range are ignored', () => {
    const t = presenceTimeline({ before: p(10, false), points: [p(100, true), p(250, false)] }, 100, 200);
    expect(t.intervals).toEqual([{ from: 100, to: 200, state: 'online', reason: 'birth' }]);
  });

  it('lists each firmware version once, from the first record naming it; wills carry none', () => {
    expect(firmwareChanges({ before: p(1, true, '1.0.0'), points: [p(2, false), p(3, true, '1.0.0'), p(4, true, '1.1.0'), p(5, false), p(6, true, '1.0.0')] }))
      .toEqual([{ version: '1.0.0', since: 1 }, { version: '1.1.0', since: 4 }, { version: '1.0.0', since: 6 }]);
    expect(firmwareChanges({ before: null, points: [] })).toEqual([]);
  });

  it('accepts only a well-formed edge body', () => {
    expect(parsePresenceHistory({ before: null, points: [{ ts: 1, online: true, reason: 'birth', firmware: '2' }] }))
      .toEqual({ before: null, points: [p(1, true, '2')] });
    for (const bad of [null, {}, { points: 'x' }, { points: [{ ts: '1', online: true }] }, { before: { ts: 1 }, points: [] }]) {
      expect(parsePresenceHistory(bad), JSON.stringify(bad)).toBeUndefined();
    }
  });
});
