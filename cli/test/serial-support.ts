import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually } from './support.js';

const SOCAT = '/usr/bin/socat';

/** socat is needed for the serial tests. Under CI its absence is a failure (the runner
 * installs it); on a developer machine the suite is skipped with a message saying why. */
export function socatAvailable(): boolean {
  const found = existsSync(SOCAT) || spawnSync('socat', ['-V'], { stdio: 'ignore' }).status === 0;
  if (!found) {
    if (process.env.CI === 'true') throw new Error('socat is required for the serial tests under CI (apt-get install socat)');
    console.warn('serial tests skipped: socat is not installed (apt-get install socat)');
  }
  return found;
}

export interface PtyPair { host: string; device: string; close(): Promise<void> }

/** A connected pseudo-terminal pair, like a USB-serial cable between host and device. */
export async function ptyPair(dir: string, name: string): Promise<PtyPair> {
  const host = join(dir, `${name}-host`);
  const device = join(dir, `${name}-dev`);
  const bin = existsSync(SOCAT) ? SOCAT : 'socat';
  const child: ChildProcess = spawn(bin, ['-d', '-d', `pty,raw,echo=0,link=${host}`, `pty,raw,echo=0,link=${device}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr?.on('data', (d: Buffer) => { log += d.toString(); });
  await eventually(() => log.includes('starting data transfer loop') && existsSync(host) && existsSync(device), `socat pty pair (${log})`, 10_000);
  return {
    host, device,
    close: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null) { resolve(); return; }
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    }),
  };
}

/** Runs the built `yulan` command in its own process. */
const BIN = fileURLToPath(new URL('../bin/yulan.js', import.meta.url));

export function yulan(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}


/** Runs an engineer command in-process with captured output (fast: no process start). */
export async function runInProcess(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const { runEngineerCommand } = await import('../src/commands/index.js');
  let stdout = '';
  let stderr = '';
  const sink = (append: (s: string) => void) => ({ isTTY: false, write: (s: string | Uint8Array) => { append(String(s)); return true; } }) as unknown as NodeJS.WriteStream;
  const [name, ...rest] = args;
  const code = await runEngineerCommand(name!, rest, { env, stdout: sink((s) => { stdout += s; }), stderr: sink((s) => { stderr += s; }) });
  return { code, stdout, stderr };
}
