import type { Duplex } from 'node:stream';
import type { Aedes } from 'aedes';
import { PacketTooLargeError } from './errors.js';
import { FrameGuard } from './frame-guard.js';
import { CONNACK_UNACCEPTABLE_PROTOCOL, isUnsupportedProtocolLevel } from './conformance.js';
import type { BrokerMetrics } from './metrics.js';

export type StreamHandler = (stream: Duplex, req?: Parameters<Aedes['handle']>[1]) => void;

/**
 * Hands each accepted MQTT byte stream (TCP, TLS or under a WebSocket) to Aedes, watched
 * by a frame guard that cuts a connection as soon as a packet header announces more than
 * the packet cap, before Aedes buffers the body.
 */
export function createStreamIntake(o: {
  aedes: Aedes;
  isClosing: () => boolean;
  /** Stamps the connection's order before Aedes reads from it (connect-order.ts). */
  connectionOpened(stream: object): void;
  maxPacketBytes: number;
  metrics: BrokerMetrics;
}): StreamHandler {
  const { aedes, metrics, maxPacketBytes } = o;
  return (stream, req) => {
    if (o.isClosing()) {
      stream.destroy();
      return;
    }
    o.connectionOpened(stream);
    aedes.handle(stream, req);
    // Added after Aedes' 'readable' listener, so the stream stays in paused mode and
    // 'data' fires for exactly the chunks Aedes reads, just before it parses them.
    const guard = new FrameGuard(maxPacketBytes);
    let first = true;
    stream.on('data', (chunk: Buffer) => {
      if (first) {
        first = false;
        // Aedes' parser refuses it and closes; the CONNACK 0x01 goes first (conformance.ts).
        if (isUnsupportedProtocolLevel(chunk)) {
          metrics.protocolErrors++;
          stream.write(CONNACK_UNACCEPTABLE_PROTOCOL);
          // Out now, not at the write batcher's next turn: Aedes destroys the socket next.
          stream.uncork();
        }
      }
      const size = guard.feed(chunk);
      if (size > 0) {
        metrics.oversizedPackets++;
        stream.destroy(new PacketTooLargeError(size, maxPacketBytes));
      }
    });
  };
}
