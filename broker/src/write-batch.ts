import type { Socket } from 'node:net';

/**
 * Gathers the packets written to one socket during an event-loop turn into one `writev`.
 *
 * Aedes writes every delivery and every PUBACK from its own `setImmediate`, and
 * mqtt-packet corks the socket only until the next tick, so each packet leaves in its own
 * system call: a subscriber receiving 20,000 messages/s costs 20,000 `writev`s, about a
 * quarter of the broker's CPU in the profile the benchmark issue quotes. Here the first
 * write of a turn corks the socket and a `setImmediate` — which runs after the immediates
 * already queued, i.e. after the rest of this turn's deliveries — uncorks it once.
 *
 * What it changes: a packet waits at most one loop turn longer. What it does not: the
 * socket's buffered length and `write()`'s return value, which the per-subscriber flow
 * control and Aedes' drain handling read, are the same corked or not.
 */
export interface WriteBatcher {
  /** Call before the socket is handed to Aedes. */
  attach(socket: Socket): void;
}

/** One batcher per broker: a single immediate per turn uncorks every socket written to. */
export function createWriteBatcher(): WriteBatcher {
  const corked = new Set<Socket>();
  let scheduled = false;
  const release = (): void => {
    scheduled = false;
    for (const s of corked) if (!s.destroyed) s.uncork();
    corked.clear();
  };
  return {
    attach(socket) {
      const write = socket.write;
      // An own property on our socket, set before Aedes sees it: the transport owns it.
      socket.write = function batchedWrite(this: Socket, ...args: Parameters<Socket['write']>): boolean {
        if (!corked.has(socket) && !socket.destroyed) {
          corked.add(socket);
          socket.cork();
          if (!scheduled) {
            scheduled = true;
            setImmediate(release);
          }
        }
        return write.apply(this, args);
      } as Socket['write'];
      socket.once('close', () => corked.delete(socket));
    },
  };
}
