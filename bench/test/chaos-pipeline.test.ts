import { describe, expect, it } from 'vitest';
import { shouldSkipInflux } from '@yulan/testkit';
import { measureFault, parseFaultArgs, PipelineFault } from '../src/chaos-pipeline.js';

// Short versions of the pipeline faults with real processes. edge/test/influx-outage.test.ts
// already covers an in-process edge across an influxd SIGKILL/restart; these add the edge
// process itself SIGKILLed and restarted, and a frozen (SIGSTOPped) InfluxDB.
describe('pipeline faults (small)', () => {
  it('refuses a fault that outlasts the load', () => {
    expect(() => parseFaultArgs(PipelineFault.EdgeKill, ['--duration', '10', '--at', '8', '--down', '5'])).toThrow(/before the load/);
    expect(parseFaultArgs(PipelineFault.StoreOutage, []).store).toBe('influxdb');
  });

  it('edge SIGKILLed mid-stream: every acknowledged reading stored exactly once', async () => {
    const r = await measureFault({ fault: PipelineFault.EdgeKill, store: 'sqlite', signal: 'KILL', devices: 8, rate: 20, durationS: 6, atS: 2, downS: 1 });
    expect(r.acked).toBeGreaterThan(500);
    expect(r.lost).toBe(0);
    expect(r.duplicates).toBe(0);
    expect(r.stored).toBe(r.acked);
    expect(r.brokerDroppedQueued).toBe(0);
    // The broker sends the edge's queued backlog before live messages (persistence.ts).
    // Order is read as the store's rowid order. This once failed with 8 (= every device) in a
    // full `npm test`: the measurement was wrong, not the delivery. The forwarder writes a
    // batch to telemetry.db and then releases it from outbox.db; an edge killed between the
    // two replays the batch on restart, and the store's INSERT OR REPLACE gave the replayed
    // rows new rowids after newer ones — identical data, shuffled rowids, every device in the
    // batch "inverted". The store now upserts in place (rowid = first arrival; see
    // edge/test/sqlite-store.test.ts), so a replay no longer reads as an inversion.
    // It failed once more with 3, and that was delivery: the broker ended a returning
    // session's replay when its reads reached the queue's end, with ~15 messages still in
    // Aedes' stream buffers; a reading published then went out ahead of them. The replay
    // now ends when those are written (broker/src/replay-reader.ts).
    expect(r.orderInversions).toBe(0);
  }, 120_000);

  it.skipIf(shouldSkipInflux())('influxd frozen with SIGSTOP under load: nothing lost, nothing twice', async () => {
    const r = await measureFault({ fault: PipelineFault.StoreOutage, store: 'influxdb', signal: 'STOP', devices: 8, rate: 20, durationS: 8, atS: 2, downS: 3 });
    expect(r.lost).toBe(0);
    expect(r.duplicates).toBe(0);
    expect(r.stored).toBe(r.acked);
  }, 120_000);
});
