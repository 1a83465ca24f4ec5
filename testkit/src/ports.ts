import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';

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

/** A free port, from the quiet band when there is one; the caller's server takes it next. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const band = quietBand();
  for (let i = 0; band && i < 50; i++) {
    const candidate = band[0] + Math.floor(Math.random() * (band[1] - band[0] + 1));
    const s = await listenOn(candidate, host).catch(() => undefined);
    if (s) return new Promise((resolve) => s.close(() => resolve(candidate)));
  }
  const s = await listenOn(0, host);
  const port = (s.address() as { port: number }).port;
  return new Promise((resolve) => s.close(() => resolve(port)));
}
