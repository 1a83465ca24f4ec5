import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

/**
 * The start/stop loop every real server the suites launch shares (influxd, redis-server,
 * postgres): spawn, keep the last 4 KB of its output for error messages, poll `ready` until
 * it says yes, fail at once (with the output) if the process exits first, and stop it with
 * the server's own crash signal. `start()` after `stop()` runs it again with the same
 * arguments, for outage and restart tests.
 */
export interface ServerProcessOptions {
  /** for messages: "influxd", "redis-server", "postgres" */
  name: string;
  bin: string;
  args: string[];
  spawn?: Omit<SpawnOptions, 'stdio'>;
  /** polled every 50 ms; given the output so far (some servers say "ready" only there) */
  ready(output: string): Promise<boolean>;
  startTimeoutMs: number;
  /** SIGKILL for a crash; PostgreSQL's immediate shutdown is SIGQUIT */
  stopSignal: NodeJS.Signals;
}

export interface ServerProcess {
  readonly pid: number | undefined;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function serverProcess(o: ServerProcessOptions): ServerProcess {
  let child: ChildProcess | undefined;
  let output = '';
  const self: ServerProcess = {
    get pid() { return child?.pid; },
    async start() {
      if (child) return;
      output = '';
      const c = spawn(o.bin, o.args, { ...o.spawn, stdio: ['ignore', 'pipe', 'pipe'] });
      const keep = (b: Buffer): void => { output = (output + b.toString()).slice(-4000); };
      c.stdout?.on('data', keep);
      c.stderr?.on('data', keep);
      // A spawn failure (binary gone, permissions) arrives as 'error', not as an exit code.
      let spawnError: Error | undefined;
      c.once('error', (err) => { spawnError = err; });
      child = c;
      const deadline = Date.now() + o.startTimeoutMs;
      for (;;) {
        if (spawnError) { child = undefined; throw new Error(`${o.name} could not be started: ${spawnError.message}`); }
        if (c.exitCode !== null || c.signalCode !== null) {
          child = undefined;
          throw new Error(`${o.name} exited (${c.exitCode ?? c.signalCode}) before it was ready:\n${output}`);
        }
        if (await o.ready(output).catch(() => false)) return;
        if (Date.now() > deadline) {
          // not left running behind a failed start: the caller has no handle to stop it by
          await self.stop();
          throw new Error(`${o.name} was not ready within ${o.startTimeoutMs} ms:\n${output}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop() {
      const c = child;
      child = undefined;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        c.once('exit', () => resolve());
        c.kill(o.stopSignal);
      });
    },
  };
  return self;
}

/** For describe.skipIf: true when a server binary is missing and we may skip. With
 * CI=true a missing server is a failure, not a skip (CI installs every one of them). */
export function skipWithout(found: boolean, what: string, install: string): boolean {
  if (found) return false;
  if (process.env.CI === 'true') throw new Error(`${what} not found but CI=true: its tests must run in CI`);
  console.warn(`[tests] ${what} not found — skipping its tests (${install} to run them)`);
  return true;
}
