// npm run bench -- reconnect-storm [--devices 10000 --every 30 --duration 150 --at 30 --policies fixed,backoff --base-ms 1000 --cap-ms 32000 --workers 2]
// A fleet connected and reporting, then the broker SIGKILLed and restarted at once: every
// device is dropped in the same second and comes back per its reconnect policy. Measures
// how long the fleet takes to come back, what the attempts cost (refusals, timeouts), how
// the broker's event loop and the cloud's device auth hold up, and that nothing a device
// had acknowledged after the restart is lost. Policies run one after the other on fresh
// stacks, same fleet, same machine.
import { parseArgs } from 'node:util';
import { DeviceKind } from '@yulan/protos';
import { fleetDevices, seedRegistry, timedJson, treeUsage } from './fleet.js';
import { runLoad } from './load.js';
import type { StormStats } from './load-protocol.js';
import { parsePolicy, type ReconnectJob, type ReconnectPolicy } from './reconnect-policy.js';
import { describeMachine, fmt, machineMarkdown, percentile, publish, table } from './report.js';
import { getJson, startStack, type Stack } from './stack.js';
import { readBack } from './verify.js';

export interface StormOptions {
  devices: number; everyS: number; durationS: number; atS: number; policies: ReconnectPolicy[];
  baseMs: number; capMs: number; workers: number;
}

export interface StormResult {
  policy: ReconnectPolicy; devices: number; connected: number;
  storm: StormStats;
  /** Seconds from the kill: p50 / p90 / p99 / max of the devices' reconnects. */
  backS: { p50: number; p90: number; p99: number; max: number };
  /** Broker down → healthy again (process start), s. */
  restartS: number;
  brokerMetricsMaxMs: number; brokerCpuS: number; cloudCpuS: number;
  /** The restarted broker's counts: live sessions closed by a newer CONNECT of the same id,
   * and CONNECTs refused as stale (see broker/README.md). */
  sessionsReplaced: number; connectsAbandoned: number;
  acked: number; stored: number; duplicates: number;
  /** Acknowledged but not stored: before the device's drop (in the killed broker's memory) / after it. */
  lostBeforeDrop: number; lostAfterDrop: number;
}

export function parseStormArgs(argv: string[]): StormOptions {
  const { values } = parseArgs({ args: argv, options: {
    devices: { type: 'string', default: '10000' }, every: { type: 'string', default: '30' }, duration: { type: 'string', default: '150' },
    at: { type: 'string', default: '30' }, policies: { type: 'string', default: 'fixed,backoff' }, 'base-ms': { type: 'string', default: '1000' },
    'cap-ms': { type: 'string', default: '32000' }, workers: { type: 'string', default: '2' },
  } });
  const o: StormOptions = {
    devices: Number(values.devices), everyS: Number(values.every), durationS: Number(values.duration), atS: Number(values.at),
    policies: String(values.policies).split(',').map(parsePolicy), baseMs: Number(values['base-ms']), capMs: Number(values['cap-ms']), workers: Number(values.workers),
  };
  if (!(o.devices > 0) || !(o.everyS > 0) || !(o.baseMs > 0) || !(o.capMs >= o.baseMs)) throw new Error('--devices, --every, --base-ms must be positive and --cap-ms ≥ --base-ms');
  if (!(o.atS > 0 && o.atS < o.durationS)) throw new Error('--at must fall inside the load (0 < at < duration)');
  return o;
}

const KINDS = [DeviceKind.EV_CHARGER, DeviceKind.PARCEL_LOCKER, DeviceKind.FALL_SENSOR, DeviceKind.ENV_MONITOR];

async function runPolicy(policy: ReconnectPolicy, o: StormOptions, progress: (l: string) => void): Promise<StormResult> {
  const devices = fleetDevices(KINDS.map((kind) => ({ kind, count: Math.ceil(o.devices / KINDS.length), rate: 1 / o.everyS })), 'storm');
  let stack: Stack | undefined;
  try {
    stack = await startStack({});
    const s = stack;
    seedRegistry(s, devices);
    const reconnect: ReconnectJob = { policy, baseMs: o.baseMs, capMs: o.capMs };
    const addrs = Array.from({ length: Math.ceil(devices.length / 25_000) }, (_, i) => `127.0.2.${i + 1}`);
    let killedAt = 0;
    let restartS = Number.NaN;
    let brokerMetricsMaxMs = 0;
    let cloudCpu0 = 0;
    let sampling: NodeJS.Timeout | undefined;
    let fault: Promise<void> = Promise.resolve();
    progress(`reconnect-storm (${policy}): ${fmt(devices.length)} devices every ${o.everyS} s for ${o.durationS} s; broker SIGKILLed at ${o.atS} s…`);
    const run = await runLoad(devices, {
      mqttUrl: s.mqttUrl, ratePerDevice: 0, durationMs: o.durationS * 1000, qos: 1, connectConcurrency: 100, keepaliveS: 60, tickMs: 100,
      localAddresses: addrs, connectTimeoutMs: 10_000, reconnect,
    }, Math.max(o.workers, Math.ceil(devices.length / 18_000)), () => {
      fault = (async () => {
        await new Promise((r) => setTimeout(r, o.atS * 1000));
        cloudCpu0 = treeUsage(s.cloud.proc.pid!).cpuMs;
        progress(`reconnect-storm (${policy}): SIGKILL broker (pid ${s.broker.proc.pid})`);
        killedAt = Date.now();
        s.broker.proc.kill('SIGKILL');
        await s.restartBroker();
        restartS = (Date.now() - killedAt) / 1000;
        // The broker's event loop while the fleet comes back (its HTTP shares the loop).
        sampling = setInterval(() => void timedJson(`${s.brokerHttpUrl}/metrics`, s.brokerToken).then((r) => { brokerMetricsMaxMs = Math.max(brokerMetricsMaxMs, r.ms); }), 1000);
      })();
    });
    await fault;
    clearInterval(sampling);
    const brokerCpuS = treeUsage(s.broker.proc.pid!).cpuMs / 1000;
    const cloudCpuS = (treeUsage(s.cloud.proc.pid!).cpuMs - cloudCpu0) / 1000;
    const bm = await getJson<{ sessionsReplaced: number; connectsAbandoned: number }>(`${s.brokerHttpUrl}/metrics`, s.brokerToken);
    const storm = run.storm ?? { drops: 0, reconnected: 0, reconnectMs: [], attempts: 0, failures: {}, dropCauses: {} };
    const acked = run.results.reduce((a, r) => a + r.acked, 0);
    const doneAt = Date.now();
    let m = await getJson<{ received: number; duplicates: number; outboxDepth: number }>(`${s.edgeUrl}/metrics`, s.edgeToken);
    while ((m.received - m.duplicates < acked || m.outboxDepth > 0) && Date.now() < doneAt + 120_000) {
      await new Promise((r) => setTimeout(r, 500));
      m = await getJson(`${s.edgeUrl}/metrics`, s.edgeToken);
    }
    progress(`reconnect-storm (${policy}): reading back ${fmt(run.results.length)} devices…`);
    const { stored, duplicates, lost, lostBeforeDrop } = await readBack(s.edgeUrl, s.edgeToken, run.results);
    const lostAfterDrop = lost - lostBeforeDrop;
    const back = [...storm.reconnectMs].sort((a, b) => a - b).map((ms) => ms / 1000);
    return {
      policy, devices: devices.length, connected: run.results.length, storm,
      backS: { p50: percentile(back, 50), p90: percentile(back, 90), p99: percentile(back, 99), max: back.at(-1) ?? Number.NaN },
      restartS, brokerMetricsMaxMs, brokerCpuS, cloudCpuS, sessionsReplaced: bm.sessionsReplaced, connectsAbandoned: bm.connectsAbandoned, acked, stored, duplicates, lostBeforeDrop, lostAfterDrop,
    };
  } finally {
    await stack?.stop();
  }
}

export async function measureStorm(o: StormOptions, progress: (l: string) => void = () => {}): Promise<StormResult[]> {
  const out: StormResult[] = [];
  for (const p of o.policies) out.push(await runPolicy(p, o, progress));
  return out;
}

const POLICY_LABEL: Record<ReconnectPolicy, (o: StormOptions) => string> = {
  fixed: (o) => `fixed ${fmt(o.baseMs / 1000)} s`,
  backoff: (o) => `back-off ${fmt(o.baseMs / 1000)}–${fmt(o.capMs / 1000)} s, full jitter`,
};

export async function runReconnectStorm(argv: string[]): Promise<StormResult[]> {
  const o = parseStormArgs(argv);
  const machine = describeMachine();
  const results = await measureStorm(o, (l) => process.stderr.write(`${l}\n`));
  const rows = results.map((r) => {
    const f = r.storm.failures;
    const other = Object.entries(f).filter(([k]) => k !== 'connack-3' && k !== 'timeout').map(([k, v]) => `${k} ${fmt(v)}`).join(', ') || '0';
    const causes = Object.entries(r.storm.dropCauses).map(([k, v]) => `${k} ${fmt(v)}`).join(', ');
    return [POLICY_LABEL[r.policy](o), r.connected, `${fmt(r.storm.drops)}${causes ? ` (${causes})` : ''}`, r.storm.reconnected,
      `${fmt(r.backS.p50)} / ${fmt(r.backS.p90)} / ${fmt(r.backS.p99)} / ${fmt(r.backS.max)}`,
      r.storm.attempts, f['connack-3'] ?? 0, f.timeout ?? 0, other, `${fmt(r.sessionsReplaced)} / ${fmt(r.connectsAbandoned)}`, r.brokerMetricsMaxMs, `${fmt(r.brokerCpuS)} / ${fmt(r.cloudCpuS)}`,
      r.acked, r.stored, `${fmt(r.lostBeforeDrop)} / ${fmt(r.lostAfterDrop)}`, r.duplicates];
  });
  const t = table(['reconnect policy', 'connected', 'dropped (how the socket ended)', 'back', 'back after (s) p50 / p90 / p99 / max', 'attempts', 'refused: server unavailable', 'CONNACK timeouts',
    'other failures', 'broker: sessions replaced / stale CONNECTs refused', 'broker /metrics max ms', 'CPU s broker / cloud (storm)', 'acked', 'stored', 'lost before / after the drop', 'dupes'], rows);
  const [a, b] = results;
  const ratio = a && b ? `\n\n${POLICY_LABEL[a.policy](o)} / ${POLICY_LABEL[b.policy](o)}: ${fmt(a.backS.max / b.backS.max)}× time until every device was back, ${fmt(a.storm.attempts / Math.max(1, b.storm.attempts))}× connect attempts, ${fmt(a.brokerMetricsMaxMs / Math.max(1, b.brokerMetricsMaxMs))}× the broker's slowest /metrics answer.` : '';
  const md = `## reconnect-storm — broker SIGKILLed under a connected fleet, every device back per its policy\n\n${machineMarkdown(machine)}\n\nOptions: ${fmt(results[0]?.devices ?? o.devices)} devices (the four kinds in equal shares), one QoS 1 reading every ${o.everyS} s each, keep-alive 60 s, ${o.durationS} s; the broker (single process, in-memory sessions) SIGKILLed ${o.atS} s in and restarted at once; CONNACK timeout 10 s per attempt; devices resend unacknowledged messages (DUP) after reconnecting and keep what fell due while offline; devices seeded into the registry (see connections), so each reconnect costs the cloud one cheap device-auth check (the restarted broker's auth cache is empty). "back after" is from the device's drop to its CONNACK. "lost before the drop" counts messages acknowledged before the kill that were still in the killed broker's memory (the in-memory mode's documented loss; Redis persistence keeps them); "after" must be 0. A device dropped more often than once was closed again after it was back: the broker counts live sessions replaced by a newer CONNECT of the same id (before the fix of 2026-11-29: an attempt the device had already given up on, read late from the broker's listen backlog). CPU is the restarted broker's whole life and the cloud's from the kill to the end.\n\n${t}${ratio}\n`;
  process.stdout.write(`\n${md}\n`);
  const file = publish('reconnect-storm', md, { machine, options: o, results: results.map((r) => ({ ...r, storm: { ...r.storm, reconnectMs: undefined } })) });
  process.stderr.write(`wrote BENCHMARKS.md and ${file}\n`);
  return results;
}
