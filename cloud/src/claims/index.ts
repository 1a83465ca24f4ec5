import type { Logger } from 'pino';
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
}): Promise<ClaimsModule> {
  const store = await openClaimStore(o.db);
  const service = new ClaimService({
    store, devices: o.devices, logger: o.logger.child({ part: 'claims' }),
    ...(o.certs ? { certs: o.certs } : {}), ...(o.exchangesPerMinute !== undefined ? { exchangesPerMinute: o.exchangesPerMinute } : {}), ...(o.now ? { now: o.now } : {}),
  });
  return { service, close: () => store.close() };
}
