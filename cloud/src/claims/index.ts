import type { Logger } from 'pino';
import { REVOKE_CLAIM_TOPIC } from '@yulan/protos';
import type { DeviceRepository } from '../repositories/device-repository.js';
import type { DeviceCertsModule } from '../device-certs/index.js';
import { ClaimService } from './service.js';
import { ClaimStore } from './store.js';

export { claimRoutes, claimInternalRoutes, claimHttpExchangeRoute } from './routes.js';
export { ClaimService, REFUSED_ACTION } from './service.js';
export { ClaimStore } from './store.js';

export interface ClaimsModule {
  service: ClaimService;
  close(): void;
}

/** Provisioning by claim (docs/security.md): `<dataDir>/claims.sqlite`. */
export function openClaims(o: {
  file: string; devices: DeviceRepository; certs?: DeviceCertsModule; logger: Logger; exchangesPerMinute?: number; now?: () => number;
  /** the cloud's MQTT link: a revocation is pushed to the broker, which closes the claim's
   * open sessions; every revoked claim is pushed again when the link (re)connects */
  mqtt?: { publish(topic: string, payload: Uint8Array, opts: { qos: 0 | 1 }): Promise<void>; onConnect?(handler: () => void): void };
}): ClaimsModule {
  const store = new ClaimStore(o.file);
  const mqtt = o.mqtt;
  const push = (claimId: string): void => {
    mqtt?.publish(REVOKE_CLAIM_TOPIC, Buffer.from(claimId, 'utf8'), { qos: 1 })
      .catch((err: unknown) => o.logger.warn({ err, claimId }, 'claim revocation not acknowledged by the broker; re-sent when the link reconnects'));
  };
  mqtt?.onConnect?.(() => { for (const c of store.list()) if (c.revokedAt !== null) push(c.id); });
  const service = new ClaimService({
    store, devices: o.devices, logger: o.logger.child({ part: 'claims' }),
    ...(o.certs ? { certs: o.certs } : {}), ...(o.exchangesPerMinute !== undefined ? { exchangesPerMinute: o.exchangesPerMinute } : {}), ...(o.now ? { now: o.now } : {}),
    onRevoked: push,
  });
  return { service, close: () => store.close() };
}
