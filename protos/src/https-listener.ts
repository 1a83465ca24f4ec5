import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { emptyTlsRefusals, readTlsOptions, tlsRefusalReason, watchTlsFiles, type TlsFiles, type TlsRefusal } from './tls.js';

interface MiniLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface HttpsListenerOptions {
  files: TlsFiles;
  host: string;
  port: number;
  handshakeTimeoutMs?: number;
  logger: MiniLogger;
}

export interface HttpsListener {
  port: number;
  /** Handshakes refused so far, by reason. */
  refused(): Record<TlsRefusal, number>;
  reloads(): number;
  close(): Promise<void>;
}

/**
 * An HTTPS listener beside a service's plain one, feeding the same request handler
 * (Fastify's `app.routing`): the plain port stays for loopback callers and tests, this one
 * faces the network. Same TLS rules and reloads as the broker (tls.ts).
 */
export async function startHttpsListener(handler: (req: IncomingMessage, res: ServerResponse) => void, o: HttpsListenerOptions): Promise<HttpsListener> {
  const refused = emptyTlsRefusals();
  const server: Server = createServer({ ...readTlsOptions(o.files), handshakeTimeout: o.handshakeTimeoutMs ?? 10_000 }, handler);
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.on('tlsClientError', (err: Error & { code?: string }, socket: { remoteAddress?: string; destroy(): void }) => {
    const reason = tlsRefusalReason(err);
    refused[reason]++;
    o.logger.info({ reason, code: err.code, remote: socket.remoteAddress }, 'TLS handshake refused');
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const reloader = watchTlsFiles(o.files, [server], o.logger);
  return {
    port: (server.address() as AddressInfo).port,
    refused: () => ({ ...refused }),
    reloads: () => reloader.reloads,
    close: () => new Promise<void>((resolve) => {
      reloader.close();
      server.close(() => resolve());
      // Shutdown must not wait for keep-alive connections to time out.
      for (const s of sockets) s.destroy();
    }),
  };
}
