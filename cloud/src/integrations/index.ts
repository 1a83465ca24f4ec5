import type { Logger } from 'pino';
import type { AuditLog } from '../care/contracts.js';
import { IntegrationService, type NoticePublisher } from './service.js';
import { IntegrationStore } from './store.js';
import { ApiTokenService } from './token-service.js';
import { TokenStore } from './token-store.js';

export { default as integrationRoutes, integrationAuthRoute } from './routes.js';
export { default as apiTokenRoutes } from './token-routes.js';
export { IntegrationService } from './service.js';
export { ApiTokenService } from './token-service.js';

export interface IntegrationsModule {
  service: IntegrationService;
  /** scoped API tokens (bound to an account or standalone), same file */
  tokens: ApiTokenService;
  close(): void;
}

/** Integration accounts and API tokens (docs/integrations.md): `<dataDir>/integrations.sqlite`. */
export function openIntegrations(o: { file: string; mqtt: NoticePublisher; logger: Logger; healthAudit?: AuditLog; now?: () => number }): IntegrationsModule {
  const store = new IntegrationStore(o.file);
  const logger = o.logger.child({ part: 'integrations' });
  const extra = { ...(o.healthAudit ? { healthAudit: o.healthAudit } : {}), ...(o.now ? { now: o.now } : {}) };
  const service = new IntegrationService({ store, mqtt: o.mqtt, logger, ...extra });
  const tokens = new ApiTokenService({ tokens: new TokenStore(store.db), integrations: store, logger, ...extra });
  return { service, tokens, close: () => store.close() };
}
