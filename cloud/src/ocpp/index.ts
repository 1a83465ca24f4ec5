import type { FastifyPluginAsync } from 'fastify';
import type { Logger } from 'pino';
import type { DeviceRepository } from '../repositories/device-repository.js';
import type { AuditLog } from '../care/contracts.js';
import { idTagRoutes, idTagSyncRoute } from './id-tag-routes.js';
import { IdTagService } from './id-tag-service.js';
import type { DbTarget } from '../db/target.js';
import { openIdTagStore } from './pg-id-tag-store.js';
import type { CommandService } from '../control/commands.js';
import { SitePowerCaps } from './site-power-cap-service.js';
import { sitePowerCapRoutes } from './site-power-cap-routes.js';
import { openSitePowerCapStore } from './site-power-cap-store.js';
import { openLease } from '../db/lease.js';
import { DiagnosticsService } from './diagnostics-service.js';
import { openDiagnosticsStore } from './diagnostics-store.js';
import { diagnosticsIntakeRoute } from './diagnostics-routes.js';

export { IdTagService } from './id-tag-service.js';

export interface OcppModule {
  idTags: IdTagService;
  /** site power caps in W (docs/ocpp.md §4.1); only with the commands module */
  sitePowerCaps?: SitePowerCaps;
  /** chargers' diagnostics files handed over by the gateways (docs/ocpp.md §4.2); only with `diagnostics` */
  diagnostics?: DiagnosticsService;
  close(): Promise<void>;
}

/** What the cloud keeps for OCPP chargers (docs/ocpp.md): the id tag list, `<dataDir>/ocpp-id-tags.sqlite`
 * or the `ocpp` schema in PostgreSQL; site power caps in `capTarget` (`ocpp-site-power-caps.sqlite`
 * or the `site_power_caps` schema; divided by one cloud at a time, the `site-power-caps` lease). */
export async function openOcpp(o: { target: DbTarget; capTarget?: DbTarget; capPollMs?: number; devices: DeviceRepository; logger: Logger; now?: () => number; commands?: CommandService; capSettleMs?: number;
  diagnostics?: { target: DbTarget; maxBytes: number; retentionDays: number; audit: AuditLog } }): Promise<OcppModule> {
  const store = await openIdTagStore(o.target);
  const idTags = new IdTagService(store, o.devices, o.logger.child({ part: 'ocpp' }), o.now);
  let diagnostics: DiagnosticsService | undefined;
  if (o.diagnostics) {
    const diagLog = o.logger.child({ part: 'ocpp-diagnostics' });
    diagnostics = new DiagnosticsService({ store: await openDiagnosticsStore(o.diagnostics.target, diagLog), devices: o.devices, audit: o.diagnostics.audit, logger: diagLog,
      maxBytes: o.diagnostics.maxBytes, retentionDays: o.diagnostics.retentionDays, ...(o.now ? { now: o.now } : {}) });
    diagnostics.start();
  }
  const withDiag = diagnostics ? { diagnostics } : {};
  if (!o.commands) return { idTags, ...withDiag, close: async () => { await diagnostics?.close(); await store.close(); } };
  const capTarget: DbTarget = o.capTarget ?? { kind: 'sqlite', file: ':memory:' };
  const capStore = await openSitePowerCapStore(capTarget);
  const capLog = o.logger.child({ part: 'site-power-cap' });
  // several clouds: one divides (docs/ocpp.md §4.1)
  const lease = openLease(capTarget, 'site-power-caps', { logger: capLog });
  const sitePowerCaps = new SitePowerCaps({ store: capStore, devices: o.devices, commands: o.commands, logger: capLog, lease,
    ...(o.capSettleMs !== undefined ? { settleMs: o.capSettleMs } : {}), ...(o.capPollMs !== undefined ? { pollMs: o.capPollMs } : {}) });
  return { idTags, sitePowerCaps, ...withDiag, close: async () => { await sitePowerCaps.close(); await capStore.close(); await diagnostics?.close(); await store.close(); } };
}

/** Admin routes of the id tag list and the gateways' sync feed, mounted under /api/v1. */
export const ocppRoutes: FastifyPluginAsync<{ ocpp: OcppModule; gatewayToken?: string }> = async (fastify, o) => {
  await fastify.register(idTagRoutes, { idTags: o.ocpp.idTags });
  await fastify.register(idTagSyncRoute, { idTags: o.ocpp.idTags, ...(o.gatewayToken !== undefined ? { gatewayToken: o.gatewayToken } : {}) });
  if (o.ocpp.diagnostics) await fastify.register(diagnosticsIntakeRoute, { diagnostics: o.ocpp.diagnostics, ...(o.gatewayToken !== undefined ? { gatewayToken: o.gatewayToken } : {}) });
  if (o.ocpp.sitePowerCaps) await fastify.register(sitePowerCapRoutes, { caps: o.ocpp.sitePowerCaps });
};
