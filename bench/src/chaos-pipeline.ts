import Database from 'better-sqlite3';
// npm run chaos -- store-outage [--signal KILL|STOP --outage 60 --at 20 --devices 100 --rate 20 --duration 120]
// npm run chaos -- edge-kill [--down 5 --at 20 --store sqlite|influxdb --devices 100 --rate 20 --duration 120]
// Faults in the ingest pipeline under steady load: InfluxDB gone (killed and restarted on
// the same data dir and port, or frozen with SIGSTOP) and the edge agent SIGKILLed mid-stream
// and restarted. Afterwards every broker-acknowledged (device, seq) is read back: none may be
// missing, none stored twice, and per device the store's arrival order must follow seq order.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DeviceKind, KindSlug } from '@yulan/protos';
import { launchInfluxd, type Influxd } from '@yulan/testkit';
import { registerFault } from './chaos.js';
import { runLoad } from './load.js';
import { describeMachine, fmt, machineMarkdown, publish, table } from './report.js';
import { getJson, registerDevices, startStack, type Stack } from './stack.js';
import { readBack } from './verify.js';

export const PipelineFault = { StoreOutage: 'store-outage', EdgeKill: 'edge-kill' } as const;
export type PipelineFault = (typeof PipelineFault)[keyof typeof PipelineFault];

export interface FaultOptions {
  fault: PipelineFault; store: 'sqlite' | 'influxdb'; signal: 'KILL' | 'STOP';
  devices: number; rate: number; durationS: number; atS: number; downS: number;
}

export interface FaultResult {
  options: FaultOptions; published: number; acked: number; stored: number; lost: number; duplicates: number;
  /** Devices whose stored rows, in the store's arrival order, do not follow seq order (SQLite only). */
  orderInversions: number | undefined; orderChecked: 'arrival (SQLite rowid)' | 'device time (InfluxDB timestamp)';
  outboxMax: number; storeErrors: number; redeliveriesFiltered: number; brokerDroppedQueued: number;
  /** Readings that arrived after their 1-minute window was closed (raw stored, aggregate without them). */
  lateForAggregation: number;
  faultAtS: number; restoredAtS: number; recoveryS: number; lagMaxAfterMs: number;
}

export function parseFaultArgs(fault: PipelineFault, argv: string[]): FaultOptions {
  const { values } = parseArgs({ args: argv, options: {
    store: { type: 'string' }, signal: { type: 'string', default: 'KILL' }, devices: { type: 'string', default: '100' }, rate: { type: 'string', default: '20' },
    duration: { type: 'string', default: '120' }, at: { type: 'string', default: '20' }, outage: { type: 'string', default: '60' }, down: { type: 'string', default: '5' },
  } });
  const store = fault === PipelineFault.StoreOutage ? 'influxdb' : (values.store ?? 'sqlite');
  if (store !== 'sqlite' && store !== 'influxdb') throw new Error(`unknown store "${store}"`);
  const signal = String(values.signal);
  if (signal !== 'KILL' && signal !== 'STOP') throw new Error('--signal is KILL or STOP');
  const o: FaultOptions = { fault, store, signal, devices: Number(values.devices), rate: Number(values.rate), durationS: Number(values.duration), atS: Number(values.at),
    downS: Number(fault === PipelineFault.StoreOutage ? values.outage : values.down) };
  if (o.atS + o.downS >= o.durationS) throw new Error('the fault must end before the load does (--at + --outage/--down < --duration)');
  return o;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The influxd serving this temp dir (the testkit does not expose its pid). */
function influxdPid(influx: Influxd): number {
  for (const p of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    try { if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(join(influx.dir, 'influxdb.conf'))) return Number(p); } catch { /* gone */ }
  }
  throw new Error('influxd process not found');
}

/** Distinct readings in the store: both stores key on (device, seq), so a count is distinct. */
async function storedCount(stack: Stack, influx: Influxd | undefined): Promise<number> {
  if (influx) {
    const r = (await influx.query('SELECT count("seq") FROM "reading"', 'yulan')) as { results: { series?: { values: [number, number][] }[] }[] };
    return r.results[0]?.series?.[0]?.values[0]?.[1] ?? 0;
  }
  return withTelemetryDb(stack, (db) => (db.prepare('SELECT count(*) AS n FROM readings').get() as { n: number }).n);
}

/** Devices whose rows, in first-insertion (rowid) order, are not in increasing seq order.
 * The store upserts in place, so a batch replayed after a crash keeps its rowids. */
function arrivalInversions(stack: Stack): number {
  const rows = withTelemetryDb(stack, (db) => db.prepare('SELECT device_id AS id, seq FROM readings ORDER BY rowid').all() as { id: string; seq: number }[]);
  const last = new Map<string, number>();
  const bad = new Set<string>();
  for (const { id, seq } of rows) {
    if ((last.get(id) ?? 0) >= Number(seq)) { bad.add(id); if (process.env.YULAN_BENCH_DEBUG) process.stderr.write(`inversion ${id}: ${last.get(id)} then ${seq}\n`); }
    last.set(id, Number(seq));
  }
  return bad.size;
}

interface EdgeView { outboxDepth: number; storeErrors: number; duplicates: number; lateForAggregation: number; writeLag: { max: number } }

export async function measureFault(o: FaultOptions, progress: (l: string) => void = () => {}): Promise<FaultResult> {
  let influx: Influxd | undefined;
  let stack: Stack | undefined;
  try {
    const env: NodeJS.ProcessEnv = {};
    if (o.store === 'influxdb') {
      influx = await launchInfluxd();
      await influx.createDatabase('yulan');
      Object.assign(env, { YULAN_INFLUX_URL: influx.url, YULAN_INFLUX_DB: 'yulan' });
    }
    stack = await startStack(env);
    const s = stack;
    const kinds = [DeviceKind.EV_CHARGER, DeviceKind.PARCEL_LOCKER, DeviceKind.FALL_SENSOR, DeviceKind.ENV_MONITOR].map((kind) => ({ kind, slug: KindSlug[kind] }));
    const devices = await registerDevices(s, kinds, Math.ceil(o.devices / kinds.length));
    let outboxMax = 0;
    let storeErrors = 0;
    let filtered = 0;
    let late = 0;
    let t0 = 0;
    let faultAt = 0;
    let restoredAt = 0;
    let fault: Promise<void> = Promise.resolve();
    const watch = setInterval(() => void getJson<EdgeView>(`${s.edgeUrl}/metrics`, s.edgeToken).then((m) => {
      outboxMax = Math.max(outboxMax, m.outboxDepth);
      storeErrors = Math.max(storeErrors, m.storeErrors);
    }, () => undefined), 500);
    const inject = async (): Promise<void> => {
      await sleep(o.atS * 1000);
      faultAt = Date.now();
      if (o.fault === PipelineFault.EdgeKill) {
        // The counters die with the process: keep what the first edge filtered.
        const before = await getJson<EdgeView>(`${s.edgeUrl}/metrics`, s.edgeToken).catch(() => ({ duplicates: 0, lateForAggregation: 0 }));
        filtered += before.duplicates;
        late += before.lateForAggregation;
        progress(`chaos: SIGKILL edge (pid ${s.edge!.proc.pid})`);
        s.edge!.proc.kill('SIGKILL');
        await sleep(o.downS * 1000);
        await s.restartEdge();
      } else if (o.signal === 'STOP') {
        const pid = influxdPid(influx!);
        progress(`chaos: SIGSTOP influxd (pid ${pid}) for ${o.downS} s`);
        process.kill(pid, 'SIGSTOP');
        await sleep(o.downS * 1000);
        process.kill(pid, 'SIGCONT');
      } else {
        progress(`chaos: SIGKILL influxd for ${o.downS} s`);
        await influx!.stop();
        await sleep(o.downS * 1000);
        await influx!.start();
      }
      restoredAt = Date.now();
      progress('chaos: restored');
    };
    progress(`chaos ${o.fault}: ${devices.length} devices × ${o.rate} msg/s for ${o.durationS} s, store ${o.store}…`);
    const run = await runLoad(devices, { mqttUrl: s.mqttUrl, ratePerDevice: o.rate, durationMs: o.durationS * 1000, qos: 1, connectConcurrency: 50 }, 2, () => {
      t0 = Date.now();
      fault = inject();
    });
    await fault;
    const acked = run.results.reduce((a, r) => a + r.acked, 0);
    // Caught up when the store holds as many distinct readings as were acknowledged.
    const deadline = Date.now() + 300_000;
    while ((await storedCount(s, influx).catch(() => 0)) < acked && Date.now() < deadline) await sleep(500);
    const caughtUp = Date.now();
    clearInterval(watch);
    const m = await getJson<EdgeView>(`${s.edgeUrl}/metrics`, s.edgeToken);
    filtered += m.duplicates;
    late += m.lateForAggregation;
    const broker = await getJson<{ droppedQueued: number }>(`${s.brokerHttpUrl}/metrics`, s.brokerToken);
    progress('chaos: reading back every device…');
    const { stored, lost, duplicates } = await readBack(s.edgeUrl, s.edgeToken, run.results);
    return {
      options: o, published: run.results.reduce((a, r) => a + r.published, 0), acked, stored, lost, duplicates,
      orderInversions: o.store === 'sqlite' ? arrivalInversions(s) : undefined,
      orderChecked: o.store === 'sqlite' ? 'arrival (SQLite rowid)' : 'device time (InfluxDB timestamp)',
      outboxMax, storeErrors: Math.max(storeErrors, m.storeErrors), redeliveriesFiltered: filtered, brokerDroppedQueued: broker.droppedQueued, lateForAggregation: late,
      faultAtS: (faultAt - t0) / 1000, restoredAtS: (restoredAt - t0) / 1000, recoveryS: (caughtUp - restoredAt) / 1000, lagMaxAfterMs: m.writeLag.max,
    };
  } finally {
    await stack?.stop();
    await influx?.dispose();
  }
}

async function runFault(fault: PipelineFault, argv: string[]): Promise<FaultResult> {
  const o = parseFaultArgs(fault, argv);
  const machine = describeMachine();
  const r = await measureFault(o, (l) => process.stderr.write(`${l}\n`));
  const what = fault === PipelineFault.EdgeKill
    ? `edge agent SIGKILLed ${fmt(r.faultAtS)} s into the load and restarted ${o.downS} s later (same data dir; store ${o.store})`
    : `influxd ${o.signal === 'KILL' ? 'SIGKILLed and restarted on the same data dir and port' : 'frozen with SIGSTOP, then SIGCONT'} ${fmt(r.faultAtS)} s into the load, for ${o.downS} s`;
  const t = table(['acked', 'stored', 'lost', 'stored twice', `order (${r.orderChecked})`, 'outbox max', 'store errors', 'redeliveries filtered', 'broker dropped', 'late for 1-min aggregates', 'caught up after restore (s)', 'lag max after (ms)'],
    [[r.acked, r.stored, r.lost, r.duplicates, r.orderInversions === undefined ? 'by timestamp' : `${fmt(r.orderInversions)} devices out of order`, r.outboxMax, r.storeErrors, r.redeliveriesFiltered, r.brokerDroppedQueued, r.lateForAggregation, r.recoveryS, r.lagMaxAfterMs]]);
  const md = `## chaos: ${fault} — ${fault === PipelineFault.EdgeKill ? 'edge killed mid-stream' : `store outage under load (SIG${o.signal})`}\n\n${machineMarkdown(machine)}\n\nOptions: ${o.devices} devices × ${o.rate} msg/s (QoS 1) for ${o.durationS} s; ${what}. "lost" counts broker-acknowledged (device, seq) pairs missing from the store after it caught up; "stored twice" counts repeats in the read-back; order is checked ${r.orderInversions === undefined ? 'by device timestamp only: InfluxDB keys points by time, so arrival order is not recorded' : 'in the store\'s arrival order (SQLite rowid), per device'}. "redeliveries filtered" are duplicates the edge's filter dropped (broker redeliveries after the fault).\n\n${t}\n`;
  process.stdout.write(`\n${md}\n`);
  const file = publish(`chaos-${fault}${fault === PipelineFault.StoreOutage && o.signal === 'STOP' ? '-sigstop' : ''}`, md, { machine, result: r });
  process.stderr.write(`wrote BENCHMARKS.md and ${file}\n`);
  return r;
}

registerFault(PipelineFault.StoreOutage, { about: 'InfluxDB killed (or frozen) for a minute under load, then back: nothing lost, nothing twice, order kept', run: (a) => runFault(PipelineFault.StoreOutage, a) });
registerFault(PipelineFault.EdgeKill, { about: 'edge agent SIGKILLed mid-stream and restarted: nothing lost, nothing twice, order kept', run: (a) => runFault(PipelineFault.EdgeKill, a) });

/** The edge's SQLite store, read beside the running edge (WAL; read-only). */
function withTelemetryDb<T>(stack: Stack, fn: (db: Database.Database) => T): T {
  const db = new Database(join(stack.dir, 'edge', 'telemetry.db'), { readonly: true, timeout: 10_000 });
  try { return fn(db); } finally { db.close(); }
}
