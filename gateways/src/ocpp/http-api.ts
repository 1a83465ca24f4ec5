import type { IncomingMessage, ServerResponse } from 'node:http';
import { safeEqual } from '@yulan/protos';
import { ID_TAG_STATUSES, type IdTags, type IdTagStatus } from './id-tags.js';

export interface HttpApiContext {
  token: string;
  idTags: IdTags;
  health: () => Record<string, unknown>;
  metrics: () => Record<string, unknown>;
}

const TAG = /^\/api\/v1\/ocpp\/id-tags\/([^/]{1,20})$/;

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  let size = 0;
  const parts: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 4096) throw new Error('body too large');
    parts.push(chunk as Buffer);
  }
  return JSON.parse(Buffer.concat(parts).toString('utf8') || '{}');
}

/**
 * The gateway's small HTTP side, on the OCPP port: `/healthz` (open), `/metrics` and the
 * idTag list (bearer = YULAN_GATEWAY_TOKEN): `GET /api/v1/ocpp/id-tags`,
 * `PUT /api/v1/ocpp/id-tags/{tag}` `{status, expiryDate?}`, `DELETE …/{tag}`.
 */
export async function handleHttp(req: IncomingMessage, res: ServerResponse, c: HttpApiContext): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://gateway');
  if (req.method === 'GET' && url.pathname === '/healthz') return send(res, 200, c.health());
  const auth = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
  if (auth === undefined || !safeEqual(auth, c.token)) {
    res.setHeader('www-authenticate', 'Bearer realm="yulan-ocpp"');
    return send(res, 401, { code: 'E_UNAUTHORIZED', message: 'bearer YULAN_GATEWAY_TOKEN required' });
  }
  if (req.method === 'GET' && url.pathname === '/metrics') return send(res, 200, c.metrics());
  if (req.method === 'GET' && url.pathname === '/api/v1/ocpp/id-tags') return send(res, 200, { items: c.idTags.list() });
  const m = TAG.exec(url.pathname);
  if (!m) return send(res, 404, { code: 'E_NOT_FOUND', message: 'not found' });
  const tag = decodeURIComponent(m[1]!);
  if (req.method === 'DELETE') return send(res, c.idTags.delete(tag) ? 200 : 404, { tag: tag.toUpperCase() });
  if (req.method !== 'PUT') return send(res, 405, { code: 'E_METHOD', message: 'use GET, PUT or DELETE' });
  let body: { status?: unknown; expiryDate?: unknown };
  try {
    body = (await readJson(req)) as typeof body;
  } catch (err) {
    return send(res, 400, { code: 'E_VALIDATION', message: (err as Error).message });
  }
  const status = body.status ?? 'Accepted';
  if (!ID_TAG_STATUSES.includes(status as IdTagStatus)) {
    return send(res, 400, { code: 'E_VALIDATION', message: `status must be one of ${ID_TAG_STATUSES.join(', ')}` });
  }
  const expiry = body.expiryDate === undefined ? null : Date.parse(String(body.expiryDate));
  if (expiry !== null && !Number.isFinite(expiry)) return send(res, 400, { code: 'E_VALIDATION', message: 'expiryDate must be ISO-8601' });
  return send(res, 200, c.idTags.put(tag, status as IdTagStatus, expiry));
}
