import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, leasePort } from '../src/ports.js';

describe('port leases', () => {
  const dirs: string[] = [];
  const dir = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'yulan-leases-'));
    dirs.push(d);
    return d;
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('a port leased by a live process is not leased again, by it or another', () => {
    const d = dir();
    expect(leasePort(40_001, d)).toBe(true);
    expect(leasePort(40_001, d)).toBe(false);
    // The parent (vitest) is alive and is another process.
    writeFileSync(join(d, '40002'), `${process.ppid} ${Date.now()}`);
    expect(leasePort(40_002, d)).toBe(false);
  });

  it('a lease whose owner has exited, or that is older than its term, is taken over', () => {
    const d = dir();
    const gone = spawnSync(process.execPath, ['-e', 'process.exit(0)']).pid!;
    writeFileSync(join(d, '40003'), `${gone} ${Date.now()}`);
    expect(leasePort(40_003, d)).toBe(true);
    expect(readFileSync(join(d, '40003'), 'utf8').split(' ')[0]).toBe(String(process.pid));
    writeFileSync(join(d, '40004'), `${process.ppid} ${Date.now() - 16 * 60_000}`);
    expect(leasePort(40_004, d)).toBe(true);
    writeFileSync(join(d, '40005'), 'garbage');
    expect(leasePort(40_005, d)).toBe(true);
  });

  it('freePort hands out ports leased to this process', async () => {
    const ports = [await freePort(), await freePort(), await freePort()];
    expect(new Set(ports).size).toBe(3);
    for (const p of ports) expect(leasePort(p)).toBe(false);
  });
});
