// The rollout scenario's simulated fleet, spread over rollout-worker processes.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { FleetDeviceSpec } from '@yulan/device-sims';
import type { RolloutFromWorker, RolloutToWorker } from './rollout-worker.js';

const WORKER = fileURLToPath(new URL('../dist/rollout-worker.js', import.meta.url));

export type PoolConfig = Omit<Extract<RolloutToWorker, { type: 'start' }>, 'type' | 'devices'>;
export interface PoolStats { connected: number; firstMisbehaviour: number | null; installedBad: number; errors: number }

class Worker {
  private queue: Promise<unknown> = Promise.resolve();
  constructor(readonly proc: ChildProcess) {}

  /** One request at a time: answers come back in order. */
  ask(msg: RolloutToWorker): Promise<RolloutFromWorker> {
    const next = this.queue.then(() => new Promise<RolloutFromWorker>((resolve, reject) => {
      const onExit = (code: number | null): void => reject(new Error(`rollout worker exited (${code}) during ${msg.type}`));
      this.proc.once('exit', onExit);
      this.proc.once('message', (m: RolloutFromWorker) => {
        this.proc.off('exit', onExit);
        if (m.type === 'error') reject(new Error(`rollout worker: ${m.message}`));
        else resolve(m);
      });
      this.proc.send(msg);
    }));
    this.queue = next.catch(() => {});
    return next;
  }
}

export class SimPool {
  private readonly workers: Worker[] = [];
  private readonly starting: Promise<unknown>;
  private readonly t0 = performance.now();

  constructor(cfg: PoolConfig, devices: FleetDeviceSpec[], perWorker: number) {
    for (let i = 0; i < devices.length; i += perWorker) {
      const w = new Worker(fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
      this.workers.push(w);
      void w.ask({ type: 'start', ...cfg, devices: devices.slice(i, i + perWorker) });
    }
    // ask() queues: the first stats answer comes after the start's.
    this.starting = Promise.all(this.workers.map((w) => w.ask({ type: 'stats' })));
  }

  async started(): Promise<void> {
    await this.starting;
  }

  async stats(): Promise<PoolStats> {
    const all = (await Promise.all(this.workers.map((w) => w.ask({ type: 'stats' })))).filter((m) => m.type === 'stats');
    const firsts = all.map((m) => m.firstMisbehaviour).filter((t): t is number => t !== null);
    return {
      connected: all.reduce((a, m) => a + m.connected, 0),
      firstMisbehaviour: firsts.length > 0 ? Math.min(...firsts) : null,
      installedBad: all.reduce((a, m) => a + m.installedBad, 0),
      errors: all.reduce((a, m) => a + m.errors, 0),
    };
  }

  /** Waits until `n` devices are connected; returns the seconds since the pool started. */
  async settle(n: number, timeoutMs: number, progress: (line: string) => void): Promise<number> {
    await this.started();
    let lastLog = performance.now();
    for (;;) {
      const st = await this.stats();
      const s = (performance.now() - this.t0) / 1000;
      if (st.connected >= n) return s;
      if (performance.now() - this.t0 > timeoutMs) throw new Error(`only ${st.connected} of ${n} devices connected after ${s.toFixed(0)} s`);
      if (performance.now() - lastLog > 10_000) {
        lastLog = performance.now();
        progress(`rollout: ${st.connected} of ${n} connected after ${s.toFixed(0)} s`);
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  async reset(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.ask({ type: 'reset' })));
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map(async (w) => {
      if (w.proc.exitCode !== null) return;
      await w.ask({ type: 'close' }).catch(() => {});
      w.proc.kill('SIGKILL');
    }));
  }
}
