import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { PtyPair, socatInstalled } from '../../device-sims/src/serial/index.js';
import { waitFor } from '@yulan/testkit';

export const quietLogger = pino({ level: process.env.YULAN_TEST_LOG ?? 'silent' });

/** socat is needed for the pty tests: under CI its absence fails, elsewhere the suite skips saying why. */
export function socatAvailable(): boolean {
  const found = socatInstalled();
  if (!found) {
    if (process.env.CI === 'true') throw new Error('socat is required for the serial tests under CI (apt-get install socat)');
    console.warn('serial pty tests skipped: socat is not installed (apt-get install socat)');
  }
  return found;
}

export function tempDir(prefix: string): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function pty(dir: string, name: string): Promise<PtyPair> {
  const p = new PtyPair(join(dir, `${name}-host`), join(dir, `${name}-dev`));
  await p.plug();
  return p;
}

export function eventually<T>(probe: () => T | Promise<T>, what: string, timeoutMs = 20_000): Promise<NonNullable<T>> {
  return waitFor(probe, what, { timeoutMs, intervalMs: 50 });
}
