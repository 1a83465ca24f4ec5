// npm run bench -- alert-latency [--devices 1000 --falls 1000 --rate 1 --inject-rate 10 --workers 2]
// Falls and SOS presses injected into a fleet streaming telemetry in the background:
// device event → broker → edge rules → cloud ladder → signed webhook at a receiver. Prints
// p50/p99/max from the device's event to the webhook's arrival, and accounts for every
// injected alert (lost, duplicated). Figures for people; tests check behaviour.
import { parseArgs } from 'node:util';
import { DeviceKind, KindSlug, Severity } from '@yulan/protos';
import { runLoad, type Injector } from './load.js';
import { procUsage } from './procs.js';
import { describeMachine, fmt, machineMarkdown, percentile, publish, table } from './report.js';
import { registerDevices, startStack, type Stack } from './stack.js';
import { setupCare } from './care-setup.js';
import { WebhookReceiver } from './webhook-receiver.js';

export interface AlertLatencyOptions {
  devices: number;
  falls: number;
  /** background telemetry, messages/s per device */
  rate: number;
  /** injected alerts per second */
  injectRate: number;
  workers: number;
}

export interface AlertLatencyResult {
  options: AlertLatencyOptions;
  injected: number;
  paged: number;
  lost: number;
  /** alerts paged more than once at the first step, or the same delivery id received twice */
  duplicates: number;
  badSignatures: number;
  cloudAlerts: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; min: number };
  /** the same, split by trigger: SOS (one event) and fall + long lie (two events) */
  byTrigger: Record<string, { count: number; p50: number; p99: number; max: number }>;
  backgroundPerS: number;
  cpu: Record<string, number>;
  rssMiB: Record<string, number>;
}

export function parseAlertLatencyArgs(argv: string[]): AlertLatencyOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      devices: { type: 'string', default: '1000' }, falls: { type: 'string', default: '1000' },
      rate: { type: 'string', default: '1' }, 'inject-rate': { type: 'string', default: '10' },
      workers: { type: 'string', default: '2' },
    },
  });
  const num = (k: string, v: string | undefined): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${k} must be a positive number`);
    return n;
  };
  const o = {
    devices: Math.round(num('devices', values.devices)), falls: Math.round(num('falls', values.falls)),
    rate: num('rate', values.rate), injectRate: num('inject-rate', values['inject-rate']), workers: Math.round(num('workers', values.workers)),
  };
  // One alert per device: a second fall on a device whose alert is still open merges into
  // it (by design), which would read as a lost page here.
  if (o.falls > o.devices) throw new Error('--falls must not exceed --devices (one alert per device)');
  return o;
}

/** SOS for even devices, a radar fall confirmed by a long lie for odd ones. Returns the
 * time of the event that makes the alert urgent. */
async function injectOne(inject: Injector, deviceId: string, i: number): Promise<number> {
  if (i % 2 === 0) {
    const r = await inject(deviceId, [{ type: 'sos.pressed', severity: Severity.CRITICAL, message: 'SOS button pressed', attributes: { bench: '1' } }]);
    return r.atMs[0]!;
  }
  const fallId = `bench-${i}`;
  const r = await inject(deviceId, [
    { type: 'fall.detected', severity: Severity.WARNING, message: 'fall detected', attributes: { fall_id: fallId, source: 'radar' } },
    { type: 'fall.long_lie', severity: Severity.CRITICAL, message: 'still on the floor', attributes: { fall_id: fallId, lying_ms: '120000' } },
  ]);
  return r.atMs[1]!;
}

export async function measureAlertLatency(o: AlertLatencyOptions, progress: (line: string) => void = () => {}): Promise<AlertLatencyResult> {
  const receiver = new WebhookReceiver();
  let stack: Stack | undefined;
  try {
    await receiver.start();
    stack = await startStack({});
    const s = stack;
    progress(`alert-latency: registering ${o.devices} fall sensors…`);
    const devices = await registerDevices(s, [{ kind: DeviceKind.FALL_SENSOR, slug: KindSlug[DeviceKind.FALL_SENSOR] }], o.devices);
    progress('alert-latency: residents, a family member with a webhook channel…');
    receiver.secret = await setupCare(s, devices.map((d) => d.id), receiver.url);
    const pids = { broker: s.broker.proc.pid!, edge: s.edge!.proc.pid!, cloud: s.cloud.proc.pid! };
    const rss: Record<string, number> = { broker: 0, edge: 0, cloud: 0 };
    let cpu0: Record<string, number> = {};
    const t0 = new Map<string, number>();
    let injecting: Promise<void> = Promise.resolve();
    const injectMs = (o.falls / o.injectRate) * 1000;
    const durationMs = injectMs + 10_000;
    progress(`alert-latency: ${o.devices} devices × ${o.rate} msg/s in the background; injecting ${o.falls} alerts at ${o.injectRate}/s…`);
    let startedAt = 0;
    const run = await runLoad(devices, { mqttUrl: s.mqttUrl, ratePerDevice: o.rate, durationMs, qos: 1, connectConcurrency: 50 }, o.workers, (inject) => {
      startedAt = Date.now();
      cpu0 = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, procUsage(pid).cpuMs]));
      // 5 s of background load first, then one injection every 1/injectRate s.
      injecting = (async () => {
        await new Promise((r) => setTimeout(r, 5000));
        const pending: Promise<void>[] = [];
        const begin = Date.now();
        for (let i = 0; i < o.falls; i++) {
          const due = begin + (i * 1000) / o.injectRate;
          const wait = due - Date.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          const id = devices[i]!.id;
          // A generator gone mid-run: that device's alert is not counted as injected (nor lost).
          pending.push(injectOne(inject, id, i).then((at) => { t0.set(id, at); }, (err: Error) => progress(`alert-latency: ${err.message}`)));
          if (i % 50 === 0) for (const [k, pid] of Object.entries(pids)) rss[k] = Math.max(rss[k] ?? 0, procUsage(pid).rssBytes);
        }
        await Promise.all(pending);
      })();
    });
    await injecting;
    // The pages of the last injections may still be on their way.
    const deadline = Date.now() + 60_000;
    const firstPage = (): Map<string, number> => {
      const m = new Map<string, number>();
      for (const r of receiver.received) if (r.kind === 'page' && !m.has(r.deviceId)) m.set(r.deviceId, r.receivedAt);
      return m;
    };
    while (firstPage().size < t0.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    const windowS = (Date.now() - startedAt) / 1000;
    const cpu = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, (100 * (procUsage(pid).cpuMs - (cpu0[k] ?? 0))) / (windowS * 1000)]));
    const pages = firstPage();
    const latencies = [...t0].flatMap(([id, at]) => (pages.has(id) ? [pages.get(id)! - at] : [])).sort((a, b) => a - b);
    const byTrigger: AlertLatencyResult['byTrigger'] = {};
    for (const [name, parity] of [['sos', 0], ['fall + long lie', 1]] as const) {
      const l = devices.flatMap((d, i) => (i % 2 === parity && t0.has(d.id) && pages.has(d.id) ? [pages.get(d.id)! - t0.get(d.id)!] : [])).sort((a, b) => a - b);
      byTrigger[name] = { count: l.length, p50: percentile(l, 50), p99: percentile(l, 99), max: l.at(-1) ?? Number.NaN };
    }
    const pagesPerDevice = new Map<string, number>();
    const deliveries = new Map<string, number>();
    for (const r of receiver.received) {
      deliveries.set(r.deliveryId, (deliveries.get(r.deliveryId) ?? 0) + 1);
      if (r.kind === 'page') pagesPerDevice.set(r.deviceId, (pagesPerDevice.get(r.deviceId) ?? 0) + 1);
    }
    const duplicates = [...pagesPerDevice.values()].filter((n) => n > 1).length + [...deliveries.values()].filter((n) => n > 1).length;
    // Every alert the cloud holds, whatever its status: exactly one per injected fall.
    const alerts = await fetch(`${s.cloudUrl}/api/v1/care/metrics`, { headers: { authorization: `Bearer ${s.adminToken}` } })
      .then(async (r) => (r.ok ? Object.values(((await r.json()) as { alerts: Record<string, number> }).alerts).reduce((a, b) => a + b, 0) : -1));
    const published = run.results.reduce((a, r) => a + r.published, 0);
    return {
      options: o,
      injected: t0.size,
      paged: latencies.length,
      lost: t0.size - latencies.length,
      duplicates,
      badSignatures: receiver.received.filter((r) => !r.signatureOk).length,
      cloudAlerts: alerts,
      byTrigger,
      latencyMs: { p50: percentile(latencies, 50), p90: percentile(latencies, 90), p99: percentile(latencies, 99), max: latencies.at(-1) ?? Number.NaN, min: latencies[0] ?? Number.NaN },
      backgroundPerS: published / (run.publishWallMs / 1000),
      cpu: { ...cpu, generator: (100 * run.generatorCpuMs) / run.publishWallMs },
      rssMiB: Object.fromEntries(Object.entries(rss).map(([k, v]) => [k, v / 2 ** 20])),
    };
  } finally {
    await stack?.stop();
    await receiver.stop();
  }
}

export async function runAlertLatency(argv: string[]): Promise<AlertLatencyResult> {
  const o = parseAlertLatencyArgs(argv);
  const machine = describeMachine();
  const r = await measureAlertLatency(o, (line) => process.stderr.write(`${line}\n`));
  const t = table(
    ['injected', 'paged', 'lost', 'duplicated', 'p50 (ms)', 'p90 (ms)', 'p99 (ms)', 'max (ms)', 'background msg/s', 'CPU % broker / edge / cloud / generator', 'RSS MiB broker / edge / cloud'],
    [[r.injected, r.paged, r.lost, r.duplicates, r.latencyMs.p50, r.latencyMs.p90, r.latencyMs.p99, r.latencyMs.max, r.backgroundPerS,
      `${fmt(r.cpu.broker ?? 0)} / ${fmt(r.cpu.edge ?? 0)} / ${fmt(r.cpu.cloud ?? 0)} / ${fmt(r.cpu.generator ?? 0)}`,
      `${fmt(r.rssMiB.broker ?? 0)} / ${fmt(r.rssMiB.edge ?? 0)} / ${fmt(r.rssMiB.cloud ?? 0)}`]],
  );
  const split = Object.entries(r.byTrigger).map(([k, v]) => `${k}: p50 ${fmt(v.p50)} ms, p99 ${fmt(v.p99)} ms, max ${fmt(v.max)} ms (${v.count})`).join('; ');
  const md = `## alert-latency — device event → edge rules → cloud ladder → signed webhook\n\n${machineMarkdown(machine)}\n\nOptions: ${o.devices} fall sensors streaming telemetry at ${o.rate} msg/s each (QoS 1) in the background; ${o.falls} alerts injected at ${o.injectRate}/s, alternating SOS presses and radar falls confirmed by a long lie (both page at once: no cancel window). Latency runs from the moment the generator wrote the urgent event to its socket to the moment the family member's webhook received the first page; every signature was verified (${r.badSignatures} bad). The cloud held ${r.cloudAlerts} alerts at the end. Broker, edge and cloud each in its own process; the receiver and generators on the same 2 cores.\n\n${t}\n\nBy trigger: ${split}.\n`;
  process.stdout.write(`\n${md}\n`);
  const file = publish('alert-latency', md, { machine, result: r });
  process.stderr.write(`wrote BENCHMARKS.md and ${file}\n`);
  return r;
}
