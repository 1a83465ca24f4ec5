// npm run bench -- pipeline [--devices 200 --rate 15 --duration 120 --interval 10 --stores sqlite,influxdb --qos 1 --workers 2]
// The ingest scenario held for minutes at a fixed load below saturation: does lag stay flat,
// does anything leak or get lost over time? Runs ingest's measurement and watches it: per
// interval, messages written/s, lag, the edge's outbox and the broker's backlog, and losses.
import { parseArgs } from 'node:util';
import { runIngestOnce, type IngestOptions, type IngestResult } from './ingest.js';
import { describeMachine, fmt, machineMarkdown, percentile, publish, table } from './report.js';
import { getJson } from './stack.js';

export interface PipelineOptions { devices: number; rate: number; durationS: number; intervalS: number; stores: string[]; qos: 0 | 1; workers: number }

interface EdgeSample { t: number; written: number; lastWriteLagMs: number; outboxDepth: number; writeLag: { p99: number; max: number } }
interface BrokerSample { t: number; busBacklog: number; publishersHeld: number }

export interface Interval {
  fromS: number; writtenPerS: number;
  /** The edge's lag of the newest record of its latest batch, sampled every 200 ms. */
  lagP50: number; lagP99: number; lagMax: number;
  /** The edge's exact histogram over everything written since the start, at interval end. */
  cumulativeP99: number;
  outboxMax: number; busBacklogMax: number; publishersHeldMax: number; lost: number;
}
export interface PipelineResult { store: string; run: IngestResult; intervals: Interval[] }

export function parsePipelineArgs(argv: string[]): PipelineOptions {
  const { values } = parseArgs({ args: argv, options: {
    devices: { type: 'string', default: '200' }, rate: { type: 'string', default: '15' }, duration: { type: 'string', default: '120' },
    interval: { type: 'string', default: '10' }, stores: { type: 'string', default: 'sqlite,influxdb' }, qos: { type: 'string', default: '1' },
    workers: { type: 'string', default: '2' },
  } });
  const pos = (k: string, v: unknown): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${k} must be a positive number`);
    return n;
  };
  const qos = Number(values.qos);
  if (qos !== 0 && qos !== 1) throw new Error('--qos must be 0 or 1');
  const stores = String(values.stores).split(',').filter(Boolean);
  for (const s of stores) if (s !== 'sqlite' && s !== 'influxdb') throw new Error(`unknown store "${s}"`);
  return { devices: pos('devices', values.devices), rate: pos('rate', values.rate), durationS: pos('duration', values.duration), intervalS: pos('interval', values.interval), stores, qos, workers: pos('workers', values.workers) };
}

function intervals(o: PipelineOptions, t0: number, edge: EdgeSample[], broker: BrokerSample[], lostSeqs: Record<string, number[]>): Interval[] {
  const end = Math.max(edge.at(-1)?.t ?? t0, t0 + o.durationS * 1000);
  const out: Interval[] = [];
  for (let from = t0; from < end; from += o.intervalS * 1000) {
    const to = from + o.intervalS * 1000;
    const es = edge.filter((s) => s.t >= from && s.t < to);
    if (es.length === 0) continue;
    const before = edge.filter((s) => s.t < from).at(-1);
    const first = before ?? es[0]!;
    const last = es.at(-1)!;
    // A batch holding only 1-minute aggregates (timestamped at their window start) reports
    // a lag of a minute or more; readings never exceed the histogram's max, so drop those.
    const lags = es.filter((s) => s.lastWriteLagMs <= s.writeLag.max).map((s) => s.lastWriteLagMs).sort((a, b) => a - b);
    const bs = broker.filter((s) => s.t >= from && s.t < to);
    // A device's seq q was due at (q - 1) / rate seconds into the run.
    const lo = (from - t0) / 1000;
    const hi = (to - t0) / 1000;
    let lost = 0;
    for (const seqs of Object.values(lostSeqs)) for (const q of seqs) { const at = (q - 1) / o.rate; if (at >= lo && at < hi) lost += 1; }
    out.push({
      fromS: lo, writtenPerS: ((last.written - first.written) * 1000) / Math.max(1, last.t - first.t),
      lagP50: percentile(lags, 50), lagP99: percentile(lags, 99), lagMax: lags.at(-1) ?? Number.NaN, cumulativeP99: last.writeLag.p99,
      outboxMax: Math.max(...es.map((s) => s.outboxDepth)),
      busBacklogMax: Math.max(0, ...bs.map((s) => s.busBacklog)), publishersHeldMax: Math.max(0, ...bs.map((s) => s.publishersHeld)), lost,
    });
  }
  return out;
}

export async function measurePipeline(o: PipelineOptions, progress: (l: string) => void = () => {}): Promise<PipelineResult[]> {
  const ingest: IngestOptions = { loads: [{ devices: o.devices, rate: o.rate }], durationS: o.durationS, qos: o.qos, workers: o.workers, stores: o.stores };
  const out: PipelineResult[] = [];
  for (const store of o.stores) {
    progress(`pipeline: ${store}: ${o.devices} devices × ${o.rate} msg/s for ${o.durationS} s…`);
    const edge: EdgeSample[] = [];
    const broker: BrokerSample[] = [];
    let t0 = 0;
    const run = await runIngestOnce(store, { devices: o.devices, rate: o.rate }, ingest, (stack, startedAt) => {
      t0 = startedAt;
      const a = setInterval(() => void getJson<EdgeSample>(`${stack.edgeUrl}/metrics`, stack.edgeToken).then((m) => edge.push({ ...m, t: Date.now() }), () => undefined), 200);
      const b = setInterval(() => void getJson<BrokerSample>(`${stack.brokerHttpUrl}/metrics`, stack.brokerToken).then((m) => broker.push({ ...m, t: Date.now() }), () => undefined), 1000);
      return () => { clearInterval(a); clearInterval(b); };
    });
    out.push({ store, run, intervals: intervals(o, t0, edge, broker, run.lostSeqs) });
  }
  return out;
}

export async function runPipeline(argv: string[]): Promise<PipelineResult[]> {
  const o = parsePipelineArgs(argv);
  const machine = describeMachine();
  const results = await measurePipeline(o, (l) => process.stderr.write(`${l}\n`));
  const summary = table(['store', 'devices connected', 'offered msg/s', 'end-to-end msg/s', 'lag p50 (ms)', 'lag p99 (ms)', 'lag max (ms)', 'acked', 'stored', 'lost', 'dupes', 'CPU % broker / edge / generator', 'RSS MiB broker / edge'],
    results.map(({ store, run: r }) => [store, `${fmt(r.devices - r.connectFailed)} / ${fmt(r.devices)}`, r.offeredPerS, r.endToEndPerS, r.lag.p50, r.lag.p99, r.lag.max, r.acked, r.stored, r.lost, r.duplicates,
      `${fmt(r.cpu.broker ?? 0)} / ${fmt(r.cpu.edge ?? 0)} / ${fmt(r.cpu.generator ?? 0)}`, `${fmt(r.rssMiB.broker ?? 0)} / ${fmt(r.rssMiB.edge ?? 0)}`]));
  const per = results.map(({ store, intervals: iv }) => `**${store}**, per ${o.intervalS} s:\n\n${table(['from (s)', 'written/s', 'sampled lag p50 / p99 / max (ms)', 'cumulative lag p99 (ms)', 'outbox max', 'broker backlog max', 'publishers held max', 'lost'],
    iv.map((i) => [i.fromS, i.writtenPerS, `${fmt(i.lagP50)} / ${fmt(i.lagP99)} / ${fmt(i.lagMax)}`, i.cumulativeP99, i.outboxMax, i.busBacklogMax, i.publishersHeldMax, i.lost]))}`).join('\n\n');
  const md = `## pipeline — sustained load, devices → broker → edge → store\n\n${machineMarkdown(machine)}\n\nOptions: ${o.devices} devices (all four kinds) × ${o.rate} msg/s = ${fmt(o.devices * o.rate)} msg/s offered for ${o.durationS} s, QoS ${o.qos}, ${o.workers} generator processes; broker, edge and cloud each in its own process (the ingest scenario's harness). Summary lag is the edge's exact histogram (device timestamp → store acknowledgement) over the whole run; per interval, "sampled lag" is the edge's lag of the newest record of its latest write batch, read every 200 ms (a lower bound for that batch; batches of 1-minute aggregates left out), and "cumulative lag p99" the exact histogram up to the interval's end. "lost" counts broker-acknowledged messages missing from the store, placed in the interval they were due in.\n\n${summary}\n\n${per}\n`;
  process.stdout.write(`\n${md}\n`);
  const file = publish(o.qos === 1 ? 'pipeline' : 'pipeline-qos0', md, { machine, options: o, results });
  process.stderr.write(`wrote BENCHMARKS.md and ${file}\n`);
  return results;
}
