import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Principal } from '../contracts.js';

interface Stream { principal: Principal; res: ServerResponse; heartbeat: NodeJS.Timeout }

export const SSE_HEARTBEAT_MS = 15_000;

/**
 * Open care-page streams (GET /api/v1/care/stream), keyed by person. A `page` is
 * delivered when it is written to at least one open stream of that person; with none
 * the app channel fails at once and the dispatcher falls back to the next channel.
 */
export class SseHub {
  private readonly byUser = new Map<string, Set<Stream>>();

  constructor(private readonly log: Logger, private readonly heartbeatMs = SSE_HEARTBEAT_MS) {}

  /** Takes over a raw response; the caller has already authenticated `principal`. */
  open(principal: Principal & { kind: 'person' }, res: ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      // proxies (nginx) must not buffer an event stream
      'x-accel-buffering': 'no',
    });
    res.write(': connected\n\n');
    const stream: Stream = {
      principal,
      res,
      // A comment line keeps idle proxies and NATs from closing the connection.
      heartbeat: setInterval(() => res.write(': heartbeat\n\n'), this.heartbeatMs),
    };
    let set = this.byUser.get(principal.userId);
    if (!set) this.byUser.set(principal.userId, (set = new Set()));
    set.add(stream);
    const drop = (): void => {
      clearInterval(stream.heartbeat);
      const s = this.byUser.get(principal.userId);
      s?.delete(stream);
      if (s && s.size === 0) this.byUser.delete(principal.userId);
    };
    res.on('close', drop);
    res.on('error', drop);
  }

  private write(s: Stream, event: string, data: unknown): boolean {
    if (s.res.destroyed || s.res.writableEnded) return false;
    try {
      s.res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      return true;
    } catch (err) {
      this.log.debug({ err }, 'sse write failed');
      return false;
    }
  }

  /** Writes a `page` event to every stream of the person; false when none is open. */
  page(userId: string, data: unknown): boolean {
    let ok = false;
    for (const s of this.byUser.get(userId) ?? []) ok = this.write(s, 'page', data) || ok;
    return ok;
  }

  /** Upserts an alert summary on every stream whose person may see it. */
  async alert(data: unknown, maySee: (p: Principal) => Promise<boolean>): Promise<void> {
    for (const set of [...this.byUser.values()]) {
      for (const s of [...set]) {
        try {
          if (await maySee(s.principal)) this.write(s, 'alert', data);
        } catch (err) {
          this.log.warn({ err }, 'sse visibility check failed');
        }
      }
    }
  }

  connected(userId: string): number {
    return this.byUser.get(userId)?.size ?? 0;
  }

  closeAll(): void {
    for (const set of this.byUser.values()) for (const s of set) { clearInterval(s.heartbeat); s.res.end(); }
    this.byUser.clear();
  }
}
