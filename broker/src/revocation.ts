import type { Aedes, AedesPublishPacket, Client } from 'aedes';
import { ControlTopic, isValidId } from '@yulan/protos';
import type { Logger } from 'pino';
import type { DeviceAuthenticator } from './device-auth.js';
import { attachCertRevocation, type CertRevocations } from './device-cert.js';
import type { GatewayLink } from './gateway-link.js';
import type { BrokerHooks } from './hook-context.js';
import type { BrokerMetrics } from './metrics.js';
import { PresenceReason } from './presence.js';

/**
 * Revocation pushed by the cloud (the only account allowed under `$yulan/`): a device id
 * on `ControlTopic.Revoke` and, with a device CA, a certificate fingerprint on
 * `ControlTopic.RevokeCert`. The live session is closed with reason `revoked`, so its
 * offline presence says why (session-events.ts).
 */
export function attachRevocation(o: {
  aedes: Aedes;
  devices: ReadonlyMap<string, Client>;
  sessionOf: BrokerHooks['sessionOf'];
  deviceAuth: Pick<DeviceAuthenticator, 'forget'>;
  gateways: Pick<GatewayLink, 'revoke' | 'revokeCert'>;
  /** Set when a device CA is configured (certificate logins). */
  certRevocations: CertRevocations | undefined;
  metrics: BrokerMetrics;
  logger: Logger;
}): void {
  const { aedes, devices, sessionOf, deviceAuth, gateways, metrics, logger } = o;
  aedes.subscribe(
    ControlTopic.Revoke,
    (packet: AedesPublishPacket, cb: () => void) => {
      const id = Buffer.isBuffer(packet.payload) ? packet.payload.toString('utf8').trim() : String(packet.payload).trim();
      if (!isValidId(id)) {
        metrics.protocolErrors++;
        logger.warn({ payloadBytes: packet.payload.length }, 'revoke with an invalid device id ignored');
        return cb();
      }
      metrics.revocations++;
      deviceAuth.forget(id);
      gateways.revoke(id);
      const client = devices.get(id);
      const s = client && sessionOf(client);
      logger.info({ deviceId: id, live: s !== undefined }, 'device revoked');
      if (client && s) {
        s.endReason = PresenceReason.Revoked;
        client.close();
      }
      cb();
    },
    () => undefined,
  );

  if (o.certRevocations === undefined) return;
  attachCertRevocation({
    subscribe: (topic, handler) => aedes.subscribe(topic, (packet: AedesPublishPacket, cb: () => void) => handler(Buffer.from(packet.payload), cb), () => undefined),
    topic: ControlTopic.RevokeCert,
    revoked: o.certRevocations,
    clients: () => devices.values(),
    markRevoked: (client) => {
      const s = sessionOf(client);
      if (s === undefined) return false;
      s.endReason = PresenceReason.Revoked;
      return true;
    },
    onInvalid: () => metrics.protocolErrors++,
    onRevoked: (fp) => {
      metrics.revocations++;
      gateways.revokeCert(fp);
    },
    logger,
  });
}
