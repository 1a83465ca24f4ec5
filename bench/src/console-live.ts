// npm run bench -- console-live [--consoles=1,50] [--seconds=20] [--hz=10]
// The console's live stream: one device publishing telemetry over MQTT, N consoles
// watching its page over SSE (GET /api/v1/live?device=). Latency is the device's own
// timestamp → the event parsed by the consumer (same clock, same host); CPU is this
// process (cloud + consumers + publisher), so the step from 1 to N is the fan-out cost.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import pino from 'pino';
import { Channel, DeviceKind, Telemetry, deviceTopic } from '@yulan/protos';
import { loadCloudConfig, startCloud } from '@yulan/cloud';
import { describeMachine, machineMarkdown, percentile, publish, table } from './report.js';

const ADMIN = 'bench-console-live-admin-token-012345';

async function consume(url: string, onTelemetry: (ts: number) => void, signal: AbortSignal): Promise<void> {
  const r = await fetch(url, { headers: { authorization: `Bearer ${ADMIN}` }, signal });
  if (r.status !== 200 || !r.body) throw new Error(`live stream: ${r.status}`);
  void (async () => {
    let buf = '';
    try {
      for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) {
        buf += Buffer.from(chunk).toString('utf8');
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          if (!block.startsWith('event: telemetry')) continue;
          const data = JSON.parse(block.slice(block.indexOf('data: ') + 6)) as { ts: number };
          onTelemetry(data.ts);
        }
      }
    } catch { /* aborted */ }
  })();
}

export async function runConsoleLive(argv: string[]): Promise<unknown> {
  const arg = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  const consoles = (arg('consoles') ?? '1,50').split(',').map(Number);
  const seconds = Number(arg('seconds') ?? 20);
  const hz = Number(arg('hz') ?? 10);
  const machine = describeMachine();
  const aedes = await Aedes.createBroker();
  const server = createServer(aedes.handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const brokerUrl = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const dir = mkdtempSync(join(tmpdir(), 'yulan-bench-live-'));
  const cloud = await startCloud(loadCloudConfig({
    YULAN_DATA_DIR: dir, YULAN_HTTP_HOST: '127.0.0.1', YULAN_HTTP_PORT: '0', YULAN_ADMIN_TOKEN: ADMIN, YULAN_MQTT_URL: brokerUrl,
    YULAN_CLOUD_MQTT_PASSWORD: 'unused', YULAN_BROKER_TOKEN: 'unused-broker-token', YULAN_EDGE_URL: 'http://127.0.0.1:9', YULAN_EDGE_TOKEN: 'unused-edge-token',
    YULAN_API_RATE_LIMIT: '100000',
  }), pino({ level: 'silent' }), { dashboardDir: null });
  const device = await mqtt.connectAsync(brokerUrl, { clientId: 'env-bench-1' });
  const rows: (string | number)[][] = [];
  const results: unknown[] = [];
  try {
    await fetch(`${cloud.url}/api/v1/devices`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify({ id: 'env-bench-1', site: 'bench', kind: 'env-monitor' }) });
    const addr = { site: 'bench', kind: DeviceKind.ENV_MONITOR, deviceId: 'env-bench-1' };
    let seq = 1;
    const publishOne = () => device.publishAsync(deviceTopic(addr, Channel.Telemetry), Buffer.from(Telemetry.encode({
      header: { deviceId: 'env-bench-1', kind: DeviceKind.ENV_MONITOR, seq: seq++, tsMs: Date.now() },
      envMonitor: { pm1Ugm3: 5, pm25Ugm3: 12, pm10Ugm3: 20, temperatureC: 21, humidityPct: 50, noiseDba: 48 },
    })), { qos: 0 });
    for (const n of consoles) {
      const ac = new AbortController();
      const lat: number[] = [];
      let received = 0;
      let warm = true;
      for (let i = 0; i < n; i++) await consume(`${cloud.url}/api/v1/live?device=env-bench-1`, (ts) => { received++; if (!warm) lat.push(Date.now() - ts); }, ac.signal);
      // Until every stream has had a reading, the cloud's subscription is still settling.
      const t0 = Date.now();
      while (received < n && Date.now() - t0 < 10_000) { await publishOne(); await new Promise((r) => setTimeout(r, 100)); }
      warm = false;
      received = 0;
      const cpu0 = process.cpuUsage();
      const wall0 = performance.now();
      let sent = 0;
      const timer = setInterval(() => { sent++; void publishOne(); }, 1000 / hz);
      await new Promise((r) => setTimeout(r, seconds * 1000));
      clearInterval(timer);
      await new Promise((r) => setTimeout(r, 500));
      const cpu = process.cpuUsage(cpu0);
      const cpuPct = ((cpu.user + cpu.system) / 1000 / (performance.now() - wall0)) * 100;
      ac.abort();
      const sorted = [...lat].sort((a, b) => a - b);
      const row = [n, hz, sent, received, sent * n, percentile(sorted, 50), percentile(sorted, 99), sorted[sorted.length - 1] ?? Number.NaN, cpuPct];
      rows.push(row);
      results.push({ consoles: n, hz, seconds, sent, received, p50: row[5], p99: row[6], max: row[7], cpuPct });
      process.stdout.write(`console-live ${n} consoles: p50 ${String(row[5])} ms, p99 ${String(row[6])} ms, cpu ${cpuPct.toFixed(1)} %\n`);
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    await device.endAsync(true);
    await cloud.close();
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const md = [
    '## console-live — telemetry to the console over SSE, and the fan-out to many consoles',
    '',
    machineMarkdown(machine),
    '',
    `Options: one environment monitor publishing ${hz} readings/s (QoS 0) to an in-process Aedes broker; the cloud in the same process; N consumers reading \`GET /api/v1/live?device=\` (the device page's stream) over HTTP for ${seconds} s. Latency: the reading's device timestamp → the SSE event parsed by the consumer (one host, one clock; no browser rendering). CPU: the whole process (broker, cloud, consumers, publisher) over the run.`,
    '',
    table(['consoles', 'readings/s', 'readings sent', 'events received', 'expected (sent × consoles)', 'latency p50 (ms)', 'p99 (ms)', 'max (ms)', 'process CPU %'], rows),
  ].join('\n');
  publish('console-live', md, { machine, results });
  return results;
}
