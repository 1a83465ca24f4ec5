import type { Aedes, Client } from 'aedes';
import type { TlsReloader } from '@yulan/protos';
import type { Logger } from 'pino';
import { Role } from './acl.js';
import type { BrokerHooks } from './hook-context.js';
import type { LatePublish } from './late-publish.js';
import type { SocketBook } from './listeners.js';
import type { MessagePath } from './message-path.js';
import { PresenceReason, presencePacket } from './presence.js';
import type { Transports } from './transports.js';

/** How long shutdown waits for the offline-presence publishes before closing anyway. */
const SHUTDOWN_PRESENCE_WAIT_MS = 2000;

/** `BrokerHandle.close()`: the first call runs the shutdown, later ones share its promise. */
export function createShutdown(o: {
  /** Refuse new connections and CONNECTs from now on. */
  markClosing(): void;
  tlsReloader: TlsReloader | undefined;
  transports: Transports;
  devices: ReadonlyMap<string, Client>;
  sessionOf: BrokerHooks['sessionOf'];
  publish: LatePublish['publish'];
  aedes: Aedes;
  path: Pick<MessagePath, 'close'>;
  sockets: Pick<SocketBook, 'destroyAll'>;
  logger: Logger;
}): () => Promise<void> {
  async function close(): Promise<void> {
    o.markClosing();
    o.tlsReloader?.close();
    const stopAccepting = o.transports.close();
    // Offline presence first, while subscribers (the edge) are still connected.
    const offline: Promise<void>[] = [];
    for (const client of o.devices.values()) {
      const s = o.sessionOf(client);
      if (s?.principal.role !== Role.Device || s.endReason !== undefined) continue;
      s.endReason = PresenceReason.Shutdown;
      offline.push(o.publish(presencePacket(s.principal, false, PresenceReason.Shutdown, Date.now())));
    }
    await withTimeout(Promise.all(offline), SHUTDOWN_PRESENCE_WAIT_MS);
    await new Promise<void>((resolve) => o.aedes.close(() => resolve()));
    await o.path.close();
    o.sockets.destroyAll();
    await stopAccepting;
    o.logger.info('broker closed');
  }
  let closed: Promise<void> | undefined;
  return () => (closed ??= close());
}

function withTimeout(p: Promise<unknown>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    t.unref();
    p.then(() => {
      clearTimeout(t);
      resolve();
    }, () => resolve());
  });
}
