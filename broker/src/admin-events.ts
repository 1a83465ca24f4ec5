import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AedesView } from './aedes-view.js';

/** Connects and disconnects are gathered and sent once per this interval: a reconnect
 * storm of thousands of devices is one event per second per watcher, not thousands. */
export const CLIENT_FLUSH_MS = 1000;
/** Counters are looked at this often and sent only when they changed. */
export const COUNTERS_EVERY_MS = 2000;
const HEARTBEAT_MS = 15_000;

export interface AdminEventsOptions {
  view: AedesView;
  counters(): Promise<unknown> | unknown;
  flushMs?: number;
  countersMs?: number;
}

/**
 * `GET /admin/events` (behind the broker token, admin-api.ts): server-sent events for the
 * console's broker view, so it need not re-read the client list on a timer.
 *   event: clients   data: [{ "id", "connected" }]   clients that connected or left here
 *   event: counters  data: the same object as /admin/counters, when it changed
 * In the clustered mode the stream is the worker's the request landed on, as the rest of
 * the admin API.
 */
export function serveAdminEvents(o: AdminEventsOptions, req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive' });
  res.write(': connected\n\n');
  let pending = new Map<string, boolean>();
  let lastCounters = '';
  const write = (text: string): void => { if (!res.destroyed && !res.writableEnded) res.write(text); };
  const off = o.view.onChange(({ id, connected }) => { pending.set(id, connected); });
  const flush = setInterval(() => {
    if (pending.size === 0) return;
    const batch = [...pending].map(([id, connected]) => ({ id, connected }));
    pending = new Map();
    write(`event: clients\ndata: ${JSON.stringify(batch)}\n\n`);
  }, o.flushMs ?? CLIENT_FLUSH_MS);
  const sendCounters = async (): Promise<void> => {
    const now = JSON.stringify(await o.counters());
    if (now === lastCounters) return;
    lastCounters = now;
    write(`event: counters\ndata: ${now}\n\n`);
  };
  void sendCounters().catch(() => undefined);
  const counters = setInterval(() => void sendCounters().catch(() => undefined), o.countersMs ?? COUNTERS_EVERY_MS);
  const heartbeat = setInterval(() => write(': heartbeat\n\n'), HEARTBEAT_MS);
  const stop = (): void => {
    off();
    clearInterval(flush);
    clearInterval(counters);
    clearInterval(heartbeat);
  };
  req.on('close', stop);
  res.on('close', stop);
}
