import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The `yulan` launcher, so benchmarks run each service in its own process as deployed. */
export const YULAN_BIN = fileURLToPath(new URL('../../cli/bin/yulan.js', import.meta.url));

export interface Service {
  name: string;
  proc: ChildProcess;
  /** Last lines of its output, for error messages. */
  tail(): string;
  stop(): Promise<void>;
}

export function startService(name: string, args: string[], env: NodeJS.ProcessEnv, nodeArgs: string[] = []): Service {
  const proc = spawn(process.execPath, [...nodeArgs, YULAN_BIN, ...args], {
    env: { ...env, YULAN_LOG_FORMAT: 'json', YULAN_LOG_LEVEL: env.YULAN_LOG_LEVEL ?? 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const keep = (chunk: Buffer): void => {
    lines.push(...chunk.toString().split('\n').filter(Boolean));
    if (lines.length > 40) lines.splice(0, lines.length - 40);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  // YULAN_BENCH_LOG_DIR=dir: every service's whole output in dir/<name>-<pid>.log, for
  // reading what happened in a run (with YULAN_BENCH_LOG_LEVEL=info for more than warnings).
  const logDir = process.env.YULAN_BENCH_LOG_DIR;
  if (logDir) {
    mkdirSync(logDir, { recursive: true });
    const file = createWriteStream(join(logDir, `${name}-${proc.pid}.log`));
    proc.stdout?.pipe(file);
    proc.stderr?.pipe(file);
  }
  return {
    name,
    proc,
    tail: () => lines.join('\n'),
    stop: () => new Promise((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) { resolve(); return; }
      const force = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      proc.once('exit', () => { clearTimeout(force); resolve(); });
      proc.kill('SIGTERM');
    }),
  };
}

/** CPU time (user+system, ms) and resident memory (bytes) of a process, from /proc. */
export function procUsage(pid: number): { cpuMs: number; rssBytes: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = 100; // USER_HZ on Linux
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  const rssPages = Number(fields[21]);
  return { cpuMs: ((utime + stime) * 1000) / ticks, rssBytes: rssPages * 4096 };
}

export async function waitFor(probe: () => Promise<boolean>, what: string, timeoutMs: number, svc?: Service): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try { if (await probe()) return; } catch { /* not up yet */ }
    if (svc && svc.proc.exitCode !== null) throw new Error(`${svc.name} exited while waiting for ${what}:\n${svc.tail()}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${svc ? `:\n${svc.tail()}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
