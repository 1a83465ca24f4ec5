import type { Logger } from 'pino';
import type { AuditLog } from '../care/contracts.js';
import { IntegrationService, type NoticePublisher } from './service.js';
import { IntegrationStore } from './store.js';

export { default as integrationRoutes, integrationAuthRoute } from './routes.js';
export { IntegrationService } from './service.js';

export interface IntegrationsModule {
  service: IntegrationService;
  close(): void;
}

/** Integration accounts (docs/integrations.md): `<dataDir>/integrations.sqlite`. */
export function openIntegrations(o: { file: string; mqtt: NoticePublisher; logger: Logger; healthAudit?: AuditLog; now?: () => number }): IntegrationsModule {
  const store = new IntegrationStore(o.file);
  const service = new IntegrationService({ store, mqtt: o.mqtt, logger: o.logger.child({ part: 'integrations' }),
    ...(o.healthAudit ? { healthAudit: o.healthAudit } : {}), ...(o.now ? { now: o.now } : {}) });
  return { service, close: () => store.close() };
}
