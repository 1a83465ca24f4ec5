import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { safeEqual } from '@yulan/protos';
import { BrokerError, BrokerErrorCode } from './errors.js';
import { createWriteBatcher } from './write-batch.js';

export interface TransportOptions {
  host: string;
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
}

export interface Transports {
  mqttPort: number;
  wsPort: number;
  /** Stops accepting new connections; resolves when both servers have closed. */
  close(): Promise<void>;
}

export async function startTransports(o: TransportOptions): Promise<Transports> {
  const batcher = o.batchWrites ? createWriteBatcher() : undefined;
  const tcp = createNetServer({ highWaterMark: o.highWaterMark, noDelay: true }, (socket) => {
    batcher?.attach(socket);
    o.onSocket(socket);
    o.onStream(socket);
  });
  const http = createHttpServer((req, res) => serveHttp(o, req, res));
  http.on('connection', (socket: Socket) => o.onSocket(socket));
  const wss = new WebSocketServer({ server: http, path: '/mqtt', maxPayload: o.wsMaxPayload });
  wss.on('connection', (ws, req) => {
    const stream = createWebSocketStream(ws, { highWaterMark: o.highWaterMark });
    // ws errors reach the stream; Aedes listens there. This keeps an unhandled 'error'
    // on the socket object itself from crashing the process.
    ws.on('error', () => undefined);
    o.onStream(stream, req);
  });
  wss.on('error', () => undefined);

  try {
    await listen(tcp, o.mqttPort, o.host, 'MQTT');
    await listen(http, o.wsPort, o.host, 'WebSocket');
  } catch (err) {
    await closeServer(tcp);
    throw err;
  }
  return {
    mqttPort: (tcp.address() as AddressInfo).port,
    wsPort: (http.address() as AddressInfo).port,
    async close() {
      wss.close();
      await Promise.all([closeServer(tcp), closeServer(http)]);
    },
  };
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
  const path = (req.url ?? '/').split('?')[0];
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
