// npm run bench -- connections [--steps 10000,19000,30000,60000,100000 --peers yulan,mosquitto
//   --keepalive 60 --hold 65 --auth-sample 200 --auth-concurrency 10 --concurrency 100 --broker-workers N --retries 0]
// --retries N: a device whose connect fails tries again up to N times (jittered, growing
// waits), as field devices do; 0 (the default) measures first attempts only.
// Idle devices (authenticated, keep-alive only): ramps through the steps until connects fail,
// measuring connect rate and broker memory per connection (RSS delta / connections), Yulan
// vs Mosquitto with the same generator, one peer after the other.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DeviceKind, KindSlug } from '@yulan/protos';
import type { ConnFromWorker, ConnToWorker } from './conn-worker.js';
import { fleetDevices, openFiles, seedRegistry, sourceAddress, treeUsage } from './fleet.js';
import type { LoadDevice } from './load-protocol.js';
import { mosquittoAvailable, startMosquitto } from './mosquitto.js';
import { describeMachine, fmt, machineMarkdown, publish, table } from './report.js';
import { getJson, registerDevices, startStack } from './stack.js';
import { startRedisFor } from './cluster.js';

const CONN_WORKER = fileURLToPath(new URL('../dist/conn-worker.js', import.meta.url));
/** Sockets per generator process: the open-file limit is 20,000, keep room for the rest. */
export const PER_GENERATOR = 18_000;
const PEERS = ['yulan', 'mosquitto'] as const;
type Peer = (typeof PEERS)[number];

export interface ConnectionsOptions { steps: number[]; peers: Peer[]; keepaliveS: number; holdS: number; authSample: number; authConcurrency: number; concurrency: number; brokerWorkers: number; retries: number }

export interface ConnStep {
  target: number; connected: number; failed: number; errors: Record<string, number>; onRetry: number;
  connectS: number; connectsPerS: number; rssMiB: number; kibPerConn: number; brokerCpuPct: number;
  brokerReports: number | undefined; openFiles: number; fileLimit: number;
}
export interface PeerResult { peer: Peer; baselineMiB: number; steps: ConnStep[]; held: { seconds: number; alive: number; of: number }; limit: string; authSample?: { devices: number; perS: number; failed: number } }

export function parseConnectionsArgs(argv: string[]): ConnectionsOptions {
  const { values } = parseArgs({ args: argv, options: {
    steps: { type: 'string', default: '10000,19000,30000,60000,100000' }, peers: { type: 'string', default: PEERS.join(',') },
    keepalive: { type: 'string', default: '60' }, hold: { type: 'string', default: '65' }, 'auth-sample': { type: 'string', default: '200' }, 'auth-concurrency': { type: 'string', default: '10' },
    concurrency: { type: 'string', default: '100' }, 'broker-workers': { type: 'string', default: '0' }, retries: { type: 'string', default: '0' },
  } });
  const steps = String(values.steps).split(',').map(Number);
  if (steps.some((s) => !Number.isInteger(s) || s <= 0)) throw new Error('--steps takes positive integers, e.g. 10000,20000');
  const peers = String(values.peers).split(',') as Peer[];
  for (const p of peers) if (!PEERS.includes(p)) throw new Error(`unknown peer "${p}" (${PEERS.join(', ')})`);
  const n = (v: unknown): number => Number(v);
  return { steps: [...steps].sort((a, b) => a - b), peers, keepaliveS: n(values.keepalive), holdS: n(values.hold), authSample: n(values['auth-sample']), authConcurrency: n(values['auth-concurrency']), concurrency: n(values.concurrency), brokerWorkers: n(values['broker-workers']), retries: n(values.retries) };
}

export class Generators {
  private procs: { proc: ChildProcess; held: number }[] = [];
  /** `ca`: PEM the broker's certificate must chain to, for an mqtts:// url. */
  constructor(private readonly url: string, private readonly o: ConnectionsOptions, private readonly ca?: string) {}

  private ask(proc: ChildProcess, msg: ConnToWorker): Promise<Extract<ConnFromWorker, { type: 'opened' }>> {
    return new Promise((resolve, reject) => {
      proc.once('message', (m: ConnFromWorker) => (m.type === 'opened' ? resolve(m) : reject(new Error(m.message))));
      proc.send(msg);
    });
  }

  /** Opens these devices, filling each generator up to PER_GENERATOR before adding one. */
  async open(devices: LoadDevice[], retries = this.o.retries): Promise<{ ok: number; failed: number; onRetry: number; errors: Record<string, number>; ms: number }> {
    const jobs: Promise<Extract<ConnFromWorker, { type: 'opened' }>>[] = [];
    let i = 0;
    while (i < devices.length) {
      let g = this.procs.find((p) => p.held < PER_GENERATOR);
      if (!g) {
        g = { proc: fork(CONN_WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }), held: 0 };
        this.procs.push(g);
      }
      const share = devices.slice(i, i + PER_GENERATOR - g.held);
      i += share.length;
      g.held += share.length;
      const localAddress = sourceAddress(this.procs.indexOf(g));
      jobs.push(this.ask(g.proc, { type: 'open', url: this.url, devices: share, localAddress, keepaliveS: this.o.keepaliveS, concurrency: this.o.concurrency, retries, ...(this.ca ? { ca: this.ca } : {}) }));
    }
    const rs = await Promise.all(jobs);
    const errors: Record<string, number> = {};
    for (const r of rs) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
    return { ok: rs.reduce((a, r) => a + r.ok, 0), failed: rs.reduce((a, r) => a + r.failed, 0), onRetry: rs.reduce((a, r) => a + r.onRetry, 0), errors, ms: Math.max(0, ...rs.map((r) => r.ms)) };
  }

  async alive(): Promise<number> {
    const rs = await Promise.all(this.procs.map((p) => this.ask(p.proc, { type: 'open', url: this.url, devices: [], keepaliveS: this.o.keepaliveS, concurrency: 1 })));
    return rs.reduce((a, r) => a + r.alive, 0);
  }

  stop(): void {
    for (const p of this.procs) if (p.proc.exitCode === null) p.proc.kill('SIGKILL');
  }
}

interface Target { url: string; pid: number; reports?: () => Promise<number>; stop(): Promise<void>; authSample?: (n: number) => Promise<LoadDevice[]> }

async function startTarget(peer: Peer, devices: LoadDevice[], o: ConnectionsOptions): Promise<Target> {
  if (peer === 'mosquitto') {
    const m = await startMosquitto(devices);
    return { url: m.url, pid: m.pid, stop: () => m.stop() };
  }
  const redis = o.brokerWorkers > 0 ? await startRedisFor(o.brokerWorkers) : undefined;
  try {
    const stack = await startStack(null, [], { brokerEnv: redis?.env ?? {} });
    seedRegistry(stack, devices);
    return {
      url: stack.mqttUrl, pid: stack.broker.proc.pid!,
      reports: async () => (await getJson<{ connections: { current: number } }>(`${stack.brokerHttpUrl}/metrics`, stack.brokerToken)).connections.current,
      authSample: (n) => registerDevices(stack, [{ kind: DeviceKind.FALL_SENSOR, slug: KindSlug[DeviceKind.FALL_SENSOR] }], n, 'auth'),
      stop: async () => { await stack.stop(); await redis?.stop(); },
    };
  } catch (err) {
    await redis?.stop();
    throw err;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function runPeer(peer: Peer, devices: LoadDevice[], o: ConnectionsOptions, progress: (l: string) => void): Promise<PeerResult> {
  const t = await startTarget(peer, devices, o);
  const gens = new Generators(t.url, o);
  try {
    let authSample: PeerResult['authSample'];
    if (t.authSample && o.authSample > 0) {
      // Production hashing (scrypt 2^14) at registration and first CONNECT, in its own
      // generator process that is closed again before the ramp.
      progress(`connections: ${peer}: ${o.authSample} devices with production-strength secrets…`);
      const sample = await t.authSample(o.authSample);
      const g = new Generators(t.url, { ...o, concurrency: o.authConcurrency });
      const r = await g.open(sample, 0);
      g.stop();
      authSample = { devices: sample.length, perS: r.ok / (r.ms / 1000), failed: r.failed };
      await sleep(2000);
    }
    const baseline = treeUsage(t.pid).rssBytes;
    const steps: ConnStep[] = [];
    let opened = 0;
    let limit = `not reached (largest step ${fmt(o.steps.at(-1) ?? 0)})`;
    for (const target of o.steps) {
      progress(`connections: ${peer}: ramping to ${fmt(target)}…`);
      const cpu0 = treeUsage(t.pid).cpuMs;
      const r = await gens.open(devices.slice(opened, target));
      const cpuMs = treeUsage(t.pid).cpuMs - cpu0;
      opened = target;
      await sleep(3000);
      const connected = await gens.alive();
      const rss = treeUsage(t.pid).rssBytes;
      const files = openFiles(t.pid);
      steps.push({
        target, connected, failed: r.failed, errors: r.errors, onRetry: r.onRetry, connectS: r.ms / 1000, connectsPerS: r.ok / Math.max(0.001, r.ms / 1000),
        rssMiB: rss / 2 ** 20, kibPerConn: (rss - baseline) / 1024 / Math.max(1, connected), brokerCpuPct: (100 * cpuMs) / Math.max(1, r.ms),
        brokerReports: await t.reports?.().catch(() => undefined), openFiles: files.open, fileLimit: files.limit,
      });
      progress(`connections: ${peer}: ${fmt(connected)} connected (${fmt(r.onRetry)} on a retry), ${fmt(r.failed)} failed; failed attempts ${JSON.stringify(r.errors)}`);
      if (r.failed > 0.01 * (r.ok + r.failed)) {
        limit = `${fmt(connected)} connections: ${fmt(r.failed)} of the last ${fmt(r.ok + r.failed)} devices could not connect${o.retries > 0 ? ` in ${o.retries + 1} attempts` : ''} (failed attempts: ${Object.entries(r.errors).map(([k, v]) => `${k} ×${fmt(v)}`).join(', ')}); broker open files ${fmt(files.open)} of ${fmt(files.limit)}`;
        break;
      }
    }
    const of = await gens.alive();
    progress(`connections: ${peer}: holding ${fmt(of)} idle connections for ${o.holdS} s…`);
    await sleep(o.holdS * 1000);
    const alive = await gens.alive();
    return { peer, baselineMiB: baseline / 2 ** 20, steps, held: { seconds: o.holdS, alive, of }, limit, ...(authSample ? { authSample } : {}) };
  } finally {
    gens.stop();
    await t.stop();
  }
}

export async function measureConnections(o: ConnectionsOptions, progress: (l: string) => void = () => {}): Promise<PeerResult[]> {
  const devices = fleetDevices([{ kind: DeviceKind.ENV_MONITOR, count: o.steps.at(-1) ?? 0 }]);
  const out: PeerResult[] = [];
  for (const peer of o.peers) out.push(await runPeer(peer, devices, o, progress));
  return out;
}

export async function runConnections(argv: string[]): Promise<PeerResult[]> {
  const o = parseConnectionsArgs(argv);
  if (o.peers.includes('mosquitto') && !mosquittoAvailable()) {
    process.stderr.write('mosquitto not found (apt-get install mosquitto): measuring Yulan alone\n');
    o.peers = o.peers.filter((p) => p !== 'mosquitto');
  }
  const machine = describeMachine();
  const results = await measureConnections(o, (l) => process.stderr.write(`${l}\n`));
  const label = (p: Peer): string => (p === 'yulan' ? `Yulan broker${o.brokerWorkers > 0 ? ` (${o.brokerWorkers} workers + Redis)` : ''}` : 'Mosquitto');
  const rows = results.flatMap((r) => r.steps.map((s) => [label(r.peer), s.target, s.connected, s.failed, s.onRetry, s.connectsPerS, s.rssMiB, s.kibPerConn, s.brokerCpuPct, `${fmt(s.openFiles)} / ${fmt(s.fileLimit)}`]));
  const ratios: string[] = [];
  const [y, m] = [results.find((r) => r.peer === 'yulan'), results.find((r) => r.peer === 'mosquitto')];
  for (const s of y?.steps ?? []) {
    const ms = m?.steps.find((x) => x.target === s.target);
    if (ms && s.failed === 0 && ms.failed === 0) ratios.push(`${fmt(s.target)} connections: Yulan / Mosquitto = ${fmt(s.kibPerConn / ms.kibPerConn)}× memory per connection, ${fmt(s.connectsPerS / ms.connectsPerS)}× connect rate`);
  }
  const notes = results.map((r) => `- ${label(r.peer)}: baseline RSS ${fmt(r.baselineMiB)} MiB; limit: ${r.limit}; after ${r.held.seconds} s idle ${fmt(r.held.alive)} of ${fmt(r.held.of)} connections still open${r.authSample ? `; with production scrypt secrets (registered through the API), ${fmt(r.authSample.devices)} first connects, ${o.authConcurrency} in flight: ${fmt(r.authSample.perS)}/s accepted, ${fmt(r.authSample.failed)} refused` : ''}.`);
  const title = o.brokerWorkers > 0 ? `connections (clustered broker, ${o.brokerWorkers} workers)` : 'connections';
  const md = `## ${title} — idle devices${o.peers.length > 1 ? ', Yulan vs Mosquitto' : ''}\n\n${machineMarkdown(machine)}\n\nOptions: steps ${o.steps.map(fmt).join(', ')}; keep-alive ${o.keepaliveS} s; ${o.concurrency} connects in flight per generator process, ≤ ${fmt(PER_GENERATOR)} sockets per generator, each generator on its own 127.0.x.y source address; peers one after the other (${o.peers.join(', ')}); ${o.retries > 0 ? `a device whose connect fails retries up to ${o.retries} times after jittered waits of 1–3 s × attempt, as field devices do ("failed": devices never connected; "on a retry": connected on a later attempt)` : 'first attempts only, no retries'}. Every device has its own password (Yulan: cloud registry, secrets seeded with scrypt N=2^4 — see the auth sample for production hashing; Mosquitto: password file + ACL). Memory is broker RSS (process tree) minus its idle baseline, per connection; "connects/s" is the step's new connections over its wall time; CPU is the broker's share of one core during the step.\n\n${table(['broker', 'step', 'connected', 'failed', 'on a retry', 'connects/s', 'RSS MiB', 'KiB / connection', 'broker CPU %', 'open files / limit'], rows)}\n\n${notes.join('\n')}\n\n${ratios.join('  \n')}\n`;
  process.stdout.write(`\n${md}\n`);
  const file = publish(o.brokerWorkers > 0 ? 'connections-cluster' : 'connections', md, { machine, options: o, results });
  process.stderr.write(`wrote BENCHMARKS.md and ${file}\n`);
  return results;
}
