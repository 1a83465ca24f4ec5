import type { Logger } from 'pino';
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
}): ClaimsModule {
  const store = new ClaimStore(o.file);
  const service = new ClaimService({
    store, devices: o.devices, logger: o.logger.child({ part: 'claims' }),
    ...(o.certs ? { certs: o.certs } : {}), ...(o.exchangesPerMinute !== undefined ? { exchangesPerMinute: o.exchangesPerMinute } : {}), ...(o.now ? { now: o.now } : {}),
  });
  return { service, close: () => store.close() };
}
