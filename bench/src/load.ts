import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { DeviceResult, FromWorker, InjectEvent, LoadDevice, LoadJob, StormStats, ToWorker } from './load-protocol.js';

// Always the compiled worker (from src/ under vitest and from dist/ alike): it is forked
// with plain node.
const WORKER = fileURLToPath(new URL('../dist/load-worker.js', import.meta.url));

export interface LoadRun {
  connectMs: number;
  connectFailed: number;
  results: DeviceResult[];
  generatorCpuMs: number;
  publishWallMs: number;
  publishStartedAt: number;
  /** Reconnecting jobs: what bringing dropped devices back took, all workers together. */
  storm?: StormStats;
}

function mergeStorm(parts: (StormStats | undefined)[]): StormStats | undefined {
  const xs = parts.filter((x): x is StormStats => x !== undefined);
  if (xs.length === 0) return undefined;
  const add = (pick: (x: StormStats) => Record<string, number>): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const x of xs) for (const [k, v] of Object.entries(pick(x))) out[k] = (out[k] ?? 0) + v;
    return out;
  };
  return {
    drops: xs.reduce((a, x) => a + x.drops, 0),
    reconnected: xs.reduce((a, x) => a + x.reconnected, 0),
    reconnectMs: xs.flatMap((x) => x.reconnectMs),
    attempts: xs.reduce((a, x) => a + x.attempts, 0),
    failures: add((x) => x.failures),
    dropCauses: add((x) => x.dropCauses),
  };
}

function once(proc: ChildProcess, type: FromWorker['type']): Promise<FromWorker> {
  return new Promise((resolve, reject) => {
    const onMsg = (m: FromWorker): void => {
      if (m.type === 'error') { cleanup(); reject(new Error(`load worker: ${m.message}`)); }
      else if (m.type === type) { cleanup(); resolve(m); }
    };
    const onExit = (code: number | null): void => { cleanup(); reject(new Error(`load worker exited (${code})`)); };
    const cleanup = (): void => { proc.off('message', onMsg); proc.off('exit', onExit); };
    proc.on('message', onMsg);
    proc.once('exit', onExit);
  });
}

/** Publishes events from one device of a running load; resolves with their seqs and the
 * generator's clock at the moment each was written to the socket. */
export type Injector = (deviceId: string, events: InjectEvent[]) => Promise<{ seqs: number[]; atMs: number[] }>;

/** Spreads devices over `workers` generator processes, connects them all, then publishes
 * for the job's duration. `onPublishing` runs once every worker has started publishing,
 * with an injector for device events during the run. */
export async function runLoad(devices: LoadDevice[], job: Omit<LoadJob, 'devices'>, workers: number, onPublishing?: (inject: Injector) => void): Promise<LoadRun> {
  const procs = Array.from({ length: workers }, () => fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  let stopping = false;
  for (const p of procs) {
    // A generator that dies mid-run (killed from outside: the machine is shared) must not
    // take the harness down with an unhandled IPC error; say how it ended instead.
    p.on('error', (err) => process.stderr.write(`load worker ${p.pid}: ${err.message}\n`));
    p.on('exit', (code, signal) => {
      if (!stopping) process.stderr.write(`load worker ${p.pid} exited early (code ${code}, signal ${signal})\n`);
    });
  }
  try {
    const shares = procs.map((_, w) => devices.filter((_, i) => i % workers === w));
    const connected = procs.map((p) => once(p, 'connected'));
    procs.forEach((p, w) => p.send({ type: 'start', job: { ...job, devices: shares[w]! } } satisfies ToWorker));
    const c = (await Promise.all(connected)) as Extract<FromWorker, { type: 'connected' }>[];
    const done = procs.map((p) => once(p, 'done'));
    const publishStartedAt = Date.now();
    procs.forEach((p) => p.send({ type: 'publish' } satisfies ToWorker));
    const owner = new Map<string, ChildProcess>();
    shares.forEach((share, w) => { for (const d of share) owner.set(d.id, procs[w]!); });
    const waiting = new Map<number, (r: { seqs: number[]; atMs: number[] }) => void>();
    let ref = 0;
    for (const p of procs) {
      p.on('message', (m: FromWorker) => {
        if (m.type !== 'injected') return;
        waiting.get(m.ref)?.({ seqs: m.seqs, atMs: m.atMs });
        waiting.delete(m.ref);
      });
    }
    const injector: Injector = (deviceId, events) => {
      const p = owner.get(deviceId);
      if (!p) return Promise.reject(new Error(`inject: unknown device ${deviceId}`));
      const r = ++ref;
      if (!p.connected) return Promise.reject(new Error(`inject: the load worker of ${deviceId} is gone`));
      return new Promise((resolve) => {
        waiting.set(r, resolve);
        p.send({ type: 'inject', ref: r, deviceId, events } satisfies ToWorker);
      });
    };
    onPublishing?.(injector);
    const d = (await Promise.all(done)) as Extract<FromWorker, { type: 'done' }>[];
    return {
      connectMs: Math.max(...c.map((x) => x.connectMs)),
      connectFailed: c.reduce((a, x) => a + x.failed, 0),
      results: d.flatMap((x) => x.results),
      generatorCpuMs: d.reduce((a, x) => a + x.cpuUserMs + x.cpuSystemMs, 0),
      publishWallMs: Math.max(...d.map((x) => x.wallMs)),
      publishStartedAt,
      ...(job.reconnect ? { storm: mergeStorm(d.map((x) => x.storm)) } : {}),
    };
  } finally {
    stopping = true;
    for (const p of procs) if (p.exitCode === null) p.send({ type: 'stop' } satisfies ToWorker, () => undefined);
  }
}
