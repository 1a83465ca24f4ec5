// npm run bench -- city [--factors 0.05,0.1 --duration 120 --store sqlite --door-every 300 --speedup 1 --workers 2 --broker-workers N]
// The city programme's fleet scaled by a factor: 50,000 EV chargers (every 30 s), 12,000
// parcel-locker cabinets (every 60 s, plus door events), 100,000 fall sensors (heartbeat
// every 60 s), 5,000 environment monitors (every 10 s), all through broker → edge → store.
// Per factor: what was carried, what was lost, and which resource saturates first.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DeviceKind, Severity } from '@yulan/protos';
import { launchInfluxd, type Influxd } from '@yulan/testkit';
import { startRedisFor } from './cluster.js';
import { fleetDevices, openFiles, seedRegistry, timedJson, treeUsage } from './fleet.js';
import { runLoad } from './load.js';
import type { LoadDevice } from './load-protocol.js';
import { describeMachine, fmt, machineMarkdown, percentile, publish, table } from './report.js';
import { getJson, startStack, type Stack } from './stack.js';
import { storedSeqs } from './verify.js';

/** The programme's fleet at factor 1: count and seconds between telemetry reports. */
export const CITY_FLEET = [
  { kind: DeviceKind.EV_CHARGER, count: 50_000, everyS: 30 },
  { kind: DeviceKind.PARCEL_LOCKER, count: 12_000, everyS: 60 },
  { kind: DeviceKind.FALL_SENSOR, count: 100_000, everyS: 60 },
  { kind: DeviceKind.ENV_MONITOR, count: 5_000, everyS: 10 },
] as const;
/** Per generator process, under the 20,000 open-file limit. */
const PER_GENERATOR = 18_000;
/** Per source address, under the ~28,000 ephemeral ports towards one listener. */
const PER_ADDRESS = 25_000;

export interface CityOptions { factors: number[]; durationS: number; store: 'sqlite' | 'influxdb'; doorEveryS: number; speedup: number; workers: number; brokerWorkers: number }

export interface CityResult {
  factor: number; devices: number; connected: number; connectFailed: number; connectS: number; offeredPerS: number;
  published: number; acked: number; stored: number; lost: number; duplicates: number; events: number; drainS: number;
  cpuPct: Record<string, number>; machineCpuPct: number; rssMiB: Record<string, number>;
  metricsRttMs: { broker: { p50: number; max: number }; edge: { p50: number; max: number } };
  broker: { busBacklogMax: number; publishersHeldMax: number; outgoingQueuedBytesMax: number; openFiles: number; fileLimit: number };
  edge: { outboxMax: number; writeLag: { p50: number; p99: number; max: number } };
  saturated: string[];
}

export function parseCityArgs(argv: string[]): CityOptions {
  const { values } = parseArgs({ args: argv, options: {
    factors: { type: 'string', default: '0.1' }, duration: { type: 'string', default: '120' }, store: { type: 'string', default: 'sqlite' },
    'door-every': { type: 'string', default: '300' }, speedup: { type: 'string', default: '1' }, workers: { type: 'string', default: '2' },
    'broker-workers': { type: 'string', default: '0' },
  } });
  const factors = String(values.factors).split(',').map(Number);
  if (factors.some((f) => !(f > 0))) throw new Error('--factors takes positive numbers, e.g. 0.05,0.1');
  const store = String(values.store);
  if (store !== 'sqlite' && store !== 'influxdb') throw new Error(`unknown store "${store}"`);
  return { factors, durationS: Number(values.duration), store, doorEveryS: Number(values['door-every']), speedup: Number(values.speedup), workers: Number(values.workers), brokerWorkers: Number(values['broker-workers']) };
}

export function cityDevices(factor: number, speedup: number): LoadDevice[] {
  return fleetDevices(CITY_FLEET.map((k) => ({ kind: k.kind, count: Math.max(1, Math.round(k.count * factor)), rate: speedup / k.everyS })), 'city');
}

function machineCpu(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - (f[3] ?? 0) - (f[4] ?? 0), total };
}

interface Sample { openFiles: number; brokerRtt: number; edgeRtt: number; busBacklog: number; publishersHeld: number; outgoingQueuedBytes: number; outboxDepth: number }

/** The first resource past its limit, with the figure that says so. */
function saturation(r: Omit<CityResult, 'saturated'>): string[] {
  const s: string[] = [];
  if (r.connectFailed > 0) s.push(`connections: ${fmt(r.connectFailed)} of ${fmt(r.devices)} could not connect (broker open files ${fmt(r.broker.openFiles)} / ${fmt(r.broker.fileLimit)})`);
  for (const [k, v] of Object.entries(r.cpuPct)) if (v > 85) s.push(`CPU: ${k} at ${fmt(v)} % of a core`);
  if (r.machineCpuPct > 90) s.push(`CPU: machine at ${fmt(r.machineCpuPct)} %`);
  if (r.metricsRttMs.broker.max > 1000 || r.metricsRttMs.edge.max > 1000) s.push(`event loop: /metrics took up to ${fmt(r.metricsRttMs.broker.max)} ms (broker) / ${fmt(r.metricsRttMs.edge.max)} ms (edge)`);
  if (r.broker.publishersHeldMax > 0) s.push(`broker queue: ${fmt(r.broker.publishersHeldMax)} publishers held, backlog up to ${fmt(r.broker.busBacklogMax)}`);
  if (r.edge.writeLag.p99 > 5000) s.push(`edge: write lag p99 ${fmt(r.edge.writeLag.p99)} ms, outbox up to ${fmt(r.edge.outboxMax)}`);
  return s;
}

async function runFactor(factor: number, o: CityOptions, progress: (l: string) => void): Promise<CityResult> {
  const devices = cityDevices(factor, o.speedup);
  let influx: Influxd | undefined;
  let stack: Stack | undefined;
  const redis = o.brokerWorkers > 0 ? await startRedisFor(o.brokerWorkers) : undefined;
  try {
    const edgeEnv: NodeJS.ProcessEnv = {};
    if (o.store === 'influxdb') {
      influx = await launchInfluxd();
      await influx.createDatabase('yulan');
      Object.assign(edgeEnv, { YULAN_INFLUX_URL: influx.url, YULAN_INFLUX_DB: 'yulan' });
    }
    stack = await startStack(edgeEnv, [], { brokerEnv: redis?.env ?? {} });
    const s = stack;
    seedRegistry(s, devices);
    const workers = Math.max(o.workers, Math.ceil(devices.length / PER_GENERATOR));
    const addrs = Array.from({ length: Math.ceil(devices.length / PER_ADDRESS) }, (_, i) => `127.0.1.${i + 1}`);
    const pids = { broker: s.broker.proc.pid!, edge: s.edge!.proc.pid!, cloud: s.cloud.proc.pid! };
    const samples: Sample[] = [];
    const rss: Record<string, number> = {};
    let cpu0: Record<string, number> = {};
    let m0 = machineCpu();
    let timer: NodeJS.Timeout | undefined;
    const sample = async (): Promise<void> => {
      const [b, e] = await Promise.all([timedJson<Sample>(`${s.brokerHttpUrl}/metrics`, s.brokerToken), timedJson<Sample>(`${s.edgeUrl}/metrics`, s.edgeToken)]);
      samples.push({ openFiles: openFiles(pids.broker).open, brokerRtt: b.ms, edgeRtt: e.ms, busBacklog: b.body?.busBacklog ?? 0, publishersHeld: b.body?.publishersHeld ?? 0, outgoingQueuedBytes: b.body?.outgoingQueuedBytes ?? 0, outboxDepth: e.body?.outboxDepth ?? 0 });
      for (const [k, pid] of Object.entries(pids)) rss[k] = Math.max(rss[k] ?? 0, treeUsage(pid).rssBytes);
    };
    progress(`city ×${factor}: ${fmt(devices.length)} devices over ${workers} generator processes, ${o.durationS} s…`);
    const lockers = devices.filter((d) => d.kind === DeviceKind.PARCEL_LOCKER).length;
    const run = await runLoad(devices, {
      mqttUrl: s.mqttUrl, ratePerDevice: 0, durationMs: o.durationS * 1000, qos: 1, connectConcurrency: 100, keepaliveS: 60, tickMs: 100, localAddresses: addrs,
      periodicEvents: lockers && o.doorEveryS > 0 ? [{ kind: DeviceKind.PARCEL_LOCKER, ratePerDevice: o.speedup / o.doorEveryS, event: { type: 'door_opened', severity: Severity.INFO, message: 'compartment door opened', attributes: { compartment: '1' } } }] : [],
    }, workers, () => {
      cpu0 = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, treeUsage(pid).cpuMs]));
      m0 = machineCpu();
      timer = setInterval(() => void sample(), 2000);
    });
    const windowMs = o.durationS * 1000;
    const cpuPct = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, (100 * (treeUsage(pid).cpuMs - (cpu0[k] ?? 0))) / windowMs]));
    cpuPct.generators = (100 * run.generatorCpuMs) / windowMs;
    const m1 = machineCpu();
    const acked = run.results.reduce((a, r) => a + r.acked, 0);
    const doneAt = Date.now();
    let m = await getJson<{ received: number; duplicates: number; outboxDepth: number; writeLag: CityResult['edge']['writeLag'] }>(`${s.edgeUrl}/metrics`, s.edgeToken);
    while ((m.received - m.duplicates < acked || m.outboxDepth > 0) && Date.now() < doneAt + 300_000) {
      await new Promise((r) => setTimeout(r, 500));
      m = await getJson(`${s.edgeUrl}/metrics`, s.edgeToken);
    }
    const drainS = (Date.now() - doneAt) / 1000;
    clearInterval(timer);
    await sample();
    // The most the broker held during the run (devices have disconnected by now).
    const brokerFiles = { open: Math.max(0, ...samples.map((x) => x.openFiles)), limit: openFiles(pids.broker).limit };
    progress(`city ×${factor}: reading back ${fmt(run.results.length)} devices…`);
    let stored = 0;
    let lost = 0;
    let duplicates = 0;
    for (const r of run.results) {
      const got = await storedSeqs(s.edgeUrl, s.edgeToken, r.id);
      if (r.events) {
        const ev = await getJson<{ events: { seq: number }[] }>(`${s.edgeUrl}/v1/events?${new URLSearchParams({ deviceId: r.id, from: '0', to: String(Date.now() + 60_000), limit: '10000' })}`, s.edgeToken);
        for (const e of ev.events) { if (got.seqs.has(e.seq)) got.duplicates += 1; got.seqs.add(e.seq); }
      }
      stored += got.seqs.size;
      duplicates += got.duplicates;
      // Telemetry and events share the device's seqs 1..published; the first `acked` were acknowledged.
      for (let q = 1; q <= r.acked; q++) if (!got.seqs.has(q)) lost += 1;
    }
    const rtt = (k: 'brokerRtt' | 'edgeRtt'): { p50: number; max: number } => { const xs = samples.map((x) => x[k]).sort((a, b) => a - b); return { p50: percentile(xs, 50), max: xs.at(-1) ?? Number.NaN }; };
    const base: Omit<CityResult, 'saturated'> = {
      factor, devices: devices.length, connected: run.results.length, connectFailed: run.connectFailed, connectS: run.connectMs / 1000,
      offeredPerS: run.results.reduce((a, r) => a + r.published, 0) / o.durationS, published: run.results.reduce((a, r) => a + r.published, 0), acked, stored, lost, duplicates,
      events: run.results.reduce((a, r) => a + (r.events ?? 0), 0), drainS, cpuPct, machineCpuPct: (100 * (m1.busy - m0.busy)) / Math.max(1, m1.total - m0.total),
      rssMiB: Object.fromEntries(Object.entries(rss).map(([k, v]) => [k, v / 2 ** 20])), metricsRttMs: { broker: rtt('brokerRtt'), edge: rtt('edgeRtt') },
      broker: { busBacklogMax: Math.max(0, ...samples.map((x) => x.busBacklog)), publishersHeldMax: Math.max(0, ...samples.map((x) => x.publishersHeld)), outgoingQueuedBytesMax: Math.max(0, ...samples.map((x) => x.outgoingQueuedBytes)), openFiles: brokerFiles.open, fileLimit: brokerFiles.limit },
      edge: { outboxMax: Math.max(0, ...samples.map((x) => x.outboxDepth)), writeLag: { p50: m.writeLag.p50, p99: m.writeLag.p99, max: m.writeLag.max } },
    };
    return { ...base, saturated: saturation(base) };
  } finally {
    await stack?.stop();
    await influx?.dispose();
    await redis?.stop();
  }
}

export async function measureCity(o: CityOptions, progress: (l: string) => void = () => {}): Promise<CityResult[]> {
  const out: CityResult[] = [];
  for (const f of o.factors) out.push(await runFactor(f, o, progress));
  return out;
}

export async function runCity(argv: string[]): Promise<CityResult[]> {
  const o = parseCityArgs(argv);
  const machine = describeMachine();
  const results = await measureCity(o, (l) => process.stderr.write(`${l}\n`));
  const rows = results.map((r) => [String(r.factor), r.devices, r.connected, r.offeredPerS, r.events, r.acked, r.stored, r.lost, r.duplicates,
    `${fmt(r.edge.writeLag.p50)} / ${fmt(r.edge.writeLag.p99)} / ${fmt(r.edge.writeLag.max)}`,
    `${fmt(r.cpuPct.broker ?? 0)} / ${fmt(r.cpuPct.edge ?? 0)} / ${fmt(r.cpuPct.cloud ?? 0)} / ${fmt(r.cpuPct.generators ?? 0)} (${fmt(r.machineCpuPct)})`,
    `${fmt(r.rssMiB.broker ?? 0)} / ${fmt(r.rssMiB.edge ?? 0)} / ${fmt(r.rssMiB.cloud ?? 0)}`,
    `${fmt(r.metricsRttMs.broker.max)} / ${fmt(r.metricsRttMs.edge.max)}`, `${fmt(r.broker.busBacklogMax)} / ${fmt(r.broker.publishersHeldMax)} / ${fmt(r.broker.outgoingQueuedBytesMax)}`,
    r.edge.outboxMax, `${fmt(r.broker.openFiles)} / ${fmt(r.broker.fileLimit)}`]);
  const t = table(['factor', 'devices', 'connected', 'offered msg/s', 'door events', 'acked', 'stored', 'lost', 'dupes', 'lag p50 / p99 / max (ms)',
    'CPU % broker / edge / cloud / generators (machine)', 'RSS MiB broker / edge / cloud', '/metrics max ms broker / edge', 'broker backlog / held / queued bytes (max)', 'edge outbox max', 'broker open files (max) / limit'], rows);
  const sat = results.map((r) => `- ×${r.factor} (${fmt(r.devices)} devices): ${r.saturated.length ? r.saturated.join('; ') : 'nothing saturated'}.`).join('\n');
  const md = `## city${o.brokerWorkers > 0 ? ` (clustered broker, ${o.brokerWorkers} workers + Redis)` : ''} — the programme's fleet, scaled\n\n${machineMarkdown(machine)}\n\nOptions: factors ${o.factors.join(', ')} of 50,000 EV chargers (every 30 s), 12,000 parcel-locker cabinets (every 60 s, plus a door event every ${o.doorEveryS} s on average), 100,000 fall sensors (every 60 s), 5,000 environment monitors (every 10 s)${o.speedup !== 1 ? `, rates ×${o.speedup}` : ''}; ${o.durationS} s each, QoS 1, keep-alive 60 s, random phase per device; store ${o.store}; broker${o.brokerWorkers > 0 ? ` with ${o.brokerWorkers} workers + Redis` : ''}, edge and cloud each in its own process; devices seeded into the registry (see connections). Lag is the edge's device → store histogram; "/metrics max ms" is the slowest answer of the service's /metrics (same event loop) sampled every 2 s; CPU is % of one core over the load window.\n\n${t}\n\nWhat saturated first:\n\n${sat}\n`;
  process.stdout.write(`\n${md}\n`);
  const file = publish(o.brokerWorkers > 0 ? 'city-cluster' : 'city', md, { machine, options: o, results });
  process.stderr.write(`wrote BENCHMARKS.md and ${file}\n`);
  return results;
}
