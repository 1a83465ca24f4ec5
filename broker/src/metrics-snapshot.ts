import type { Client } from 'aedes';
import { queuedBytes } from './flow-control.js';
import type { GatewayLink } from './gateway-link.js';
import type { BrokerHooks } from './hook-context.js';
import type { SocketBook } from './listeners.js';
import type { MessagePath } from './message-path.js';
import type { BrokerMetrics } from './metrics.js';

/**
 * The figures `/metrics`, the admin API and `BrokerHandle.metrics()` report: the live
 * counters, copied (callers may keep or sum them; the counters go on changing), and the
 * gauges read at the moment of asking.
 */
export function createSnapshot(o: {
  metrics: BrokerMetrics;
  sockets: Pick<SocketBook, 'bytes'>;
  clients: ReadonlySet<Client>;
  sessionOf: BrokerHooks['sessionOf'];
  gateways: Pick<GatewayLink, 'stats'>;
  path: Pick<MessagePath, 'backlog' | 'held' | 'replay'>;
}): () => BrokerMetrics {
  const { metrics, gateways, path } = o;
  return () => {
    let queued = 0;
    for (const client of o.clients) {
      const s = o.sessionOf(client);
      if (s) queued += queuedBytes(s.out);
    }
    return {
      ...metrics,
      connections: { ...metrics.connections },
      sockets: { ...metrics.sockets },
      tlsRefused: { ...metrics.tlsRefused },
      certRefused: { ...metrics.certRefused },
      certRotations: { ...metrics.certRotations },
      aclDenied: { ...metrics.aclDenied },
      gatewayBinds: { ...gateways.stats, certBindRefused: { ...gateways.stats.certBindRefused } },
      ...o.sockets.bytes(),
      outgoingQueuedBytes: queued,
      busBacklog: path.backlog,
      publishersHeld: path.held,
      sessionQueued: path.replay?.queuedTotal() ?? 0,
    };
  };
}
