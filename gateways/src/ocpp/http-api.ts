import type { IncomingMessage, ServerResponse } from 'node:http';
import { safeEqual } from '@yulan/protos';

export interface HttpApiContext {
  token: string;
  /** Routes of their own guard (the diagnostics upload, diagnostics.ts); true = handled. */
  before?: (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;
  health: () => Record<string, unknown>;
  metrics: () => Record<string, unknown>;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/**
 * The gateway's small HTTP side, on the OCPP port: `/healthz` (open), `/metrics` (bearer =
 * YULAN_GATEWAY_TOKEN). The id tag list lives in the cloud (`/api/v1/id-tags`, cloud-id-tags.ts).
 */
export async function handleHttp(req: IncomingMessage, res: ServerResponse, c: HttpApiContext): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://gateway');
  if (req.method === 'GET' && url.pathname === '/healthz') return send(res, 200, c.health());
  if (c.before && (await c.before(req, res, url))) return;
  const auth = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
  if (auth === undefined || !safeEqual(auth, c.token)) {
    res.setHeader('www-authenticate', 'Bearer realm="yulan-ocpp"');
    return send(res, 401, { code: 'E_UNAUTHORIZED', message: 'bearer YULAN_GATEWAY_TOKEN required' });
  }
  if (req.method === 'GET' && url.pathname === '/metrics') return send(res, 200, c.metrics());
  return send(res, 404, { code: 'E_NOT_FOUND', message: 'not found' });
}
