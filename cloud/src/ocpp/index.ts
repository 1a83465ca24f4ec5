import type { FastifyPluginAsync } from 'fastify';
import type { Logger } from 'pino';
import type { DeviceRepository } from '../repositories/device-repository.js';
import { idTagRoutes, idTagSyncRoute } from './id-tag-routes.js';
import { IdTagService } from './id-tag-service.js';
import type { DbTarget } from '../db/target.js';
import { openIdTagStore } from './pg-id-tag-store.js';

export { IdTagService } from './id-tag-service.js';

export interface OcppModule {
  idTags: IdTagService;
  close(): Promise<void>;
}

/** What the cloud keeps for OCPP chargers (docs/ocpp.md): the id tag list, `<dataDir>/ocpp-id-tags.sqlite`
 * or the `ocpp` schema in PostgreSQL. */
export async function openOcpp(o: { target: DbTarget; devices: DeviceRepository; logger: Logger; now?: () => number }): Promise<OcppModule> {
  const store = await openIdTagStore(o.target);
  const idTags = new IdTagService(store, o.devices, o.logger.child({ part: 'ocpp' }), o.now);
  return { idTags, close: () => store.close() };
}

/** Admin routes of the id tag list and the gateways' sync feed, mounted under /api/v1. */
export const ocppRoutes: FastifyPluginAsync<{ ocpp: OcppModule; gatewayToken?: string }> = async (fastify, o) => {
  await fastify.register(idTagRoutes, { idTags: o.ocpp.idTags });
  await fastify.register(idTagSyncRoute, { idTags: o.ocpp.idTags, ...(o.gatewayToken !== undefined ? { gatewayToken: o.gatewayToken } : {}) });
};
