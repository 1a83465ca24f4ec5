// npm run bench -- throughput [--publishers 100 --rate 1000 --duration 10 --rounds 3 --qos 0,1 --peers yulan,mosquitto,mosquitto-default]
// Fan-in, the edge's pattern: many authenticated publishers → one subscriber that reads
// everything. Yulan's broker (auth and ACL on) against Debian's Mosquitto 2.x (password
// file and ACL on), alternating in the same run; medians of the rounds and Yulan/peer ratios.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DeviceKind, KindSlug, generateSecret } from '@yulan/protos';
import { launchRedis } from '@yulan/testkit';
import { childPids } from './chaos-broker-kit.js';
import { runLoad } from './load.js';
import type { LoadDevice } from './load-protocol.js';
import { mosquittoAvailable, startMosquitto } from './mosquitto.js';
import { procUsage } from './procs.js';
import { describeMachine, fmt, machineMarkdown, publish, table } from './report.js';
import { registerDevices, startStack } from './stack.js';
import type { SubFromWorker, SubToWorker } from './subscriber-worker.js';

const SUB_WORKER = fileURLToPath(new URL('../dist/subscriber-worker.js', import.meta.url));
const PEERS = ['yulan', 'mosquitto', 'mosquitto-default', 'yulan-cluster', 'yulan-unbatched'] as const;
type Peer = (typeof PEERS)[number];
// --broker-workers N (N ≥ 2) adds the clustered broker: N workers sharing state through Redis.
let brokerWorkers = 0;
const LABEL: Record<Peer, string> = {
  get 'yulan-cluster'() { return `Yulan broker, ${brokerWorkers} workers + Redis`; },
  yulan: 'Yulan broker',
  'yulan-unbatched': 'Yulan broker, one writev per packet (YULAN_BROKER_BATCH_WRITES=false)',
  mosquitto: 'Mosquitto (max_inflight_messages 0)',
  'mosquitto-default': 'Mosquitto (defaults: 20 in flight)',
};

interface Round { peer: Peer; qos: 0 | 1; published: number; acked: number; received: number; perS: number; cpuUsPerMsg: number; lossPct: number }

interface Target { url: string; pids: () => number[]; sub: { clientId: string; username: string; password: string }; devices: LoadDevice[]; stop(): Promise<void> }

async function startTarget(peer: Peer, publishers: number): Promise<Target> {
  if (peer === 'yulan-cluster') {
    const redis = await launchRedis();
    const stack = await startStack(null, undefined, { brokerEnv: { YULAN_BROKER_WORKERS: String(brokerWorkers), YULAN_BROKER_REDIS_URL: redis.url } }).catch(async (err: unknown) => { await redis.dispose(); throw err; });
    const devices = await registerDevices(stack, [{ kind: DeviceKind.ENV_MONITOR, slug: KindSlug[DeviceKind.ENV_MONITOR] }], publishers);
    const primary = stack.broker.proc.pid!;
    // CPU of the whole clustered broker: primary, workers and redis-server.
    return { url: stack.mqttUrl, pids: () => [primary, ...childPids(primary), ...(redis.pid ? [redis.pid] : [])], sub: { clientId: 'edge:bench', username: 'edge', password: stack.edgeMqttPassword }, devices, stop: async () => { await stack.stop(); await redis.dispose(); } };
  }
  if (peer === 'yulan' || peer === 'yulan-unbatched') {
    const stack = await startStack(null, undefined, peer === 'yulan-unbatched' ? { brokerEnv: { YULAN_BROKER_BATCH_WRITES: 'false' } } : {});
    const devices = await registerDevices(stack, [{ kind: DeviceKind.ENV_MONITOR, slug: KindSlug[DeviceKind.ENV_MONITOR] }], publishers);
    return { url: stack.mqttUrl, pids: () => [stack.broker.proc.pid!], sub: { clientId: 'edge:bench', username: 'edge', password: stack.edgeMqttPassword }, devices, stop: () => stack.stop() };
  }
  const devices = Array.from({ length: publishers }, (_, i) => ({ id: `env-m${String(i).padStart(5, '0')}`, site: 'bench', kind: DeviceKind.ENV_MONITOR, secret: generateSecret() }));
  const m = await startMosquitto(devices, peer === 'mosquitto' ? { maxInflight: 0 } : {});
  return { url: m.url, pids: () => [m.pid], sub: m.subscriber, devices, stop: () => m.stop() };
}

function subscriber(url: string, sub: Target['sub'], qos: 0 | 1): Promise<{ report(): Promise<Extract<SubFromWorker, { type: 'count' }>>; stop(): void }> {
  const proc = fork(SUB_WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    proc.once('message', (m: SubFromWorker) => {
      if (m.type !== 'ready') { proc.kill(); reject(new Error(m.type === 'error' ? m.message : 'subscriber failed')); return; }
      resolve({
        report: () => new Promise((res) => {
          proc.once('message', (c: SubFromWorker) => res(c as Extract<SubFromWorker, { type: 'count' }>));
          proc.send({ type: 'report' } satisfies SubToWorker);
        }),
        stop: () => proc.kill(),
      });
    });
    proc.send({ type: 'start', url, ...sub, filter: 'yulan/v1/#', qos } satisfies SubToWorker);
  });
}

async function round(peer: Peer, qos: 0 | 1, o: { publishers: number; rate: number; durationS: number; workers: number }): Promise<Round> {
  const t = await startTarget(peer, o.publishers);
  try {
    const sub = await subscriber(t.url, t.sub, qos);
    try {
      let cpu0 = 0;
      const run = await runLoad(t.devices, { mqttUrl: t.url, ratePerDevice: o.rate, durationMs: o.durationS * 1000, qos, connectConcurrency: 50 }, o.workers, () => { cpu0 = cpuOf(t.pids()); });
      const published = run.results.reduce((a, r) => a + r.published, 0);
      const acked = run.results.reduce((a, r) => a + r.acked, 0);
      // Let the subscriber catch up: stop when nothing more arrives for a second.
      let last = -1;
      let c = await sub.report();
      for (let i = 0; i < 60 && c.received !== last && c.received < acked; i++) {
        last = c.received;
        await new Promise((r) => setTimeout(r, 1000));
        c = await sub.report();
      }
      const cpuMs = cpuOf(t.pids()) - cpu0;
      const seconds = Math.max(0.001, (c.lastAt - c.firstAt) / 1000);
      return { peer, qos, published, acked, received: c.received, perS: c.received / seconds, cpuUsPerMsg: (cpuMs * 1000) / Math.max(1, c.received), lossPct: (100 * Math.max(0, acked - c.received)) / Math.max(1, acked) };
    } finally {
      sub.stop();
    }
  } finally {
    await t.stop();
  }
}

const cpuOf = (pids: number[]): number => pids.reduce((a, p) => a + procUsage(p).cpuMs, 0);

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] ?? Number.NaN; };

export async function runThroughput(argv: string[]): Promise<Round[]> {
  const { values } = parseArgs({ args: argv, options: {
    publishers: { type: 'string', default: '100' }, rate: { type: 'string', default: '1000' }, duration: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' }, qos: { type: 'string', default: '0,1' }, workers: { type: 'string', default: '2' },
    peers: { type: 'string', default: 'yulan,mosquitto,mosquitto-default' }, 'broker-workers': { type: 'string', default: '0' },
  } });
  brokerWorkers = Number(values['broker-workers']);
  const o = { publishers: Number(values.publishers), rate: Number(values.rate), durationS: Number(values.duration), workers: Number(values.workers) };
  const rounds = Number(values.rounds);
  const qoses = String(values.qos).split(',').map(Number).filter((q): q is 0 | 1 => q === 0 || q === 1);
  let peers = String(values.peers).split(',') as Peer[];
  if (brokerWorkers >= 2 && !peers.includes('yulan-cluster')) peers.push('yulan-cluster');
  if (peers.includes('yulan-cluster') && brokerWorkers < 2) throw new Error('peer yulan-cluster needs --broker-workers N (N ≥ 2)');
  for (const p of peers) if (!PEERS.includes(p)) throw new Error(`unknown peer "${p}" (${PEERS.join(', ')})`);
  if (!mosquittoAvailable()) {
    if (process.env.CI === 'true') throw new Error('mosquitto not found: apt-get install mosquitto');
    process.stderr.write('mosquitto not found (apt-get install mosquitto): measuring Yulan alone\n');
    peers = peers.filter((p) => p.startsWith('yulan'));
  }
  const machine = describeMachine();
  const all: Round[] = [];
  for (const qos of qoses) {
    for (let r = 0; r < rounds; r++) {
      // Alternate the order each round so neither peer always runs on a warmer machine.
      for (const peer of r % 2 === 0 ? peers : [...peers].reverse()) {
        process.stderr.write(`throughput: QoS ${qos}, round ${r + 1}/${rounds}, ${peer}…\n`);
        all.push(await round(peer, qos, o));
      }
    }
  }
  const rows: (string | number)[][] = [];
  const ratios: string[] = [];
  for (const qos of qoses) {
    const med = (peer: Peer) => {
      const rs = all.filter((x) => x.peer === peer && x.qos === qos);
      return rs.length ? { perS: median(rs.map((x) => x.perS)), cpu: median(rs.map((x) => x.cpuUsPerMsg)), loss: median(rs.map((x) => x.lossPct)) } : undefined;
    };
    for (const peer of peers) {
      const m = med(peer);
      if (m) rows.push([`QoS ${qos}`, LABEL[peer], m.perS, m.cpu, `${fmt(m.loss)} %`]);
    }
    const y = med('yulan');
    for (const peer of peers.filter((p) => p !== 'yulan')) {
      const m = med(peer);
      if (y && m) ratios.push(`QoS ${qos}: Yulan / ${LABEL[peer]} = ${fmt(y.perS / m.perS)}× throughput, ${fmt(y.cpu / m.cpu)}× CPU per message`);
    }
  }
  const clustered = peers.includes('yulan-cluster');
  const clusterNote = clustered
    ? ` The clustered broker runs YULAN_BROKER_WORKERS=${brokerWorkers} processes sharing the ports (node:cluster) and state through a local redis-server (no AOF); its CPU column is primary + workers + redis-server.`
    : '';
  // The clustered comparison and Yulan-only variant runs have their own sections, so they
  // never replace the Mosquitto one.
  const section = clustered ? 'throughput-cluster' : peers.some((p) => p.startsWith('mosquitto')) ? 'throughput' : 'throughput-variants';
  const md = `## throughput${clustered ? ' (clustered broker)' : section === 'throughput-variants' ? ' (Yulan variants)' : ''} — fan-in, ${o.publishers} publishers → 1 subscriber\n\n${machineMarkdown(machine)}\n\nOptions: ${o.publishers} authenticated publishers × up to ${o.rate} msg/s each (protobuf telemetry, ~90-byte payloads), ${o.durationS} s per round, medians of ${rounds} alternating rounds; one subscriber reading \`yulan/v1/#\` at the same QoS; ACL and per-device passwords on both brokers. "received/s" is measured at the subscriber; "loss" counts publisher-acknowledged messages that never reached it.${clusterNote}\n\n${table(['QoS', 'broker', 'received/s', 'broker CPU µs/msg', 'loss'], rows)}\n\n${ratios.join('  \n')}\n`;
  process.stdout.write(`\n${md}\n`);
  const file = publish(section, md, { machine, options: { ...o, rounds, qoses, peers }, rounds: all });
  process.stderr.write(`wrote BENCHMARKS.md and ${file}\n`);
  return all;
}
