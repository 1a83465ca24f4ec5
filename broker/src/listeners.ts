import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { readTlsOptions, tlsRefusalReason, watchTlsFiles, type TlsReloader } from '@yulan/protos';
import type { Logger } from 'pino';
import type { BrokerConfig } from './config.js';
import type { BrokerMetrics } from './metrics.js';
import type { StreamHandler } from './stream-intake.js';
import { startTransports, type Transports } from './transports.js';

/** Every raw socket the listeners accepted: for the byte counters and for shutdown. */
export class SocketBook {
  readonly #sockets = new Set<Socket>();
  #closedBytesIn = 0;
  #closedBytesOut = 0;

  constructor(private readonly metrics: BrokerMetrics) {}

  add(socket: Socket): void {
    this.#sockets.add(socket);
    this.metrics.sockets.current++;
    this.metrics.sockets.total++;
    socket.once('close', () => {
      this.#sockets.delete(socket);
      this.metrics.sockets.current--;
      this.#closedBytesIn += socket.bytesRead;
      this.#closedBytesOut += socket.bytesWritten;
    });
  }

  /** Bytes read and written, closed sockets included. */
  bytes(): { bytesIn: number; bytesOut: number } {
    let bytesIn = this.#closedBytesIn;
    let bytesOut = this.#closedBytesOut;
    for (const s of this.#sockets) {
      bytesIn += s.bytesRead;
      bytesOut += s.bytesWritten;
    }
    return { bytesIn, bytesOut };
  }

  /** Sockets Aedes did not own yet (mid-handshake, idle HTTP keep-alive) would hold a
   * server's close open for ever. */
  destroyAll(): void {
    for (const s of this.#sockets) s.destroy();
  }
}

export interface Listeners {
  transports: Transports;
  /** Set when TLS is configured: reloads the certificate on SIGHUP or a file change. */
  tlsReloader: TlsReloader | undefined;
}

/** The MQTT, WebSocket (and, with YULAN_TLS_*, MQTT/TLS and WSS) listeners, listening. */
export async function startListeners(o: {
  config: BrokerConfig;
  /** The device CA (mutual TLS): handshakes ask for a client certificate. */
  deviceCa: string | undefined;
  sockets: SocketBook;
  metrics: BrokerMetrics;
  logger: Logger;
  onStream: StreamHandler;
  health(): unknown;
  counters(): unknown;
  admin(req: IncomingMessage, res: ServerResponse, path: string): void;
}): Promise<Listeners> {
  const { config, deviceCa, metrics, logger } = o;
  // Read (and checked) before listening: a bad certificate fails the start, not a handshake.
  const tlsOptions = config.tls ? readTlsOptions(config.tls) : undefined;
  const transports = await startTransports({
    host: config.host,
    plainHost: config.plainHost,
    ...(config.tls && tlsOptions
      ? {
        tls: {
          options: deviceCa !== undefined ? { ...tlsOptions, ca: deviceCa } : tlsOptions,
          mqttsPort: config.tls.mqttsPort,
          wssPort: config.tls.wssPort,
          handshakeTimeoutMs: config.tls.handshakeTimeoutMs,
          requestCert: deviceCa !== undefined,
          onRefused: (err, socket) => {
            const reason = tlsRefusalReason(err);
            metrics.tlsRefused[reason]++;
            logger.info({ reason, code: err.code, remote: socket.remoteAddress, err: err.message }, 'TLS handshake refused');
          },
        },
      }
      : {}),
    mqttPort: config.mqttPort,
    wsPort: config.wsPort,
    highWaterMark: Math.max(2 * config.maxPacketBytes, 65_536),
    wsMaxPayload: Math.max(4 * config.maxPacketBytes, 1_048_576),
    batchWrites: config.batchWrites,
    metricsToken: config.brokerToken,
    onStream: o.onStream,
    onSocket: (socket) => o.sockets.add(socket),
    health: o.health,
    metrics: o.counters,
    admin: o.admin,
  });
  try {
    if (!config.tls) return { transports, tlsReloader: undefined };
    const all = transports.tlsServers;
    // New handshakes get the new certificate; live sessions keep theirs.
    const tlsReloader = watchTlsFiles(config.tls, [{
      setSecureContext: (opts) => {
        for (const s of all) s.setSecureContext(deviceCa !== undefined ? { ...opts, ca: deviceCa } : opts);
        metrics.tlsReloads++;
      },
    }], logger);
    return { transports, tlsReloader };
  } catch (err) {
    // The ports are bound by now: a start that fails must release them, or the process
    // keeps listening (and never exits) with no broker behind the sockets.
    const stopAccepting = transports.close();
    o.sockets.destroyAll();
    await stopAccepting;
    throw err;
  }
}
