import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { DeviceResult, FromWorker, LoadDevice, LoadJob, ToWorker } from './load-protocol.js';

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

/** Spreads devices over `workers` generator processes, connects them all, then publishes
 * for the job's duration. `onPublishing` runs once every worker has started publishing. */
export async function runLoad(devices: LoadDevice[], job: Omit<LoadJob, 'devices'>, workers: number, onPublishing?: () => void): Promise<LoadRun> {
  const procs = Array.from({ length: workers }, () => fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  try {
    const shares = procs.map((_, w) => devices.filter((_, i) => i % workers === w));
    const connected = procs.map((p) => once(p, 'connected'));
    procs.forEach((p, w) => p.send({ type: 'start', job: { ...job, devices: shares[w]! } } satisfies ToWorker));
    const c = (await Promise.all(connected)) as Extract<FromWorker, { type: 'connected' }>[];
    const done = procs.map((p) => once(p, 'done'));
    const publishStartedAt = Date.now();
    procs.forEach((p) => p.send({ type: 'publish' } satisfies ToWorker));
    onPublishing?.();
    const d = (await Promise.all(done)) as Extract<FromWorker, { type: 'done' }>[];
    return {
      connectMs: Math.max(...c.map((x) => x.connectMs)),
      connectFailed: c.reduce((a, x) => a + x.failed, 0),
      results: d.flatMap((x) => x.results),
      generatorCpuMs: d.reduce((a, x) => a + x.cpuUserMs + x.cpuSystemMs, 0),
      publishWallMs: Math.max(...d.map((x) => x.wallMs)),
      publishStartedAt,
    };
  } finally {
    for (const p of procs) if (p.exitCode === null) p.send({ type: 'stop' } satisfies ToWorker, () => undefined);
  }
}
