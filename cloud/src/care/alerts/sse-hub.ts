import type { ServerResponse } from 'node:http';
import type { FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Principal, SessionEnd, SessionHandle, SessionWatch } from '../contracts.js';

interface Stream {
  principal: Principal;
  res: ServerResponse;
  heartbeat: NodeJS.Timeout;
  /** the session the stream was opened with; the stream ends with it */
  session: SessionHandle | undefined;
  unwatch: () => void;
}

export const SSE_HEARTBEAT_MS = 15_000;

/**
 * Open care-page streams (GET /api/v1/care/stream), keyed by person. A `page` is
 * delivered when it is written to at least one open stream of that person; with none
 * the app channel fails at once and the dispatcher falls back to the next channel.
 *
 * A stream is tied to the session it was opened with (docs/care.md §5): it ends with an
 * `end` event when that session ends (logout, expiry, the person disabled or deleted, a
 * new password or role), and nothing is written to a stream whose session is no longer
 * active, even in the moment before the end is noticed.
 */
export class SseHub {
  private readonly byUser = new Map<string, Set<Stream>>();
  private sessions: SessionWatch | undefined;
  private shown: ((p: Principal, data: unknown) => Promise<void> | void) | undefined;

  constructor(private readonly log: Logger, private readonly heartbeatMs = SSE_HEARTBEAT_MS) {}

  /** Ties streams to sessions (app.ts, when the people module is open). */
  useSessions(sessions: SessionWatch): void {
    this.sessions = sessions;
  }

  /** Called for each alert before it is written to a person's stream: a read of the
   * resident's data, which the alert routes audit (docs/care.md §5). The alert is written
   * once `fn` has settled, and not at all when it fails. */
  onAlertShown(fn: (p: Principal, data: unknown) => Promise<void> | void): void {
    this.shown = fn;
  }

  /** The request's session when streams are tied to sessions; null when they are not
   * (alert tests without the people module); undefined when it has none. */
  async sessionOf(request: FastifyRequest): Promise<SessionHandle | undefined | null> {
    return this.sessions ? this.sessions.sessionOf(request) : null;
  }

  /** Takes over a raw response; the caller has already authenticated `principal`. */
  open(principal: Principal & { kind: 'person' }, res: ServerResponse, session: SessionHandle | null = null): void {
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
      // A comment line keeps idle proxies and NATs from closing the connection; it is
      // also when an expired session is noticed (expiry has no event of its own).
      heartbeat: setInterval(() => {
        // The session is re-read from the database (another cloud may have ended it).
        void (stream.session ? stream.session.active() : Promise.resolve(true)).then(
          (live) => {
            if (!live) this.end(stream, 'expired');
            else if (!res.destroyed && !res.writableEnded) res.write(': heartbeat\n\n');
          },
          (err: unknown) => this.log.warn({ err }, 'checking a stream\'s session failed'),
        );
      }, this.heartbeatMs),
      session: session ?? undefined,
      unwatch: () => undefined,
    };
    let set = this.byUser.get(principal.userId);
    if (!set) this.byUser.set(principal.userId, (set = new Set()));
    set.add(stream);
    this.presence?.(principal.userId);
    let dropped = false;
    const drop = (): void => {
      clearInterval(stream.heartbeat);
      stream.unwatch();
      const s = this.byUser.get(principal.userId);
      s?.delete(stream);
      if (s && s.size === 0) this.byUser.delete(principal.userId);
      if (!dropped) this.presence?.(principal.userId);
      dropped = true;
    };
    res.on('close', drop);
    res.on('error', drop);
    if (stream.session) stream.unwatch = stream.session.onEnd((reason) => this.end(stream, reason));
  }

  /** Tells the page why, then closes; the page's reconnect meets a 401 and signs in again. */
  private end(s: Stream, reason: SessionEnd): void {
    clearInterval(s.heartbeat);
    if (s.res.destroyed || s.res.writableEnded) return;
    try {
      s.res.end(`event: end\ndata: ${JSON.stringify({ reason })}\n\n`);
    } catch (err) {
      this.log.debug({ err }, 'sse end failed');
      s.res.destroy();
    }
    this.log.info({ userId: s.principal.kind === 'person' ? s.principal.userId : undefined, reason }, 'care stream ended with its session');
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
    for (const s of [...(this.byUser.get(userId) ?? [])]) ok = this.write(s, 'page', data) || ok;
    return ok;
  }

  /** Upserts an alert summary on every stream whose person may see it. */
  async alert(data: unknown, maySee: (p: Principal) => Promise<boolean>): Promise<void> {
    for (const fn of this.changeListeners) fn(data);
    for (const set of [...this.byUser.values()]) {
      for (const s of [...set]) {
        try {
          if (!(await maySee(s.principal))) continue;
          // An expired session is also noticed here, not only at the next heartbeat; a
          // page (synchronous) relies on the heartbeat, so it may reach a session that
          // expired less than one heartbeat ago.
          if (s.session && !(await s.session.active())) {
            this.end(s, 'expired');
            continue;
          }
          // Logged before it is written: a read that cannot be logged must not happen unlogged.
          await this.shown?.(s.principal, data);
          this.write(s, 'alert', data);
        } catch (err) {
          this.log.warn({ err }, 'alert not shown on a stream: visibility check or audit failed');
        }
      }
    }
  }

  private readonly changeListeners = new Set<(data: unknown) => void>();

  /** Every alert change, whoever watches (integrations/alert-stream.ts decides who may see it). */
  onChange(fn: (data: unknown) => void): () => void {
    this.changeListeners.add(fn);
    return () => this.changeListeners.delete(fn);
  }

  private presence: ((userId: string) => void) | undefined;

  /** Called when a person's streams here open or close (several clouds: pg-app-relay.ts tells the others). */
  onPresence(fn: (userId: string) => void): void {
    this.presence = fn;
  }

  /** The people with a stream open here. */
  users(): string[] {
    return [...this.byUser.keys()];
  }

  connected(userId: string): number {
    return this.byUser.get(userId)?.size ?? 0;
  }

  closeAll(): void {
    for (const set of this.byUser.values()) for (const s of set) { clearInterval(s.heartbeat); s.unwatch(); s.res.end(); }
    this.byUser.clear();
  }
}
