import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, createReadStream } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { safeEqual } from '@yulan/protos';
import type { Logger } from 'pino';

export interface DiagnosticsFile {
  device: string;
  file: string;
  bytes: number;
  sha256: string;
  contentType: string;
  commandId: string;
  at: string;
}

interface Offer { deviceId: string; commandId: string; expiresMs: number; fileName: string | undefined; busy: boolean }

export interface DiagnosticsOptions {
  /** `<gateway data dir>/diagnostics` */
  dir: string;
  maxBytes: number;
  /** how long an upload URL is valid */
  ttlMs: number;
  /** bearer of the listing and download routes (YULAN_GATEWAY_TOKEN) */
  token: string;
  logger: Logger;
  /** a file arrived (the gateway publishes `diagnostics.uploaded` on the charger's session) */
  onUploaded: (f: DiagnosticsFile) => void;
  now?: () => number;
}

const UPLOAD = /^\/ocpp-diagnostics\/([A-Za-z0-9_-]{43})$/;
const FILE = /^\/api\/v1\/ocpp\/diagnostics\/([A-Za-z0-9_.-]{1,64})\/([A-Za-z0-9_.-]{1,160})$/;
const safeName = (s: string): string => s.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^\.+/, '_').slice(0, 100) || 'diagnostics';

/**
 * GetDiagnostics uploads (docs/ocpp.md §4.2). Each `charger.get_diagnostics` command gets a
 * one-time upload URL `<public url>/ocpp-diagnostics/<random token>` (valid `ttlMs`), which
 * goes into GetDiagnostics.location; the charger PUTs or POSTs the file there (HTTP(S); the
 * body is stored as sent, multipart included, with its content type). Files over `maxBytes`
 * are refused with 413 and nothing is kept. Stored owner-only under `dir/<charger>/`,
 * listed and downloaded with the gateway's bearer.
 */
export class Diagnostics {
  readonly #o: DiagnosticsOptions;
  readonly #offers = new Map<string, Offer>();
  readonly #now: () => number;

  constructor(o: DiagnosticsOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
    mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  }

  /** A fresh upload token for this charger and command; the path to put after the public URL. */
  offer(deviceId: string, commandId: string): { path: string; named(fileName: string | undefined): void; cancel(): void } {
    const now = this.#now();
    for (const [t, o] of this.#offers) if (o.expiresMs < now && !o.busy) this.#offers.delete(t);
    const token = randomBytes(32).toString('base64url');
    const offer: Offer = { deviceId, commandId, expiresMs: now + this.#o.ttlMs, fileName: undefined, busy: false };
    this.#offers.set(token, offer);
    return { path: `/ocpp-diagnostics/${token}`, named: (n) => { offer.fileName = n; }, cancel: () => this.#offers.delete(token) };
  }

  list(device?: string): DiagnosticsFile[] {
    const out: DiagnosticsFile[] = [];
    for (const d of readdirSync(this.#o.dir)) {
      if (device !== undefined && d !== device) continue;
      for (const f of readdirSync(join(this.#o.dir, d))) {
        if (!f.endsWith('.meta.json')) continue;
        try {
          out.push(JSON.parse(readFileSync(join(this.#o.dir, d, f), 'utf8')) as DiagnosticsFile);
        } catch { /* a torn sidecar: the file is still on disk */ }
      }
    }
    return out.sort((a, b) => b.at.localeCompare(a.at));
  }

  /** Serves the upload route (token in the path) and, with the bearer, the listing and downloads. */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    const up = UPLOAD.exec(url.pathname);
    if (up && (req.method === 'PUT' || req.method === 'POST')) {
      await this.#receive(up[1]!, req, res);
      return true;
    }
    const isList = url.pathname === '/api/v1/ocpp/diagnostics';
    const file = FILE.exec(url.pathname);
    if (!isList && !file) return false;
    const auth = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
    if (auth === undefined || !safeEqual(auth, this.#o.token)) {
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer realm="yulan-ocpp"' }).end('{"code":"E_UNAUTHORIZED"}');
      return true;
    }
    if (isList) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ items: this.list(url.searchParams.get('device') ?? undefined) }));
      return true;
    }
    const path = join(this.#o.dir, file![1]!, file![2]!);
    if (file![2]!.endsWith('.meta.json') || !statSync(path, { throwIfNoEntry: false })?.isFile()) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"code":"E_NOT_FOUND"}');
      return true;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-disposition': `attachment; filename="${file![2]}"` });
    createReadStream(path).pipe(res);
    return true;
  }

  async #receive(token: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const send = (status: number, code: string, message: string): void => {
      if (!res.headersSent) res.writeHead(status, { 'content-type': 'application/json', connection: 'close' }).end(JSON.stringify({ code, message }));
      req.resume();
    };
    const offer = this.#offers.get(token);
    if (!offer || offer.expiresMs < this.#now()) return send(404, 'E_NOT_FOUND', 'unknown or expired upload URL');
    if (offer.busy) return send(409, 'E_CONFLICT', 'an upload to this URL is in progress');
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > this.#o.maxBytes) return send(413, 'E_TOO_LARGE', `diagnostics larger than ${this.#o.maxBytes} bytes`);
    offer.busy = true;
    const dir = join(this.#o.dir, offer.deviceId);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const name = `${new Date(this.#now()).toISOString().replace(/[:.]/g, '-')}-${safeName(offer.fileName ?? 'diagnostics')}`;
    const part = join(dir, `.${name}.part`);
    const out = createWriteStream(part, { mode: 0o600 });
    const hash = createHash('sha256');
    let bytes = 0;
    const ok = await new Promise<boolean>((resolve) => {
      req.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > this.#o.maxBytes) { req.pause(); resolve(false); return; }
        hash.update(chunk);
        out.write(chunk);
      });
      req.on('end', () => resolve(true));
      req.on('error', () => resolve(false));
      req.on('aborted', () => resolve(false));
    });
    await new Promise<void>((r) => out.end(() => r()));
    offer.busy = false;
    if (!ok) {
      rmSync(part, { force: true });
      this.#o.logger.warn({ deviceId: offer.deviceId, bytes }, 'diagnostics upload refused or broken off');
      return bytes > this.#o.maxBytes ? send(413, 'E_TOO_LARGE', `diagnostics larger than ${this.#o.maxBytes} bytes`) : send(400, 'E_UPLOAD', 'upload broken off');
    }
    renameSync(part, join(dir, name));
    const meta: DiagnosticsFile = {
      device: offer.deviceId, file: name, bytes, sha256: hash.digest('hex'), contentType: String(req.headers['content-type'] ?? 'application/octet-stream'),
      commandId: offer.commandId, at: new Date(this.#now()).toISOString(),
    };
    writeFileSync(join(dir, `${name}.meta.json`), JSON.stringify(meta), { mode: 0o600 });
    this.#offers.delete(token);
    this.#o.logger.info({ deviceId: offer.deviceId, file: name, bytes }, 'diagnostics stored');
    this.#o.onUploaded(meta);
    res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify(meta));
  }
}
