import { fork } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { shouldSkipRedis } from '@yulan/testkit';
import { measureConnections, parseConnectionsArgs } from '../src/connections.js';
import type { ConnFromWorker, ConnToWorker } from '../src/conn-worker.js';
import { mosquittoAvailable } from '../src/mosquitto.js';

const base = { keepaliveS: 60, holdS: 1, authSample: 0, authConcurrency: 3, concurrency: 10, brokerWorkers: 0, retries: 0 };
const CONN_WORKER = fileURLToPath(new URL('../dist/conn-worker.js', import.meta.url));

/** A server that answers each client id's first CONNECTs with CONNACK 3 (server
 * unavailable), then accepts: what a broker does while its auth backend is overloaded. */
async function flakyBroker(refusals: number): Promise<{ url: string; attempts: Map<string, number>; close(): void }> {
  const attempts = new Map<string, number>();
  const server = createServer((socket) => {
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (p) => {
      if (p.cmd !== 'connect') return;
      const n = (attempts.get(p.clientId) ?? 0) + 1;
      attempts.set(p.clientId, n);
      socket.write(mqttPacket.generate({ cmd: 'connack', returnCode: n <= refusals ? 3 : 0, sessionPresent: false }));
    });
    socket.on('data', (d) => parser.parse(d));
    socket.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`, attempts, close: () => server.close() };
}

async function openThrough(url: string, retries: number, count: number): Promise<Extract<ConnFromWorker, { type: 'opened' }>> {
  const proc = fork(CONN_WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    const devices = Array.from({ length: count }, (_, i) => ({ id: `env-r${i}`, site: 'bench', kind: 4, secret: 's', rate: 0 }));
    return await new Promise((resolve, reject) => {
      proc.once('message', (m: ConnFromWorker) => (m.type === 'opened' ? resolve(m) : reject(new Error(m.message))));
      proc.send({ type: 'open', url, devices, keepaliveS: 0, concurrency: 5, retries } satisfies ConnToWorker);
    });
  } finally {
    proc.kill('SIGKILL');
  }
}

describe('connections benchmark harness', () => {
  it('parses steps and peers', () => {
    expect(parseConnectionsArgs(['--steps', '300,100']).steps).toEqual([100, 300]);
    expect(() => parseConnectionsArgs(['--peers', 'emqx'])).toThrow(/unknown peer/);
    expect(() => parseConnectionsArgs(['--steps', '10,x'])).toThrow(/steps/);
    expect(parseConnectionsArgs(['--retries', '3']).retries).toBe(3);
  });

  it('retries refused connects when asked to, and counts first failures apart from devices lost', async () => {
    const broker = await flakyBroker(1);
    try {
      const once = await openThrough(broker.url, 0, 6);
      expect(once).toMatchObject({ ok: 0, failed: 6, onRetry: 0, errors: { 'connack-3': 6 } });
      broker.attempts.clear();
      const again = await openThrough(broker.url, 2, 6);
      expect(again).toMatchObject({ ok: 6, failed: 0, onRetry: 6, errors: { 'connack-3': 6 } });
      expect([...broker.attempts.values()]).toEqual([2, 2, 2, 2, 2, 2]);
    } finally {
      broker.close();
    }
  }, 30_000);

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
