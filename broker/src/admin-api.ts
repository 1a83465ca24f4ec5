import type { IncomingMessage, ServerResponse } from 'node:http';
import { safeEqual } from '@yulan/protos';
import type { Logger } from 'pino';
import type { AedesView, ClientInfo } from './aedes-view.js';
import { serveAdminEvents } from './admin-events.js';
import type { BrokerMetrics } from './metrics.js';

/**
 * The broker's admin endpoints (docs/console.md, "Broker view"), on the broker's HTTP
 * listener next to /healthz and /metrics, for the cloud's proxy under /api/v1/broker.
 * The caller presents the broker token (YULAN_BROKER_TOKEN), the credential the cloud
 * already holds for the broker; people never reach this directly, the cloud checks their
 * permission and audits disconnects.
 *
 *   GET  /admin/clients?q=&limit=&offset=        connected clients, sorted by id
 *   GET  /admin/clients/:id/subscriptions
 *   POST /admin/clients/:id/disconnect           204, or 404 when not connected here
 *   GET  /admin/retained?filter=&limit=          count, bytes, the first `limit` messages
 *   GET  /admin/counters                         the same figures as /metrics
 *   GET  /admin/events                           server-sent events: client changes, counters (admin-events.ts)
 *
 * In the clustered mode each worker answers for its own clients (the listener is shared,
 * so a request lands on one worker): the view is per process.
 */

export const ADMIN_PREFIX = '/admin/';
const MAX_LIMIT = 500;
const DEFAULT_LIMIT = 50;
/** Bytes of a retained payload shown, as hex. Payloads are never decoded here. */
export const PAYLOAD_PREVIEW_BYTES = 64;
/** Fall sensors report a resident's presence and vital signs: their payloads stay hidden
 * (size only), whatever the message — the console has no health grant check here. */
const HIDDEN_PAYLOAD = /^yulan\/v1\/[^/]+\/fall-sensor\//;

export interface AdminApiOptions {
  token: string;
  view: AedesView;
  counters(): Promise<unknown> | unknown;
  /** The live counters, to count refusals and disconnects. */
  metrics: BrokerMetrics;
  logger: Logger;
}

export type AdminHandler = (req: IncomingMessage, res: ServerResponse, path: string) => void;

export function createAdminApi(o: AdminApiOptions): AdminHandler {
  return (req, res, path) => {
    const auth = req.headers.authorization ?? '';
    const token = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    if (token === '' || !safeEqual(token, o.token)) {
      o.metrics.adminRefused++;
      return json(res, 401, { error: 'unauthorized' });
    }
    if (path === `${ADMIN_PREFIX}events` && req.method === 'GET') return serveAdminEvents(o, req, res);
    const url = new URL(req.url ?? '/', 'http://broker');
    const rest = path.slice(ADMIN_PREFIX.length).split('/');
    const method = req.method ?? 'GET';
    void route(o, method, rest, url.searchParams).then(
      ({ status, body }) => json(res, status, body),
      (err: unknown) => {
        o.logger.error({ err }, 'broker admin request failed');
        json(res, 500, { error: 'internal' });
      },
    );
  };
}

interface Answer { status: number; body: unknown }

async function route(o: AdminApiOptions, method: string, rest: string[], q: URLSearchParams): Promise<Answer> {
  const read = method === 'GET' || method === 'HEAD';
  const [first, rawId, action, ...more] = rest;
  if (first === 'clients' && rawId === undefined) {
    return read ? listClients(o, q) : notAllowed();
  }
  if (first === 'clients' && rawId !== undefined && more.length === 0) {
    const id = safeDecode(rawId);
    if (id === undefined) return { status: 400, body: { error: 'bad client id' } };
    if (action === 'subscriptions') {
      if (!read) return notAllowed();
      const subs = o.view.subscriptions(id);
      return subs ? { status: 200, body: { id, subscriptions: subs } } : notConnected();
    }
    if (action === 'disconnect') {
      if (method !== 'POST') return notAllowed();
      if (!o.view.disconnect(id)) return notConnected();
      o.metrics.adminDisconnects++;
      o.logger.info({ clientId: id }, 'client disconnected by the admin API');
      return { status: 204, body: undefined };
    }
  }
  if (first === 'retained' && rawId === undefined) return read ? retained(o, q) : notAllowed();
  if (first === 'counters' && rawId === undefined) return read ? { status: 200, body: await o.counters() } : notAllowed();
  return { status: 404, body: { error: 'not found' } };
}

function listClients(o: AdminApiOptions, q: URLSearchParams): Answer {
  const page = paging(q);
  if (typeof page === 'string') return { status: 400, body: { error: page } };
  const needle = (q.get('q') ?? '').trim().toLowerCase();
  const matches = (c: ClientInfo): boolean =>
    needle === '' || c.id.toLowerCase().includes(needle) || (c.username ?? '').toLowerCase().includes(needle) ||
    (c.address ?? '').includes(needle);
  const all = o.view.clients().filter(matches).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { status: 200, body: { total: all.length, offset: page.offset, limit: page.limit, clients: all.slice(page.offset, page.offset + page.limit) } };
}

async function retained(o: AdminApiOptions, q: URLSearchParams): Promise<Answer> {
  const page = paging(q);
  if (typeof page === 'string') return { status: 400, body: { error: page } };
  const filter = q.get('filter') || '#';
  if (!isValidFilter(filter)) return { status: 400, body: { error: 'filter must be an MQTT topic filter' } };
  const { messages, count, bytes } = await o.view.retained(filter, page.limit);
  return {
    status: 200,
    body: {
      filter,
      count,
      bytes,
      messages: messages.map((m) => {
        const hidden = HIDDEN_PAYLOAD.test(m.topic);
        return {
          topic: m.topic,
          qos: m.qos,
          size: m.payload.length,
          ...(hidden ? { payloadHidden: true } : { payloadHex: m.payload.subarray(0, PAYLOAD_PREVIEW_BYTES).toString('hex') }),
        };
      }),
    },
  };
}

function paging(q: URLSearchParams): { limit: number; offset: number } | string {
  const limit = q.has('limit') ? Number(q.get('limit')) : DEFAULT_LIMIT;
  const offset = q.has('offset') ? Number(q.get('offset')) : 0;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) return `limit must be 1..${MAX_LIMIT}`;
  if (!Number.isInteger(offset) || offset < 0) return 'offset must be 0 or more';
  return { limit, offset };
}

/** MQTT filter rules: `#` only as the whole last level, `+` only as a whole level. */
export function isValidFilter(f: string): boolean {
  if (f.length === 0 || f.length > 1024 || f.includes('\u0000')) return false;
  const levels = f.split('/');
  return levels.every((l, i) =>
    (l === '#' ? i === levels.length - 1 : !l.includes('#')) && (l === '+' || !l.includes('+')));
}

function safeDecode(s: string): string | undefined {
  try {
    const id = decodeURIComponent(s);
    return id.length > 0 && id.length <= 256 ? id : undefined;
  } catch {
    return undefined;
  }
}

const notAllowed = (): Answer => ({ status: 405, body: { error: 'method not allowed' } });
const notConnected = (): Answer => ({ status: 404, body: { error: 'client not connected' } });

function json(res: ServerResponse, status: number, body: unknown): void {
  if (status === 204) {
    res.writeHead(204, { 'cache-control': 'no-store' });
    res.end();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}
