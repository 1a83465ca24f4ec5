import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Ports for servers a test or benchmark launches in another process (influxd, redis, a
 * broker child), which must be told their port before they listen.
 *
 * A port the kernel hands out for `listen(0)` lies in its ephemeral range, the same range
 * every outgoing connection takes its source port from; in a full suite thousands of
 * connections run beside us, and one took a port between our pick and the server's listen
 * (CI: EADDRINUSE). So the pick comes from the band just below the ephemeral range, which
 * neither `listen(0)` nor `connect()` ever uses: only another pick like this one competes,
 * among ~10,000 ports at random.
 *
 * And it did: a suite that kills a server and restarts it on the same port (the reconnect
 * storm's broker) lost the port to another test process's pick made while it was down, and
 * then talked to that process's broker (CI: 401 from /metrics). So every pick is also leased
 * machine-wide (`leasePort`): while the picking process lives, for up to LEASE_MS, no other
 * pick hands the port out.
 */
function quietBand(): [number, number] | undefined {
  try {
    const [lo] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (lo !== undefined && Number.isInteger(lo) && lo > 12_000) return [lo - 10_000, lo - 1];
  } catch { /* not Linux: the kernel's pick */ }
  return undefined;
}

function listenOn(port: number, host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(port, host, () => resolve(s));
  });
}

const LEASES = join(tmpdir(), 'yulan-port-leases');
/** Longer than any suite keeps a server (the slowest take ~4 min). */
const LEASE_MS = 15 * 60_000;

/** Claims `port` for this process among the machine's test processes: a file created
 * exclusively, naming its owner and when. One whose owner has exited, or older than
 * LEASE_MS, is taken over. False when another live process holds it. */
export function leasePort(port: number, dir = LEASES): boolean {
  const file = join(dir, String(port));
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(file, `${process.pid} ${Date.now()}`, { flag: 'wx' });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') mkdirSync(dir, { recursive: true });
      else if (leaseIsStale(file)) rmSync(file, { force: true });
      else return false;
    }
  }
  return false;
}

function leaseIsStale(file: string): boolean {
  let pid: number;
  let at: number;
  try {
    [pid, at] = readFileSync(file, 'utf8').split(' ').map(Number) as [number, number];
  } catch {
    return false; // being written, or just taken over: not ours to judge yet
  }
  if (!Number.isInteger(pid) || !(Date.now() - at <= LEASE_MS)) return true;
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** A free port, from the quiet band when there is one; the caller's server takes it next. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const band = quietBand();
  for (let i = 0; band && i < 50; i++) {
    const candidate = band[0] + Math.floor(Math.random() * (band[1] - band[0] + 1));
    if (!leasePort(candidate)) continue;
    const s = await listenOn(candidate, host).catch(() => undefined);
    if (s) return new Promise((resolve) => s.close(() => resolve(candidate)));
  }
  const s = await listenOn(0, host);
  const port = (s.address() as { port: number }).port;
  return new Promise((resolve) => s.close(() => resolve(port)));
}
