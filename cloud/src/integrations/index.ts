import type { Logger } from 'pino';
import type { AuditLog } from '../care/contracts.js';
import type { DbTarget } from '../db/target.js';
import { openIntegrationStores } from './pg-integration-store.js';
import { IntegrationService, type NoticePublisher } from './service.js';
import { ApiTokenService } from './token-service.js';

export { default as integrationRoutes, integrationAuthRoute } from './routes.js';
export { default as apiTokenRoutes } from './token-routes.js';
export { IntegrationService } from './service.js';
export { ApiTokenService } from './token-service.js';

export interface IntegrationsModule {
  service: IntegrationService;
  /** scoped API tokens (bound to an account or standalone), same file */
  tokens: ApiTokenService;
  close(): Promise<void>;
}

/** Integration accounts and API tokens (docs/integrations.md): `<dataDir>/integrations.sqlite`,
 * or the `integrations` schema in PostgreSQL. */
export async function openIntegrations(o: { target: DbTarget; mqtt: NoticePublisher; logger: Logger; healthAudit?: AuditLog; now?: () => number }): Promise<IntegrationsModule> {
  const { accounts, tokens } = await openIntegrationStores(o.target);
  const logger = o.logger.child({ part: 'integrations' });
  const extra = { ...(o.healthAudit ? { healthAudit: o.healthAudit } : {}), ...(o.now ? { now: o.now } : {}) };
  const service = new IntegrationService({ store: accounts, mqtt: o.mqtt, logger, ...extra });
  return { service, tokens: new ApiTokenService({ tokens, integrations: accounts, logger, ...extra }), close: () => accounts.close() };
}
