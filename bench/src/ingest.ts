// npm run bench:ingest [-- --loads 200x100,200x25 --duration 30 --qos 1 --workers 2 --stores sqlite,influxdb]
// (--loads: devices × messages/s per device, one run per load and store; --devices/--rate for one load)
// N simulated devices → broker → edge → store, each service in its own process. Prints
// sustained messages/s, device-to-store lag and loss per store, and records them in
// BENCHMARKS.md. No assertion here: figures are for people; tests check behaviour.
import { parseArgs } from 'node:util';
import { DeviceKind, KindSlug } from '@yulan/protos';
import { launchInfluxd, type Influxd } from '@yulan/testkit';
import { runLoad } from './load.js';
import { procUsage } from './procs.js';
import { describeMachine, fmt, machineMarkdown, publish, table } from './report.js';
import { getJson, registerDevices, startStack, type Stack } from './stack.js';
import { storedSeqs } from './verify.js';
import { benchTls } from './bench-tls.js';

interface EdgeMetricsView {
  received: number; written: number; outboxDepth: number; duplicates: number;
  deadLetters: Record<string, number>; droppedUnderPressure: number;
  writeLag: { count: number; p50: number; p90: number; p99: number; max: number };
}

export interface Load { devices: number; rate: number }
export interface IngestOptions { loads: Load[]; durationS: number; qos: 0 | 1; workers: number; stores: string[]; /** devices and the edge over MQTT/TLS */ tls?: boolean }

export interface IngestResult {
  store: string;
  target: number;
  devices: number;
  offeredPerS: number;
  published: number;
  acked: number;
  stored: number;
  lost: number;
  duplicates: number;
  deadLetters: number;
  /** Edge dead letters by reason, and the broker's counters at the end of the run. */
  diagnostics: { deadLetters: Record<string, number>; broker: Record<string, unknown> };
  endToEndPerS: number;
  peakPerS: number;
  drainS: number;
  lag: EdgeMetricsView['writeLag'];
  cpu: Record<string, number>;
  rssMiB: Record<string, number>;
  connectS: number;
  /** Devices that could not connect even after retrying (they publish nothing). */
  connectFailed: number;
  /** Broker-acknowledged seqs missing from the store, by device (empty when nothing is lost). */
  lostSeqs: Record<string, number[]>;
}

/** Watches a run from the moment devices start publishing (the pipeline scenario samples
 * the services through it); the returned function ends the watch once the store drained. */
export type IngestObserver = (stack: Stack, publishStartedAt: number) => () => void;

const KINDS = [DeviceKind.EV_CHARGER, DeviceKind.PARCEL_LOCKER, DeviceKind.FALL_SENSOR, DeviceKind.ENV_MONITOR]
  .map((kind) => ({ kind, slug: KindSlug[kind] }));

export function parseIngestArgs(argv: string[]): IngestOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      loads: { type: 'string' }, devices: { type: 'string' }, rate: { type: 'string' },
      duration: { type: 'string', default: '30' }, qos: { type: 'string', default: '1' },
      workers: { type: 'string', default: '2' }, stores: { type: 'string', default: 'sqlite,influxdb' }, tls: { type: 'boolean', default: false },
    },
  });
  const num = (k: string, v: string | undefined): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${k} must be a positive number`);
    return n;
  };
  const qos = Number(values.qos);
  if (qos !== 0 && qos !== 1) throw new Error('--qos must be 0 or 1');
  const stores = String(values.stores).split(',').filter(Boolean);
  for (const s of stores) if (s !== 'sqlite' && s !== 'influxdb') throw new Error(`unknown store "${s}"`);
  let loads: Load[];
  if (values.devices !== undefined || values.rate !== undefined) {
    loads = [{ devices: num('devices', values.devices ?? '200'), rate: num('rate', values.rate ?? '100') }];
  } else {
    loads = String(values.loads ?? '200x100,200x25').split(',').map((l) => {
      const m = /^(\d+)x(\d+(?:\.\d+)?)$/.exec(l.trim());
      if (!m) throw new Error(`--loads takes DEVICESxRATE[,…], e.g. 200x100; got "${l}"`);
      return { devices: num('loads', m[1]), rate: num('loads', m[2]) };
    });
  }
  return { loads, durationS: num('duration', values.duration), qos, workers: num('workers', values.workers), stores, tls: values.tls === true };
}

export async function runIngestOnce(store: string, load: Load, o: IngestOptions, observe?: IngestObserver): Promise<IngestResult> {
  let influx: Influxd | undefined;
  let stack: Stack | undefined;
  try {
    const extraEnv: NodeJS.ProcessEnv = {};
    if (store === 'influxdb') {
      influx = await launchInfluxd();
      await influx.createDatabase('yulan');
      Object.assign(extraEnv, { YULAN_INFLUX_URL: influx.url, YULAN_INFLUX_DB: 'yulan' });
    }
    // --tls: devices and the edge reach the broker over MQTT/TLS (certificate from a Yulan CA)
    const tls = o.tls ? await benchTls() : undefined;
    if (tls) Object.assign(extraEnv, tls.edgeEnv);
    stack = await startStack(extraEnv, undefined, tls ? { brokerEnv: tls.brokerEnv } : {});
    const s = stack;
    const devices = await registerDevices(s, KINDS, Math.ceil(load.devices / KINDS.length));
    const metrics = (): Promise<EdgeMetricsView> => getJson<EdgeMetricsView>(`${s.edgeUrl}/metrics`, s.edgeToken);
    const pids = { broker: s.broker.proc.pid!, edge: s.edge!.proc.pid!, cloud: s.cloud.proc.pid! };
    const samples: { t: number; received: number }[] = [];
    const rss: Record<string, number> = { broker: 0, edge: 0, cloud: 0 };
    let cpu0: Record<string, number> = {};
    let sampler: NodeJS.Timeout | undefined;
    let endObserver: (() => void) | undefined;
    const sample = async (): Promise<void> => {
      const m = await metrics().catch(() => undefined);
      if (m) samples.push({ t: Date.now(), received: m.received });
      for (const [k, pid] of Object.entries(pids)) rss[k] = Math.max(rss[k] ?? 0, procUsage(pid).rssBytes);
    };
    const run = await runLoad(devices, { mqttUrl: tls ? tls.mqttUrl : s.mqttUrl, ...(tls ? { ca: tls.caPem } : {}), ratePerDevice: load.rate, durationMs: o.durationS * 1000, qos: o.qos, connectConcurrency: 50 }, o.workers, () => {
      cpu0 = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, procUsage(pid).cpuMs]));
      sampler = setInterval(() => void sample(), 1000);
      endObserver = observe?.(s, Date.now());
    });
    const published = run.results.reduce((a, r) => a + r.published, 0);
    const acked = run.results.reduce((a, r) => a + r.acked, 0);
    // Wait for the edge to take in and store everything the broker acknowledged.
    const deadline = Date.now() + 300_000;
    let m = await metrics();
    while ((m.received - m.duplicates < acked || m.outboxDepth > 0) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      m = await metrics();
    }
    const drainedAt = Date.now();
    clearInterval(sampler);
    endObserver?.();
    await sample();
    const cpuMs = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, procUsage(pid).cpuMs - (cpu0[k] ?? 0)]));
    const windowS = (drainedAt - run.publishStartedAt) / 1000;
    let stored = 0;
    let lost = 0;
    let duplicates = 0;
    const lostSeqs: Record<string, number[]> = {};
    for (const r of run.results) {
      const got = await storedSeqs(s.edgeUrl, s.edgeToken, r.id);
      stored += got.seqs.size;
      duplicates += got.duplicates;
      // The generator numbers each device's messages 1..published; acked ones must be stored.
      let missing = 0;
      for (let q = 1; q <= r.published; q++) {
        if (got.seqs.has(q)) continue;
        missing += 1;
        // PUBACKs come back in order: the acknowledged seqs are the first `acked`.
        if (q <= r.acked) (lostSeqs[r.id] ??= []).push(q);
      }
      lost += Math.max(0, missing - (r.published - r.acked));
    }
    let peak = 0;
    for (let i = 5; i < samples.length; i++) {
      const a = samples[i - 5]!;
      const b = samples[i]!;
      peak = Math.max(peak, ((b.received - a.received) * 1000) / (b.t - a.t));
    }
    return {
      store, target: load.devices * load.rate, devices: devices.length, offeredPerS: published / (run.publishWallMs / 1000), published, acked, stored, lost, duplicates,
      deadLetters: Object.values(m.deadLetters).reduce((a, b) => a + b, 0),
      diagnostics: { deadLetters: m.deadLetters, broker: await getJson<Record<string, unknown>>(`${s.brokerHttpUrl}/metrics`, s.brokerToken) },
      endToEndPerS: stored / windowS, peakPerS: peak, drainS: (drainedAt - run.publishStartedAt) / 1000 - o.durationS,
      lag: m.writeLag,
      cpu: { ...Object.fromEntries(Object.entries(cpuMs).map(([k, v]) => [k, (100 * v) / (windowS * 1000)])), generator: (100 * run.generatorCpuMs) / (run.publishWallMs) },
      rssMiB: Object.fromEntries(Object.entries(rss).map(([k, v]) => [k, v / 2 ** 20])),
      connectS: run.connectMs / 1000,
      connectFailed: run.connectFailed,
      lostSeqs,
    };
  } finally {
    await stack?.stop();
    await influx?.dispose();
  }
}

/** Runs every load against every store; no output (tests call this). */
export async function measureIngest(o: IngestOptions, progress: (line: string) => void = () => {}): Promise<IngestResult[]> {
  const results: IngestResult[] = [];
  for (const load of o.loads) {
    for (const store of o.stores) {
      progress(`ingest: ${store}: ${load.devices} devices × ${load.rate} msg/s for ${o.durationS} s, QoS ${o.qos}…`);
      results.push(await runIngestOnce(store, load, o));
    }
  }
  return results;
}

export async function runIngest(argv: string[]): Promise<IngestResult[]> {
  const o = parseIngestArgs(argv);
  const machine = describeMachine();
  const results = await measureIngest(o, (line) => process.stderr.write(`${line}\n`));
  const rows = results.map((r) => [r.store, r.target, r.offeredPerS, r.endToEndPerS, r.peakPerS, r.drainS, r.lag.p50, r.lag.p99, r.lag.max, r.published, r.stored, r.lost, r.duplicates,
    `${fmt(r.cpu.broker ?? 0)} / ${fmt(r.cpu.edge ?? 0)} / ${fmt(r.cpu.generator ?? 0)}`, `${fmt(r.rssMiB.broker ?? 0)} / ${fmt(r.rssMiB.edge ?? 0)}`]);
  const t = table(['store', 'target msg/s', 'offered msg/s', 'end-to-end msg/s', 'peak 5 s msg/s', 'drain after load (s)', 'lag p50 (ms)', 'lag p99 (ms)', 'lag max (ms)', 'published', 'stored', 'lost', 'dupes', 'CPU % broker / edge / generator', 'RSS MiB broker / edge'], rows);
  const ratios = o.loads.map((l) => {
    const of = (store: string) => results.find((r) => r.store === store && r.target === l.devices * l.rate);
    const [a, b] = [of('sqlite'), of('influxdb')];
    return a && b ? `${fmt(l.devices * l.rate)} msg/s offered: InfluxDB / SQLite end-to-end ${fmt(b.endToEndPerS / a.endToEndPerS)}×, lag p99 ${fmt(b.lag.p99 / Math.max(1, a.lag.p99))}×` : '';
  }).filter(Boolean);
  const ratio = ratios.length ? `\n\nRatios (same run): ${ratios.join('; ')}.` : '';
  const md = `## ingest${o.qos === 1 ? '' : ' (devices publish at QoS 0)'}${o.tls ? ', over MQTT/TLS (devices and the edge)' : ''} — devices → broker → edge → store\n\n${machineMarkdown(machine)}\n\nOptions: loads ${o.loads.map((l) => `${l.devices} devices × ${l.rate} msg/s`).join(', ')} (all four kinds), ${o.durationS} s each, QoS ${o.qos}, ${o.workers} generator processes; broker, edge and cloud each in its own process. Lag is device timestamp → store acknowledgement. "lost" counts broker-acknowledged messages missing from the store.\n\n${t}${ratio}\n`;
  process.stdout.write(`\n${md}\n`);
  // QoS 0 runs get their own section so they never replace the QoS 1 figures.
  const file = publish(`${o.qos === 1 ? 'ingest' : 'ingest-qos0'}${o.tls ? '-tls' : ''}`, md, { machine, options: o, results });
  process.stderr.write(`wrote BENCHMARKS.md and ${file}\n`);
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runIngest(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`bench:ingest failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  });
}
