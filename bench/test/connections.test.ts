import { describe, expect, it } from 'vitest';
import { shouldSkipRedis } from '@yulan/testkit';
import { measureConnections, parseConnectionsArgs } from '../src/connections.js';
import { mosquittoAvailable } from '../src/mosquitto.js';

const base = { keepaliveS: 60, holdS: 1, authSample: 0, authConcurrency: 3, concurrency: 10, brokerWorkers: 0 };

describe('connections benchmark harness', () => {
  it('parses steps and peers', () => {
    expect(parseConnectionsArgs(['--steps', '300,100']).steps).toEqual([100, 300]);
    expect(() => parseConnectionsArgs(['--peers', 'emqx'])).toThrow(/unknown peer/);
    expect(() => parseConnectionsArgs(['--steps', '10,x'])).toThrow(/steps/);
  });

  // Real brokers, a few dozen devices with their own credentials: every step's connections
  // are counted on both sides and survive the hold.
  it('ramps idle devices on Yulan (and Mosquitto when installed) and counts them', async () => {
    const peers = mosquittoAvailable() ? (['yulan', 'mosquitto'] as const) : (['yulan'] as const);
    const rs = await measureConnections({ ...base, steps: [20, 40], peers: [...peers], authSample: 3 });
    for (const r of rs) {
      expect(r.steps.map((s) => [s.connected, s.failed]), r.peer).toEqual([[20, 0], [40, 0]]);
      expect(r.held).toMatchObject({ alive: 40, of: 40 });
    }
    const y = rs.find((r) => r.peer === 'yulan')!;
    // The broker also counts the cloud's own MQTT link.
    expect(y.steps[1]!.brokerReports).toBe(40 + 1);
    expect(y.authSample).toMatchObject({ devices: 3, failed: 0 });
  }, 120_000);

  it.skipIf(shouldSkipRedis())('runs against the clustered broker (2 workers + Redis)', async () => {
    const [r] = await measureConnections({ ...base, steps: [30], peers: ['yulan'], brokerWorkers: 2 });
    expect(r!.steps[0]).toMatchObject({ connected: 30, failed: 0 });
    // /metrics of a clustered broker sums its workers.
    expect(r!.steps[0]!.brokerReports).toBe(30 + 1);
  }, 120_000);
});
