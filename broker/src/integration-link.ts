import type { Aedes, AedesPublishPacket, Client } from 'aedes';
import { ControlTopic, parseIntegrationNotice } from '@yulan/protos';
import type { Logger } from 'pino';
import type { Principal } from './acl.js';
import { compileRules, INTEGRATION_ROLE } from './integration-acl.js';
import type { IntegrationAuthenticator } from './integration-auth.js';
import type { BrokerMetrics } from './metrics.js';
import { PresenceReason } from './presence.js';

interface SessionView {
  readonly principal: Principal;
  endReason: PresenceReason | undefined;
}

/**
 * Keeps the live integration sessions by account name and applies the cloud's notices
 * on `$yulan/v1/control/integration` (only the cloud may publish under `$yulan/`): an
 * update recompiles the rules into the live principals, a cut closes the sessions.
 * The cloud re-sends every account's state on each (re)connect, so a notice lost while
 * the link was down is repaired then.
 */
export function attachIntegrations(opts: {
  aedes: Aedes;
  sessionOf: (c: Client) => SessionView | undefined;
  auth: IntegrationAuthenticator;
  metrics: BrokerMetrics;
  logger: Logger;
}): void {
  const { aedes, sessionOf, auth, metrics, logger } = opts;
  const live = new Map<string, Set<Client>>();

  aedes.on('client', (client) => {
    const p = sessionOf(client)?.principal;
    if (p?.role !== INTEGRATION_ROLE) return;
    let set = live.get(p.name);
    if (!set) live.set(p.name, (set = new Set()));
    set.add(client);
  });
  aedes.on('clientDisconnect', (client) => {
    const p = sessionOf(client)?.principal;
    if (p?.role !== INTEGRATION_ROLE) return;
    const set = live.get(p.name);
    set?.delete(client);
    if (set?.size === 0) live.delete(p.name);
  });

  aedes.subscribe(
    ControlTopic.Integration,
    (packet: AedesPublishPacket, cb: () => void) => {
      const notice = parseIntegrationNotice(Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload));
      if (!notice) {
        metrics.protocolErrors++;
        logger.warn({ payloadBytes: packet.payload.length }, 'malformed integration notice ignored');
        return cb();
      }
      auth.forget(notice.name);
      const clients = [...(live.get(notice.name) ?? [])];
      if (notice.action === 'cut') metrics.revocations++;
      logger.info({ integration: notice.name, action: notice.action, live: clients.length }, 'integration account changed');
      const rules = notice.account ? compileRules(notice.account) : undefined;
      for (const client of clients) {
        const s = sessionOf(client);
        if (s?.principal.role !== INTEGRATION_ROLE) continue;
        if (rules) {
          s.principal.rules = rules;
        } else {
          s.endReason = PresenceReason.Revoked;
          client.close();
        }
      }
      cb();
    },
    () => undefined,
  );
}
