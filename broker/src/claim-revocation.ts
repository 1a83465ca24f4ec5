import type { Aedes, AedesPublishPacket, Client } from 'aedes';
import { CLAIM_USER_PREFIX, isClaimId, REVOKE_CLAIM_TOPIC } from '@yulan/protos';
import type { Logger } from 'pino';
import type { BrokerMetrics } from './metrics.js';

/**
 * Claim revocation pushed by the cloud (docs/security.md, "Provisioning by claim"): on
 * `$yulan/v1/control/revoke-claim` (only the cloud may publish under `$yulan/`) the broker
 * closes every open session of that claim (client ids `claim:<id>:<serial>`) at once, as
 * it cuts a revoked device or certificate. New claim logins are refused by the cloud's
 * claim-auth already; this ends the sessions opened before the revocation. The cloud
 * re-sends its revoked claims when its link (re)connects, so a notice lost while it was
 * down is repaired then.
 */
export function attachClaimRevocation(o: { aedes: Aedes; metrics: BrokerMetrics; logger: Logger }): void {
  const { aedes, metrics, logger } = o;
  /** claim id → its live sessions */
  const live = new Map<string, Set<Client>>();
  const claimOf = (client: Client): string | undefined => {
    const id = client.id ?? '';
    if (!id.startsWith(CLAIM_USER_PREFIX)) return undefined;
    const claimId = id.slice(CLAIM_USER_PREFIX.length).split(':')[0] ?? '';
    return isClaimId(claimId) ? claimId : undefined;
  };

  aedes.on('client', (client) => {
    const claimId = claimOf(client);
    if (claimId === undefined) return;
    let set = live.get(claimId);
    if (!set) live.set(claimId, (set = new Set()));
    set.add(client);
  });
  aedes.on('clientDisconnect', (client) => {
    const claimId = claimOf(client);
    const set = claimId === undefined ? undefined : live.get(claimId);
    set?.delete(client);
    if (set?.size === 0) live.delete(claimId as string);
  });

  aedes.subscribe(REVOKE_CLAIM_TOPIC, (packet: AedesPublishPacket, cb: () => void) => {
    const claimId = (Buffer.isBuffer(packet.payload) ? packet.payload.toString('utf8') : String(packet.payload)).trim();
    if (!isClaimId(claimId)) {
      metrics.protocolErrors++;
      logger.warn({ payloadBytes: packet.payload.length }, 'claim revocation with an invalid claim id ignored');
      return cb();
    }
    const sessions = [...(live.get(claimId) ?? [])];
    if (sessions.length > 0) metrics.revocations++;
    logger.info({ claimId, live: sessions.length }, 'claim revoked: its open sessions are closed');
    for (const c of sessions) c.close();
    cb();
  }, () => undefined);
}
