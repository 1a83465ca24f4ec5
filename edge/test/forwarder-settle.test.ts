import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Forwarder, Outbox, createMetrics, type StoreRecord, type TelemetryStore } from '../src/index.js';

// The forwarder waits for a pause in ingest before writing to the store (a burst is
// committed and acked first), but a steady stream without pauses still gets written.
// Fake timers drive the clock: the assertions are about order, not about speed.
const logger = pino({ level: 'silent' });
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
});
afterEach(() => {
  vi.useRealTimers();
});

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'yulan-forwarder-settle-'));
  dirs.push(dir);
  const outbox = new Outbox(join(dir, 'outbox.db'), 10_000);
  const written: number[] = [];
  const store = { name: 'fake', write: async (records: readonly StoreRecord[]) => { written.push(...records.map((r) => (r.type === 'reading' ? r.seq : -1))); } } as unknown as TelemetryStore;
  const fwd = new Forwarder(outbox, store, createMetrics(), logger, { batchSize: 1000, settleMs: 20, settleMaxMs: 100 });
  let seq = 0;
  const commit = (): void => {
    seq++;
    outbox.commit([{ type: 'reading', deviceId: 'd', site: 's', kind: 'env-monitor', seq, tsMs: Date.now(), fields: { t: seq }, text: {} }]);
    fwd.kick();
  };
  return { outbox, fwd, written, commit };
}

describe('Forwarder settle: the store write waits for a pause in ingest, up to a bound', () => {
  it('writes a burst after ingest went quiet, in order, and nothing is left behind', async () => {
    const t = setup();
    t.fwd.start();
    await vi.advanceTimersByTimeAsync(5); // the loop finds an empty outbox and sleeps
    for (let i = 0; i < 5; i++) {
      t.commit();
      await vi.advanceTimersByTimeAsync(5);
    }
    expect(t.written).toEqual([]); // still inside the burst (commits 5 ms apart)
    await vi.advanceTimersByTimeAsync(25);
    expect(t.written).toEqual([1, 2, 3, 4, 5]);
    expect(t.outbox.depth).toBe(0);
    // The next burst settles the same way.
    t.commit();
    t.commit();
    await vi.advanceTimersByTimeAsync(25);
    expect(t.written).toEqual([1, 2, 3, 4, 5, 6, 7]);
    await t.fwd.stop(0);
    t.outbox.close();
  });

  it('a stream with no pause is still written once the bound has passed since its first commit', async () => {
    const t = setup();
    t.fwd.start();
    await vi.advanceTimersByTimeAsync(5);
    let firstWriteAfter = -1;
    for (let i = 0; i < 60 && firstWriteAfter < 0; i++) {
      t.commit();
      await vi.advanceTimersByTimeAsync(5);
      if (t.written.length > 0) firstWriteAfter = i + 1;
    }
    // settleMaxMs 100 at one commit per 5 ms: the first write comes with the ~20th commit, not never.
    expect(firstWriteAfter).toBeGreaterThan(15);
    expect(firstWriteAfter).toBeLessThanOrEqual(22);
    expect(t.written).toEqual(Array.from({ length: t.written.length }, (_, i) => i + 1));
    await t.fwd.stop(1000);
    expect(t.outbox.depth).toBe(0);
    t.outbox.close();
  });

  it('without settleMs a kick forwards at once (the default)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'yulan-forwarder-settle-'));
    dirs.push(dir);
    const outbox = new Outbox(join(dir, 'outbox.db'), 100);
    const written: StoreRecord[] = [];
    const store = { name: 'fake', write: async (r: readonly StoreRecord[]) => { written.push(...r); } } as unknown as TelemetryStore;
    const fwd = new Forwarder(outbox, store, createMetrics(), logger, { batchSize: 10 });
    fwd.start();
    await vi.advanceTimersByTimeAsync(5);
    outbox.commit([{ type: 'reading', deviceId: 'd', site: 's', kind: 'env-monitor', seq: 1, tsMs: Date.now(), fields: {}, text: {} }]);
    fwd.kick();
    await vi.advanceTimersByTimeAsync(0);
    expect(written).toHaveLength(1);
    await fwd.stop(0);
    outbox.close();
  });
});
