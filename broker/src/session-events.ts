import type { EventEmitter } from 'node:events';
import type { Aedes, AedesPublishPacket, Client } from 'aedes';
import type { Logger } from 'pino';
import { Role } from './acl.js';
import { classifyError } from './classify-error.js';
import { GATEWAY_ROLE } from './gateway-acl.js';
import type { GatewayLink } from './gateway-link.js';
import type { LatePublish } from './late-publish.js';
import type { BrokerHooks } from './hook-context.js';
import type { BrokerMetrics } from './metrics.js';
import { PresenceReason, presencePacket } from './presence.js';
import type { StartupHold } from './startup-hold.js';

const SYS_NEW_CLIENTS = '$SYS/+/new/clients';

export interface LiveClients {
  /** Live device sessions by id, for revocation and the shutdown presence. */
  readonly devices: Map<string, Client>;
  /** Every registered client, for the queued-bytes gauge. */
  readonly clients: Set<Client>;
}

/**
 * Follows Aedes' client lifecycle: connection counters, the live-client tables, the
 * startup hold's list of persistent subscribers, and a device's online presence when its
 * session is ready and offline presence (with why) when it ends. Also counts and logs
 * client and connection errors.
 */
export function attachSessionEvents(o: {
  aedes: Aedes;
  hooks: Pick<BrokerHooks, 'sessionOf' | 'sessionEnded'>;
  gateways: Pick<GatewayLink, 'sessionEnded'>;
  hold: StartupHold | undefined;
  publish: LatePublish['publish'];
  metrics: BrokerMetrics;
  logger: Logger;
}): LiveClients {
  const { aedes, hooks, gateways, hold, publish, metrics, logger } = o;
  const { sessionOf } = hooks;
  const devices = new Map<string, Client>();
  const clients = new Set<Client>();

  aedes.on('client', (client) => {
    metrics.connections.current++;
    metrics.connections.total++;
    clients.add(client);
    const s = sessionOf(client);
    if (s?.principal.role === Role.Device) devices.set(s.principal.deviceId, client);
  });
  aedes.on('subscribe', (_subs, client) => {
    const s = client && sessionOf(client);
    if (s && s.principal.role !== Role.Device) hold?.subscribed(client.id, client.clean === false);
  });
  aedes.on('clientReady', (client) => {
    const s = sessionOf(client);
    if (s?.principal.role !== Role.Device || s.endReason !== undefined) return;
    void publish(presencePacket(s.principal, true, PresenceReason.Connect, Date.now()));
  });
  aedes.on('clientDisconnect', (client) => {
    metrics.connections.current--;
    clients.delete(client);
    hooks.sessionEnded(client);
    const s = sessionOf(client);
    if (s?.principal.role === GATEWAY_ROLE) gateways.sessionEnded(s.principal);
    if (s?.principal.role !== Role.Device) return;
    if (devices.get(s.principal.deviceId) === client) devices.delete(s.principal.deviceId);
    if (s.endReason === PresenceReason.Shutdown) return; // published before the close
    if (s.takenOver) return; // its new session, on another process, said online
    const reason = s.endReason ?? (s.willFired ? PresenceReason.Will : PresenceReason.Disconnect);
    void publish(presencePacket(s.principal, false, reason, Date.now()));
  });
  // Aedes fails every parked write of a cut client with the same error; count clients.
  const cutClients = new WeakSet<Client>();
  const onError = (client: Client | null, err: Error): void => {
    if (err.message === 'drain timeout') {
      if (client === null || cutClients.has(client)) return;
      cutClients.add(client);
    }
    classifyError(err, metrics, logger);
  };
  aedes.on('clientError', onError);
  aedes.on('connectionError', onError);
  (aedes as EventEmitter).on('error', (err: Error) => logger.error({ err }, 'aedes error'));
  return { devices, clients };
}

/** Clustered mode: Aedes closes a local client whose id connected to another process (its
 * own `$SYS/+/new/clients` listener); mark it first so no stale offline presence follows. */
export function watchTakeovers(o: {
  aedes: Aedes;
  devices: LiveClients['devices'];
  sessionOf: BrokerHooks['sessionOf'];
  metrics: BrokerMetrics;
}): void {
  const { aedes, devices, sessionOf, metrics } = o;
  aedes.subscribe(SYS_NEW_CLIENTS, (packet: AedesPublishPacket, cb: () => void) => {
    const serverId = packet.topic.split('/')[1];
    const client = serverId === aedes.id ? undefined : devices.get(packet.payload.toString());
    const s = client && sessionOf(client);
    if (s) {
      s.takenOver = true;
      metrics.sessionsReplaced++;
    }
    cb();
  }, () => undefined);
}
