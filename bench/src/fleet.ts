// Helpers for the large-fleet scenarios (connections, city): device credentials in bulk,
// per-process-tree usage, and the broker's file limits.
import { randomBytes, scryptSync } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { KindSlug, generateSecret, type KnownKind } from '@yulan/protos';
import type { LoadDevice } from './load-protocol.js';
import { procUsage } from './procs.js';
import type { Stack } from './stack.js';

/** Device ids for a fleet: `<slug>-f000123`, valid for the cloud's id rules. */
export function fleetDevices(kinds: { kind: number; count: number; rate?: number }[], site = 'bench'): LoadDevice[] {
  return kinds.flatMap((k) => Array.from({ length: k.count }, (_, i) => ({
    id: `${KindSlug[k.kind as KnownKind]}-f${String(i).padStart(6, '0')}`, site, kind: k.kind, secret: generateSecret(24),
    ...(k.rate !== undefined ? { rate: k.rate } : {}),
  })));
}

/**
 * Writes devices straight into the cloud's registry (its SQLite file, opened here beside the
 * running cloud: WAL mode and a busy timeout make that safe) with their secrets hashed in
 * the production format but at scrypt N = 2^4 instead of 2^14. Registering through the API
 * costs one full scrypt per device (~32 ms of a core here: 100,000 devices would take most
 * of an hour), and so does each device's first CONNECT. The connect rate with production
 * hashing is measured separately (connections --auth-sample).
 */
export function seedRegistry(stack: Stack, devices: LoadDevice[]): void {
  const db = new Database(join(stack.dir, 'cloud', 'registry.sqlite'), { timeout: 30_000 });
  try {
    const now = Date.now();
    const insert = db.prepare('INSERT INTO devices (id, site, kind, secret_hash, created_at) VALUES (?, ?, ?, ?, ?)');
    const all = db.transaction((list: LoadDevice[]) => {
      for (const d of list) {
        const salt = randomBytes(16);
        const key = scryptSync(d.secret, salt, 32, { N: 16, r: 8, p: 1 });
        insert.run(d.id, d.site, KindSlug[d.kind as KnownKind], `scrypt$4$8$1$${salt.toString('base64url')}$${key.toString('base64url')}`, now);
      }
    });
    for (let i = 0; i < devices.length; i += 5000) all(devices.slice(i, i + 5000));
  } finally {
    db.close();
  }
}

/** pid and every descendant (a clustered broker is a primary plus workers). */
export function procTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    const p = out[i]!;
    try {
      for (const t of readdirSync(`/proc/${p}/task`)) {
        const kids = readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').trim();
        if (kids) out.push(...kids.split(' ').map(Number));
      }
    } catch { /* exited */ }
  }
  return out;
}

/** CPU ms and RSS bytes summed over a process tree. */
export function treeUsage(pid: number): { cpuMs: number; rssBytes: number } {
  let cpuMs = 0;
  let rssBytes = 0;
  for (const p of procTree(pid)) {
    try {
      const u = procUsage(p);
      cpuMs += u.cpuMs;
      rssBytes += u.rssBytes;
    } catch { /* exited */ }
  }
  return { cpuMs, rssBytes };
}

/** Open files and the soft open-file limit of a process (root can read any); for a
 * clustered broker, of its busiest process — the limit applies to each one. */
export function openFiles(pid: number): { open: number; limit: number } {
  const all = procTree(pid).map(openFilesOf);
  return all.reduce((a, b) => (b.open > a.open ? b : a), all[0]!);
}

function openFilesOf(pid: number): { open: number; limit: number } {
  try {
    const open = readdirSync(`/proc/${pid}/fd`).length;
    const m = /Max open files\s+(\d+)/.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
    return { open, limit: m ? Number(m[1]) : Number.NaN };
  } catch {
    return { open: Number.NaN, limit: Number.NaN };
  }
}

/** Time to answer GET /metrics: the HTTP server shares the event loop, so this is a
 * lower bound on the loop's responsiveness (event-loop lag shows up here). */
export async function timedJson<T>(url: string, token: string): Promise<{ body: T | undefined; ms: number }> {
  const t0 = performance.now();
  try {
    const res = await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000) });
    const body = res.ok ? ((await res.json()) as T) : undefined;
    return { body, ms: performance.now() - t0 };
  } catch {
    return { body: undefined, ms: performance.now() - t0 };
  }
}

/** Loopback source addresses for generator g: 127.0.0.2, .3, … (all of 127/8 is local). */
export const sourceAddress = (g: number): string => `127.0.${Math.floor((g + 2) / 250)}.${((g + 2) % 250) + 1}`;
