import { describe, expect, it } from 'vitest';
import { measureRollout, parseRolloutArgs } from '../src/rollout.js';

describe('rollout benchmark harness', () => {
  it('parses its options', () => {
    expect(parseRolloutArgs(['--devices', '200', '--offline-pct', '5'])).toMatchObject({ devices: 200, offlinePct: 5, badPct: 1, reportEverySec: 10 });
    expect(() => parseRolloutArgs(['--devices', '3'])).toThrow(/--devices/);
  });

  // Small: real broker and cloud processes, real simulated chargers downloading and
  // verifying. The good image completes with the offline devices caught up and the
  // misbehaving one failed; the bad image is stopped by the gate, every device final.
  // Two simulator processes of 20: the gate's first-misbehaviour time comes from both.
  it('a good rollout completes with offline devices caught up; a bad image is stopped', async () => {
    const r = await measureRollout({ devices: 40, offlinePct: 5, badPct: 2.5, reportEverySec: 1, soakSec: 3, spreadSec: 1, imageKiB: 8, offlineForSec: 2, perWorker: 20, connectConcurrency: 10, minSample: 10 });
    expect(r.good.offline).toBe(2);
    expect(r.good.misbehaving).toBe(1);
    expect(r.good.status).toBe('completed');
    expect(r.good.counts).toEqual({ succeeded: 39, failed: 1 });
    expect(r.good.onNewVersion).toBe(40);
    expect(r.bad.status).toBe('aborted');
    expect(r.bad.reason).toMatch(/^abort threshold: 1 of 1 finished or soaking devices of stage 1 failed/);
    expect(r.bad.installedBadImage).toBe(r.bad.onNewVersion);
    expect(Object.keys(r.bad.counts).every((k) => ['failed', 'skipped', 'cancelled'].includes(k))).toBe(true);
    expect(Number.isFinite(r.bad.gateReactionS)).toBe(true);
  }, 240_000);
});
