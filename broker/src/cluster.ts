import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import { startBroker, type BrokerDeps, type BrokerHandle, type LocalHealth } from './broker.js';
import type { BrokerConfig } from './config.js';
import { BrokerError, BrokerErrorCode } from './errors.js';
import type { BrokerMetrics } from './metrics.js';

/**
 * Clustered broker: YULAN_BROKER_WORKERS processes (node:cluster) share the MQTT and
 * WebSocket listening ports — the primary accepts and hands connections round-robin —
 * and share sessions and routing through Redis (YULAN_BROKER_REDIS_URL, shared-state.ts).
 * Why processes: one process holds at most the per-process open-file limit of connections
 * and uses one core. The primary holds no MQTT state: it restarts a worker that dies and
 * answers workers' requests for the figures of all workers, so /healthz and /metrics
 * (served by whichever worker the HTTP connection landed on) describe the whole broker.
 */
const Msg = {
  Listening: 'yulan:listening',
  Gather: 'yulan:gather',
  Gathered: 'yulan:gathered',
  Report: 'yulan:report',
  Reported: 'yulan:reported',
  Shutdown: 'yulan:shutdown',
} as const;
type View = 'health' | 'metrics';
type IpcMessage =
  | { type: typeof Msg.Listening; mqttPort: number; wsPort: number }
  | { type: typeof Msg.Gather | typeof Msg.Report; id: number; view: View }
  | { type: typeof Msg.Gathered | typeof Msg.Reported; id: number; body: unknown }
  | { type: typeof Msg.Shutdown };

/** A worker that does not report within this long is left out of the sum. */
const GATHER_TIMEOUT_MS = 2000;
const STOP_TIMEOUT_MS = 15_000;
/** Restart delay grows while workers keep dying quickly (a crash loop), up to 10 s. */
const RESTART_MIN_MS = 200;
const RESTART_MAX_MS = 10_000;

export interface ClusterHandle {
  mqttPort: number;
  wsPort: number;
  close(): Promise<void>;
}

/** In the primary: forks the workers and returns once all listen. In a worker: starts
 * its broker (and exits when the primary says so). */
export async function startBrokerCluster(config: BrokerConfig, logger: Logger, deps: BrokerDeps = {}): Promise<ClusterHandle> {
  if (config.redisUrl === undefined) {
    throw new BrokerError(BrokerErrorCode.Config, 'a clustered broker needs YULAN_BROKER_REDIS_URL');
  }
  return cluster.isPrimary ? runPrimary(config, logger) : runWorker(config, logger, deps);
}

async function runPrimary(config: BrokerConfig, logger: Logger): Promise<ClusterHandle> {
  let stopping = false;
  let delay = RESTART_MIN_MS;
  let ports: { mqttPort: number; wsPort: number } | undefined;
  const live = new Set<Worker>();
  let gatherSeq = 0;
  let started!: () => void;
  let failed!: (err: Error) => void;
  const ready = new Promise<void>((resolve, reject) => { started = resolve; failed = reject; });
  let listening = 0;

  const fork = (index: number): void => {
    const w = cluster.fork({ YULAN_BROKER_WORKER_INDEX: String(index) });
    const bornAt = Date.now();
    live.add(w);
    w.on('message', (m: IpcMessage) => {
      if (m.type === Msg.Listening) {
        ports ??= { mqttPort: m.mqttPort, wsPort: m.wsPort };
        if (++listening === config.workers) started();
      } else if (m.type === Msg.Gather) {
        void gather(m.view).then((body) => w.isConnected() && w.send({ type: Msg.Gathered, id: m.id, body } satisfies IpcMessage));
      }
    });
    w.on('exit', (code, signal) => {
      live.delete(w);
      if (stopping) return;
      if (listening < config.workers) {
        failed(new BrokerError(BrokerErrorCode.Listen, `broker worker ${index} exited during start-up (code ${code}, signal ${signal})`));
        return;
      }
      // A worker that lived a while resets the back-off; one that died young doubles it.
      delay = Date.now() - bornAt > 30_000 ? RESTART_MIN_MS : Math.min(RESTART_MAX_MS, delay * 2);
      logger.error({ worker: index, pid: w.process.pid, code, signal, restartInMs: delay }, 'broker worker died; restarting');
      setTimeout(() => { if (!stopping) fork(index); }, delay).unref();
    });
  };

  const gather = async (view: View): Promise<unknown> => {
    const id = ++gatherSeq;
    const bodies = await Promise.all([...live].map((w) => ask(w, id, view)));
    const got = bodies.filter((b) => b !== undefined);
    return view === 'metrics'
      ? { ...sumMetrics(got as BrokerMetrics[]), workers: { expected: config.workers, reporting: got.length } }
      : summarizeHealth(got as LocalHealth[], config.workers);
  };

  // Certificate renewal (protos/src/tls.ts): each worker reloads its own listeners.
  const onHup = (): void => { for (const w of live) w.process.kill('SIGHUP'); };
  if (config.tls) process.on('SIGHUP', onHup);

  for (let i = 0; i < config.workers; i++) fork(i);
  try {
    await ready;
  } catch (err) {
    stopping = true;
    for (const w of live) w.process.kill('SIGKILL');
    throw err;
  }
  logger.info({ workers: config.workers, ...ports }, 'clustered broker listening');

  return {
    ...ports!,
    async close() {
      stopping = true;
      process.off('SIGHUP', onHup);
      const exits = [...live].map((w) => new Promise<void>((resolve) => {
        if (w.isDead()) return resolve();
        const force = setTimeout(() => w.process.kill('SIGKILL'), STOP_TIMEOUT_MS);
        w.once('exit', () => { clearTimeout(force); resolve(); });
        if (w.isConnected()) w.send({ type: Msg.Shutdown } satisfies IpcMessage);
        else w.process.kill('SIGTERM');
      }));
      await Promise.all(exits);
      logger.info('clustered broker stopped');
    },
  };
}

function ask(w: Worker, id: number, view: View): Promise<unknown> {
  return new Promise((resolve) => {
    if (!w.isConnected()) return resolve(undefined);
    const t = setTimeout(done, GATHER_TIMEOUT_MS, undefined);
    function onMessage(m: IpcMessage): void {
      if (m.type === Msg.Reported && m.id === id) done(m.body);
    }
    function done(body: unknown): void {
      clearTimeout(t);
      w.off('message', onMessage);
      resolve(body);
    }
    w.on('message', onMessage);
    w.send({ type: Msg.Report, id, view } satisfies IpcMessage);
  });
}

async function runWorker(config: BrokerConfig, logger: Logger, deps: BrokerDeps): Promise<ClusterHandle> {
  const index = Number(process.env.YULAN_BROKER_WORKER_INDEX ?? 0);
  const log = logger.child({ worker: index });
  const pending = new Map<number, (body: unknown) => void>();
  let seq = 0;
  const viaPrimary = (view: View) => (): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const id = ++seq;
      const t = setTimeout(() => { pending.delete(id); reject(new Error('primary did not answer')); }, GATHER_TIMEOUT_MS * 2);
      pending.set(id, (body) => { clearTimeout(t); resolve(body); });
      process.send?.({ type: Msg.Gather, id, view } satisfies IpcMessage);
    });
  const gatherHealth = viaPrimary('health');
  const gatherMetrics = viaPrimary('metrics');
  const handle: BrokerHandle = await startBroker(config, log, {
    ...deps,
    httpViews: { health: gatherHealth, metrics: gatherMetrics },
  });
  const localHealth = (): LocalHealth => ({ status: 'ok', connections: handle.metrics().connections.current });
  let closing: Promise<void> | undefined;
  const stop = (): void => {
    closing ??= handle.close().finally(() => process.exit(0));
  };
  process.on('message', (m: IpcMessage) => {
    if (m.type === Msg.Report) {
      process.send?.({ type: Msg.Reported, id: m.id, body: m.view === 'metrics' ? handle.metrics() : localHealth() } satisfies IpcMessage);
    } else if (m.type === Msg.Gathered) {
      pending.get(m.id)?.(m.body);
      pending.delete(m.id);
    } else if (m.type === Msg.Shutdown) {
      stop();
    }
  });
  // The primary is gone (killed): nobody will restart or stop us, so stop cleanly.
  process.on('disconnect', stop);
  process.send?.({ type: Msg.Listening, mqttPort: handle.mqttPort, wsPort: handle.wsPort } satisfies IpcMessage);
  return { mqttPort: handle.mqttPort, wsPort: handle.wsPort, close: () => { stop(); return closing!; } };
}

/** Counters add up across workers; `revocations` is the exception — every worker handles
 * every revoke message, so the broker-wide figure is the largest, not the sum. */
export function sumMetrics(all: BrokerMetrics[]): BrokerMetrics | Record<string, never> {
  if (all.length === 0) return {};
  const add = (a: unknown, b: unknown): unknown => {
    if (typeof a === 'number' && typeof b === 'number') return a + b;
    if (a && b && typeof a === 'object' && typeof b === 'object') {
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(a)) out[k] = add((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]);
      return out;
    }
    return a;
  };
  const sum = all.slice(1).reduce<unknown>((acc, m) => add(acc, m), structuredClone(all[0])) as BrokerMetrics;
  sum.revocations = Math.max(...all.map((m) => m.revocations));
  return sum;
}

function summarizeHealth(all: LocalHealth[], expected: number): unknown {
  const connections = all.reduce((a, h) => a + h.connections, 0);
  const ok = all.filter((h) => h.status === 'ok').length;
  return { status: ok === expected ? 'ok' : ok > 0 ? 'degraded' : 'closing', connections, workers: { expected, ok } };
}
