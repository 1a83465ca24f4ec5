import type { Writable } from 'node:stream';

/**
 * Per-subscriber outgoing budget, enforced from `authorizeForward`.
 *
 * Aedes writes each delivery on a later `setImmediate`; if a write finds the socket
 * over its high-water mark, Aedes parks that message until `drain` and the publisher
 * whose batch holds it stops being read. That push-back is what we want for QoS 1, but
 * for QoS 0 it lets one frozen subscriber stall every publisher on its topics. So a QoS 0
 * delivery is admitted only when it provably fits: bytes already in the socket buffer,
 * plus bytes admitted but not yet written (`reserved`), plus this packet, stay under the
 * socket's high-water mark, and fewer than `queueLimit` messages are admitted-unwritten.
 * Otherwise it is dropped and counted. QoS 1 is always admitted and is bounded by Aedes'
 * own back-pressure plus `drainTimeout`.
 *
 * `reserved` is released one event-loop turn after the writes it covers were scheduled
 * (microtask → setImmediate queued behind Aedes' write immediates), so between write and
 * release a packet is counted twice — the estimate errs towards dropping, never towards
 * blocking.
 */
export interface OutgoingState {
  readonly conn: Writable;
  reservedBytes: number;
  reservedCount: number;
  pendingBytes: number;
  pendingCount: number;
  scheduled: boolean;
  readonly flush: () => void;
}

export function createOutgoingState(conn: Writable): OutgoingState {
  const s: OutgoingState = {
    conn,
    reservedBytes: 0,
    reservedCount: 0,
    pendingBytes: 0,
    pendingCount: 0,
    scheduled: false,
    flush: () => {
      setImmediate(release, s, s.pendingBytes, s.pendingCount);
      s.pendingBytes = 0;
      s.pendingCount = 0;
      s.scheduled = false;
    },
  };
  return s;
}

function release(s: OutgoingState, bytes: number, count: number): void {
  s.reservedBytes -= bytes;
  s.reservedCount -= count;
}

/** Encoded size of a PUBLISH (fixed header ≤ 5, topic length 2, packet id 2). Topics are
 * ASCII under our ACL, so `.length` is the byte length. */
export function publishSize(topic: string, payloadBytes: number, qos: number): number {
  return 5 + 2 + topic.length + (qos > 0 ? 2 : 0) + payloadBytes;
}

/** Returns false (drop) for a QoS 0 delivery that does not fit; reserves otherwise. */
export function admit(s: OutgoingState, qos: number, size: number, queueLimit: number): boolean {
  const conn = s.conn;
  if (
    qos === 0 &&
    (conn.writableNeedDrain ||
      s.reservedCount >= queueLimit ||
      conn.writableLength + s.reservedBytes + size >= conn.writableHighWaterMark)
  ) {
    return false;
  }
  s.reservedBytes += size;
  s.reservedCount++;
  s.pendingBytes += size;
  s.pendingCount++;
  if (!s.scheduled) {
    s.scheduled = true;
    queueMicrotask(s.flush);
  }
  return true;
}

/** Bytes waiting for this subscriber: in the socket buffer plus admitted-unwritten. */
export function queuedBytes(s: OutgoingState): number {
  return s.conn.writableLength + Math.max(0, s.reservedBytes);
}
