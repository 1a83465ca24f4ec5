import { createServer } from 'node:net';

/** Resolves port 0 to a free port now, so services that must know each other's address
 * before they start (the broker asks the cloud; the cloud asks the edge) can be wired. */
export async function resolvePort(port: number, host = '127.0.0.1'): Promise<number> {
  if (port !== 0) return port;
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}
