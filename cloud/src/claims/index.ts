import type { Logger } from 'pino';
import { REVOKE_CLAIM_TOPIC } from '@yulan/protos';
import type { DbTarget } from '../db/target.js';
import type { DeviceRepository } from '../repositories/device-repository.js';
import type { DeviceCertsModule } from '../device-certs/index.js';
import { PgClaimStore } from './pg-claim-store.js';
import { ClaimService } from './service.js';
import { SqliteClaimStore, type ClaimStore } from './store.js';

export { claimRoutes, claimInternalRoutes, claimHttpExchangeRoute } from './routes.js';
export { ClaimService, REFUSED_ACTION } from './service.js';
export { SqliteClaimStore, type ClaimStore } from './store.js';
export { PgClaimStore } from './pg-claim-store.js';

export interface ClaimsModule {
  service: ClaimService;
  close(): Promise<void>;
}

/** The claim store on `target`: `<dataDir>/claims.sqlite` or the `claims` schema in PostgreSQL. */
export function openClaimStore(target: DbTarget): Promise<ClaimStore> {
  return target.kind === 'sqlite' ? Promise.resolve(new SqliteClaimStore(target.file)) : PgClaimStore.open(target.db);
}

/** Provisioning by claim (docs/security.md). */
export async function openClaims(o: {
  db: DbTarget; devices: DeviceRepository; certs?: DeviceCertsModule; logger: Logger; exchangesPerMinute?: number; now?: () => number;
  /** the cloud's MQTT link: a revocation is pushed to the broker, which closes the claim's
   * open sessions; every revoked claim is pushed again when the link (re)connects */
  mqtt?: { publish(topic: string, payload: Uint8Array, opts: { qos: 0 | 1 }): Promise<void>; onConnect?(handler: () => void): void };
}): Promise<ClaimsModule> {
  const store = await openClaimStore(o.db);
  const mqtt = o.mqtt;
  const push = (claimId: string): void => {
    mqtt?.publish(REVOKE_CLAIM_TOPIC, Buffer.from(claimId, 'utf8'), { qos: 1 })
      .catch((err: unknown) => o.logger.warn({ err, claimId }, 'claim revocation not acknowledged by the broker; re-sent when the link reconnects'));
  };
  mqtt?.onConnect?.(() => {
    void store.list().then((all) => { for (const c of all) if (c.revokedAt !== null) push(c.id); },
      (err: unknown) => o.logger.warn({ err }, 'revoked claims not re-pushed after reconnect: the claim store could not be read'));
  });
  const service = new ClaimService({
    store, devices: o.devices, logger: o.logger.child({ part: 'claims' }),
    ...(o.certs ? { certs: o.certs } : {}), ...(o.exchangesPerMinute !== undefined ? { exchangesPerMinute: o.exchangesPerMinute } : {}), ...(o.now ? { now: o.now } : {}),
    onRevoked: push,
  });
  return { service, close: () => store.close() };
}
