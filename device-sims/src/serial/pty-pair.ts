import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, lstatSync, rmSync } from 'node:fs';

const SOCAT = '/usr/bin/socat';

export function socatInstalled(): boolean {
  return existsSync(SOCAT) || spawnSync('socat', ['-V'], { stdio: 'ignore' }).status === 0;
}

/**
 * A socat pseudo-terminal pair with stable link names, like a USB-serial cable between
 * host and device: `unplug()` kills socat (both ends vanish, as when the adapter is pulled),
 * `replug()` starts it again under the same names.
 */
export class PtyPair {
  private child: ChildProcess | undefined;
  constructor(readonly host: string, readonly device: string) {}

  async plug(timeoutMs = 10_000): Promise<void> {
    if (this.child) return;
    // A link left by a socat that was killed hard (a crashed `yulan up`) would make the new
    // one fail; only symlinks are removed, never a real device node.
    for (const p of [this.host, this.device]) {
      try { if (lstatSync(p).isSymbolicLink()) rmSync(p); } catch { /* absent */ }
    }
    const bin = existsSync(SOCAT) ? SOCAT : 'socat';
    const child = spawn(bin, ['-d', '-d', `pty,raw,echo=0,link=${this.host}`, `pty,raw,echo=0,link=${this.device}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    let log = '';
    child.stderr?.on('data', (d: Buffer) => { log += d.toString(); });
    const deadline = Date.now() + timeoutMs;
    while (!(log.includes('starting data transfer loop') && existsSync(this.host) && existsSync(this.device))) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`socat pty pair did not start: ${log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Kills socat and waits until it is gone. */
  unplug(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return Promise.resolve();
    return new Promise((resolve) => { child.once('exit', () => resolve()); child.kill('SIGTERM'); });
  }

  replug(): Promise<void> {
    return this.plug();
  }

  get plugged(): boolean {
    return this.child !== undefined;
  }
}
