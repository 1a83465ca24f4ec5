import { spawn, spawnSync } from 'node:child_process';
import { closeSync, constants, existsSync, openSync, readFileSync, readlinkSync } from 'node:fs';

/**
 * lrzsz (Debian's `sz`/`rb`), the standard YMODEM tools the CLI and the bootloader simulator
 * must interoperate with. Under CI its absence is a failure (.ci/run installs it); on a
 * developer machine the suite is skipped with a message saying why.
 */
export function lrzszAvailable(): boolean {
  const found = ['sz', 'rb'].every((bin) => existsSync(`/usr/bin/${bin}`) || spawnSync(bin, ['--version'], { stdio: 'ignore' }).status === 0);
  if (!found) {
    if (process.env.CI === 'true') throw new Error('lrzsz (sz, rb) is required for the YMODEM interop tests under CI (apt-get install lrzsz)');
    console.warn('YMODEM interop tests skipped: lrzsz is not installed (apt-get install lrzsz)');
  }
  return found;
}

export interface ToolRun {
  pid: number;
  /** Resolves when the tool exits, with its exit code and everything it wrote to stderr. */
  exited: Promise<{ code: number | null; stderr: string }>;
  kill(): void;
}

/**
 * Runs `sz`/`rb` with its stdin and stdout on a tty, as a user at a terminal would on a
 * device's console (lrzsz talks over fds 0 and 1). O_NOCTTY: the test runner must not
 * acquire the pty as its controlling terminal.
 */
export function runOnTty(bin: 'sz' | 'rb', args: string[], tty: string, cwd: string): ToolRun {
  const fd = openSync(tty, constants.O_RDWR | constants.O_NOCTTY);
  const child = spawn(bin, args, { cwd, stdio: [fd, fd, 'pipe'] });
  closeSync(fd);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<{ code: number | null; stderr: string }>((resolve) => {
    child.on('exit', (code) => resolve({ code, stderr }));
  });
  return { pid: child.pid!, exited, kill: () => { if (child.exitCode === null) child.kill('SIGTERM'); } };
}

/**
 * True once the process is blocked reading its stdin (the tty): lrzsz prints nothing
 * before the first handshake byte, so this is the positive signal that it is up and
 * waiting. Linux-only, like the socat ptys; /proc/PID/syscall's second field is the fd.
 */
export function blockedReadingStdin(pid: number, bin: string): boolean {
  try {
    if (!readlinkSync(`/proc/${pid}/exe`).endsWith(`/${bin}`)) return false;
    const state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
    if (state !== 'S') return false;
  } catch {
    return false; // not exec'd yet, or gone
  }
  try {
    return readFileSync(`/proc/${pid}/syscall`, 'utf8').trim().split(' ')[1] === '0x0';
  } catch {
    return true; // /proc/PID/syscall hidden (hardened kernel): sleeping after exec will do
  }
}
