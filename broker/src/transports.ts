import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTlsServer, type SecureContextOptions, type Server as TlsServer } from 'node:tls';
import type { Duplex } from 'node:stream';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { safeEqual } from '@yulan/protos';
import { BrokerError, BrokerErrorCode } from './errors.js';
import { createWriteBatcher } from './write-batch.js';

export interface TransportOptions {
  host: string;
  /** Where the plain (unencrypted) listeners bind: loopback unless explicitly opened. */
  plainHost?: string;
  /** MQTT/TLS and WSS beside the plain listeners (same handlers, same limits). */
  tls?: {
    options: SecureContextOptions;
    mqttsPort: number;
    wssPort: number;
    handshakeTimeoutMs: number;
    /** Mutual TLS: ask for a client certificate, checked after the handshake. */
    requestCert: boolean;
    /** A handshake that failed (old protocol, garbage, stalled, bad certificate). */
    onRefused(err: Error & { code?: string }, socket: { remoteAddress?: string | undefined }): void;
  };
  mqttPort: number;
  wsPort: number;
  /** Socket high-water mark: the per-subscriber outgoing byte bound (see flow-control). */
  highWaterMark: number;
  /** Largest single WebSocket message accepted; MQTT packets inside are checked by the frame guard. */
  wsMaxPayload: number;
  metricsToken: string;
  /** One writev per socket per event-loop turn (write-batch.ts). */
  batchWrites: boolean;
  /** Hands an MQTT byte stream to the broker. */
  onStream(stream: Duplex, req?: IncomingMessage): void;
  /** Every raw TCP socket (plain MQTT or the one under a WebSocket), for byte counters and shutdown. */
  onSocket(socket: Socket): void;
  /** May answer asynchronously: a clustered worker gathers every worker's figures. */
  health(): unknown;
  metrics(): unknown;
  /** Serves `/admin/...` (admin-api.ts); it checks its own token. */
  admin?(req: IncomingMessage, res: ServerResponse, path: string): void;
}

export interface Transports {
  mqttPort: number;
  wsPort: number;
  /** Present when TLS is configured. */
  mqttsPort?: number;
  wssPort?: number;
  /** The TLS servers, for certificate reloads (setSecureContext). */
  tlsServers: TlsServer[];
  /** Stops accepting new connections; resolves when both servers have closed. */
  close(): Promise<void>;
}

export async function startTransports(o: TransportOptions): Promise<Transports> {
  const batcher = o.batchWrites ? createWriteBatcher() : undefined;
  const onMqttSocket = (socket: Socket): void => {
    batcher?.attach(socket);
    o.onSocket(socket);
    o.onStream(socket);
  };
  const tcp = createNetServer({ highWaterMark: o.highWaterMark, noDelay: true }, onMqttSocket);
  const http = createHttpServer((req, res) => serveHttp(o, req, res));
  http.on('connection', (socket: Socket) => o.onSocket(socket));
  const wss = attachWs(http, o);
  const servers: (NetServer | HttpServer)[] = [tcp, http];
  const tlsServers: TlsServer[] = [];
  let mqtts: TlsServer | undefined;
  let https: TlsServer | undefined;
  let wssTls: WebSocketServer | undefined;
  if (o.tls) {
    const t = o.tls;
    const common = {
      ...t.options,
      handshakeTimeout: t.handshakeTimeoutMs,
      // Mutual TLS is checked by the broker after the handshake (a device certificate is one
      // way to log in, a secret the other), so the handshake itself never refuses for it.
      requestCert: t.requestCert,
      rejectUnauthorized: false,
    };
    mqtts = createTlsServer({ ...common, highWaterMark: o.highWaterMark, noDelay: true }, onMqttSocket);
    https = createHttpsServer(common, (req, res) => serveHttp(o, req, res));
    https.on('secureConnection', (socket: Socket) => o.onSocket(socket));
    wssTls = attachWs(https as unknown as HttpServer, o);
    for (const s of [mqtts, https]) {
      // Counted and logged by the broker; the server and every other connection go on.
      s.on('tlsClientError', (err: Error & { code?: string }, socket: { remoteAddress?: string; destroy(): void }) => {
        t.onRefused(err, socket);
        socket.destroy();
      });
      tlsServers.push(s);
      servers.push(s);
    }
  }

  try {
    await listen(tcp, o.mqttPort, o.plainHost ?? o.host, 'MQTT');
    await listen(http, o.wsPort, o.plainHost ?? o.host, 'WebSocket');
    if (mqtts && https && o.tls) {
      await listen(mqtts, o.tls.mqttsPort, o.host, 'MQTT/TLS');
      await listen(https, o.tls.wssPort, o.host, 'WebSocket/TLS');
    }
  } catch (err) {
    await Promise.all(servers.map(closeServer));
    throw err;
  }
  return {
    mqttPort: (tcp.address() as AddressInfo).port,
    wsPort: (http.address() as AddressInfo).port,
    ...(mqtts && https ? { mqttsPort: (mqtts.address() as AddressInfo).port, wssPort: (https.address() as AddressInfo).port } : {}),
    tlsServers,
    async close() {
      wss.close();
      wssTls?.close();
      await Promise.all(servers.map(closeServer));
    },
  };
}

function attachWs(server: HttpServer, o: TransportOptions): WebSocketServer {
  const wss = new WebSocketServer({ server, path: '/mqtt', maxPayload: o.wsMaxPayload });
  wss.on('connection', (ws, req) => {
    const stream = createWebSocketStream(ws, { highWaterMark: o.highWaterMark });
    // ws errors reach the stream; Aedes listens there. This keeps an unhandled 'error'
    // on the socket object itself from crashing the process.
    ws.on('error', () => undefined);
    o.onStream(stream, req);
  });
  wss.on('error', () => undefined);
  return wss;
}

function listen(server: NetServer | HttpServer, port: number, host: string, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (cause: Error): void =>
      reject(new BrokerError(BrokerErrorCode.Listen, `${what} listener on ${host}:${port} failed: ${cause.message}`, { cause }));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function closeServer(server: NetServer | HttpServer): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
  });
}

function serveHttp(o: TransportOptions, req: IncomingMessage, res: ServerResponse): void {
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  if (o.admin && path.startsWith('/admin/')) return o.admin(req, res, path);
  if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: 'method not allowed' });
  if (path === '/healthz') return answer(res, o.health);
  if (path === '/metrics') {
    const auth = req.headers.authorization ?? '';
    const token = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    if (token === '' || !safeEqual(token, o.metricsToken)) return json(res, 401, { error: 'unauthorized' });
    return answer(res, o.metrics);
  }
  json(res, 404, { error: 'not found' });
}

function answer(res: ServerResponse, get: () => unknown): void {
  Promise.resolve()
    .then(get)
    .then(
      (body) => json(res, 200, body),
      () => json(res, 503, { error: 'unavailable' }),
    );
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(text);
}
