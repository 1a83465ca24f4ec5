import { createServer, type Server } from 'node:net';

/**
 * Free ports for a `yulan up` on port 0 (tests, several stacks on one machine).
 *
 * The services must know each other's addresses before they start (the broker asks the
 * cloud, the cloud asks the edge, the edge connects to the broker), so a port cannot simply
 * be read back after `listen(0)`. Picking a port and closing it at once, as this code did,
 * left seconds in which another process on the machine could take it (CI saw
 * `EADDRINUSE`). Here a picked port stays held by a placeholder listener until the
 * service that owns it is about to listen ({@link release}), which shrinks that window to
 * the moment between two `listen` calls; what remains is covered by `yulan up` retrying
 * on fresh ports when a port it picked was taken ({@link isPickedPortTaken}).
 */
export class PortPlan {
  private readonly held = new Map<number, Server>();
  /** Ports this plan picked (configured ports are never retried on others). */
  readonly picked = new Set<number>();

  constructor(private readonly host = '127.0.0.1') {}

  /** The configured port, or (for 0) a free one held until {@link release}. */
  async take(port: number): Promise<number> {
    if (port !== 0) return port;
    const srv = createServer();
    const picked = await new Promise<number>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(0, this.host, () => {
        const addr = srv.address();
        if (typeof addr === 'object' && addr) resolve(addr.port);
        else reject(new Error('the placeholder listener has no port'));
      });
    });
    this.held.set(picked, srv);
    this.picked.add(picked);
    return picked;
  }

  /** Lets go of the placeholders just before their service listens on them. */
  async release(...ports: number[]): Promise<void> {
    await Promise.all(ports.map((p) => {
      const srv = this.held.get(p);
      if (!srv) return undefined;
      this.held.delete(p);
      return new Promise<void>((resolve) => srv.close(() => resolve()));
    }));
  }

  async close(): Promise<void> {
    await this.release(...this.held.keys());
  }

  /** True when `err` (or an error it wraps) is a failed listen on a port this plan picked. */
  isPickedPortTaken(err: unknown): boolean {
    for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
      const { code, port } = e as { code?: unknown; port?: unknown };
      if (code === 'EADDRINUSE' && typeof port === 'number' && this.picked.has(port)) return true;
    }
    return false;
  }
}
