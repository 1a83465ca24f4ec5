import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { WebhookHeader, generateSecret, verifyWebhook } from '@yulan/protos';

/**
 * The demo's pager: a signed-webhook receiver that `yulan up` serves on 127.0.0.1, so every
 * demo person (family, worker, call centre) is reached without an open care page, and the
 * cloud's and the edge's fallback channels have somewhere to go. Each page it receives is
 * printed on the console: the demo shows the whole ladder, step by step. It checks each
 * signature with the secret the cloud issued for that address, like a real receiver.
 *
 * State (the secrets) lives in a 0600 file in the data directory, so a restart on the same
 * port keeps working with the secrets already issued.
 */

export interface PagerMessage {
  path: string;
  kind: string;
  deliveryId: string;
  alertId: string;
  text: string;
  atMs: number;
}

export interface DemoPager {
  /** the receiver's base URL */
  url: string;
  /** the webhook address for one demo login */
  addressFor(login: string): string;
  fallback: { url: string; secret: string };
  /** records a secret the cloud issued for an address */
  setSecret(address: string, secret: string): void;
  hasSecret(address: string): boolean;
  /** the last pages received (newest last, at most 200) */
  received: PagerMessage[];
  /** requests refused: unknown address, bad or stale signature */
  refused: number;
  close(): Promise<void>;
}

interface State { fallbackSecret: string; secrets: Record<string, string> }

const KEEP = 200;
const MAX_BODY = 256 * 1024;

function loadState(file: string): State {
  if (existsSync(file)) {
    const s = JSON.parse(readFileSync(file, 'utf8')) as Partial<State>;
    if (typeof s.fallbackSecret === 'string' && typeof s.secrets === 'object' && s.secrets !== null) return s as State;
  }
  return { fallbackSecret: generateSecret(), secrets: {} };
}

function saveState(file: string, state: State): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, JSON.stringify(state, null, 2), { mode: 0o600 });
}

async function readBody(req: IncomingMessage): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) return null;
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** One console line for a page: who, what, about whom, and where to claim it. */
function describe(path: string, body: Record<string, unknown>): { kind: string; deliveryId: string; alertId: string; text: string } {
  const alert = (body.alert ?? {}) as Record<string, unknown>;
  const recipient = (body.recipient ?? {}) as Record<string, unknown>;
  const kind = String(body.kind ?? '?');
  const to = path === '/fallback' ? 'FALLBACK (call centre)' : `${String(recipient.name ?? '?')} · ${String(recipient.role ?? '?')}`;
  const about = String(alert.residentName ?? `device ${String(alert.deviceId ?? '?')}`);
  const what = String(alert.message ?? alert.type ?? '');
  const link = typeof body.careUrl === 'string' ? `  → ${body.careUrl}` : '';
  return { kind, deliveryId: String(body.deliveryId ?? ''), alertId: String(alert.id ?? ''), text: `📟 ${kind.toUpperCase()} to ${to}: ${about} — ${what}${link}` };
}

export async function startDemoPager(opts: { port: number; stateFile: string; print: (line: string) => void; logger: Logger }): Promise<DemoPager> {
  const state = loadState(opts.stateFile);
  saveState(opts.stateFile, state);
  const received: PagerMessage[] = [];
  let base = '';
  const pager: DemoPager = {
    url: '',
    addressFor: (login) => `${base}/page/${encodeURIComponent(login)}`,
    fallback: { url: '', secret: state.fallbackSecret },
    setSecret(address, secret) {
      state.secrets[address] = secret;
      saveState(opts.stateFile, state);
    },
    hasSecret: (address) => state.secrets[address] !== undefined,
    received,
    refused: 0,
    close: async () => undefined,
  };

  const refuse = (res: ServerResponse, status: number, why: string): void => {
    pager.refused++;
    opts.logger.warn({ status, why }, 'demo pager refused a request');
    res.writeHead(status).end();
  };
  const server = createServer((req, res) => {
    void (async () => {
      const path = (req.url ?? '/').split('?')[0] as string;
      if (req.method !== 'POST') return refuse(res, 405, 'method');
      const secret = path === '/fallback' ? state.fallbackSecret : state.secrets[`${base}${path}`];
      if (secret === undefined) return refuse(res, 404, 'unknown address');
      const body = await readBody(req);
      if (body === null) return refuse(res, 413, 'too large');
      const check = verifyWebhook(secret, req.headers[WebhookHeader.Timestamp] as string | undefined, req.headers[WebhookHeader.Signature] as string | undefined, body);
      if (!check.ok) return refuse(res, 401, `signature ${check.reason}`);
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(body) as Record<string, unknown>;
      } catch {
        return refuse(res, 400, 'not JSON');
      }
      const d = describe(path, parsed);
      received.push({ path, ...d, atMs: Date.now() });
      if (received.length > KEEP) received.splice(0, received.length - KEEP);
      opts.print(`  ${d.text}`);
      res.writeHead(204).end();
    })().catch((err: unknown) => {
      opts.logger.error({ err }, 'demo pager failed on a request');
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, '127.0.0.1', () => resolve());
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  pager.url = base;
  pager.fallback.url = `${base}/fallback`;
  pager.close = () => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
  return pager;
}
