import type { FastifyPluginAsync } from 'fastify';
import type { AppOptions } from '../app.js';
import health from './health.js';
import devices from './devices.js';
import sites from './sites.js';
import siteExceedances from './site-exceedances.js';
import deviceData from './device-data.js';
import deviceAuth from './device-auth.js';
import metrics from './metrics.js';
import peopleRoutes from '../care/people/routes.js';
import { alertsPlugin } from '../care/alerts/index.js';
import firmwareRoutes from '../firmware/routes.js';
import { controlRoutes } from '../control/index.js';
import { adminTokenRoutes } from '../admin-token-rotation.js';
import { peopleHealthGate } from '../console/health-gate.js';
import fleetRoutes from '../console/fleet-routes.js';
import catalogRoute from '../console/catalog-route.js';
import rotateSecretRoute from '../console/rotate-secret-route.js';
import liveRoutes from '../console/live-routes.js';
import brokerRoutes from '../console/broker-routes.js';
import deviceHistoryRoutes from '../console/device-history-routes.js';
import brokerLiveRoute from '../console/broker-live-route.js';
import { openDataPlugin } from '../open/index.js';
import { apiTokenRoutes, integrationAuthRoute, integrationRoutes } from '../integrations/index.js';
import { alertStreamRoute } from '../integrations/alert-stream.js';
import { deviceCertAuthRoute, deviceCertRoutes } from '../device-certs/index.js';
import { ocppRoutes } from '../ocpp/index.js';
import { diagnosticsRoutes } from '../ocpp/diagnostics-routes.js';
import { claimHttpExchangeRoute, claimInternalRoutes, claimRoutes } from '../claims/index.js';
import { VerifyQueue } from '../verify-queue.js';
import { securityRoutes } from '../security/index.js';
import { updatePolicyRoutes } from '../firmware/update-policy-routes.js';
import '../types.js';

/** Route tree (explicit for the reason given in plugins/index.ts). Each scope gets its
 * own auth hook: admin token for the API, broker token for the internal endpoint. */
const routes: FastifyPluginAsync<AppOptions> = async (fastify, opts) => {
  // 4 = libuv's default thread pool, where the hashing runs anyway (verify-queue.ts).
  const deviceAuthQueue = opts.deviceAuthQueue ?? new VerifyQueue(4);
  // refused sign-ins and credentials, counted for the security monitor (security/http-refusals.ts)
  if (opts.security) fastify.addHook('onResponse', opts.security.countRefusals);
  await fastify.register(health);
  await fastify.register(
    async (admin) => {
      admin.addHook('onRequest', admin.authorizeStaff);
      // Reads of device data are audited against the residents the devices served.
      const audit = opts.people ? { audit: opts.people.reads, health: peopleHealthGate(opts.people) } : {};
      await admin.register(devices, audit);
      await admin.register(sites);
      await admin.register(siteExceedances);
      await admin.register(deviceData, audit);
      await admin.register(fleetRoutes, audit);
      await admin.register(catalogRoute);
      await admin.register(rotateSecretRoute);
      await admin.register(deviceHistoryRoutes, { ...audit, ...(opts.firmware ? { firmware: opts.firmware } : {}) });
      // chargers' diagnostics files (docs/ocpp.md §4.2); the service audits every read
      if (opts.ocpp?.diagnostics) await admin.register(diagnosticsRoutes, { diagnostics: opts.ocpp.diagnostics });
      if (opts.deviceCerts) await admin.register(deviceCertRoutes, { certs: opts.deviceCerts });
      if (opts.mqtt) {
        await admin.register(liveRoutes, { mqtt: opts.mqtt, ...(opts.people ? { health: peopleHealthGate(opts.people), sessions: opts.people.sessions } : {}) });
      }
      await admin.register(metrics, { ...opts, deviceAuthQueue });
      if (opts.security) await admin.register(securityRoutes, { security: opts.security });
      if (opts.updatePolicy) await admin.register(updatePolicyRoutes, { policy: opts.updatePolicy, ...(opts.people ? { audit: opts.people.audit } : {}) });
      await admin.register(brokerRoutes, { token: opts.brokerToken, ...(opts.serviceFetch ? { fetch: opts.serviceFetch } : {}), ...(opts.brokerAdminUrl !== undefined ? { baseUrl: opts.brokerAdminUrl } : {}), ...(opts.people ? { audit: opts.people.audit } : {}) });
      await admin.register(brokerLiveRoute, { token: opts.brokerToken, ...(opts.serviceFetch ? { fetch: opts.serviceFetch } : {}), ...(opts.brokerAdminUrl !== undefined ? { baseUrl: opts.brokerAdminUrl } : {}), ...(opts.people ? { sessions: opts.people.sessions } : {}) });
    },
    { prefix: '/api/v1' },
  );
  await fastify.register(deviceAuth, { prefix: '/api/v1', queue: deviceAuthQueue });
  if (opts.deviceCerts) await fastify.register(deviceCertAuthRoute, { prefix: '/api/v1', certs: opts.deviceCerts });
  // admin token rotation (docs/deploy.md), audited in the people module's log when open
  await fastify.register(adminTokenRoutes, { prefix: '/api/v1', digest: opts.adminTokenDigest, ...(opts.people ? { audit: opts.people.audit } : {}) });
  // people and access (docs/care.md §5); only when the people module is open
  if (opts.people) await fastify.register(peopleRoutes, opts);
  // alert lifecycle, ladder and notifications (docs/care.md §2–§4); only when the alerts module is open
  if (opts.alerts) await fastify.register(alertsPlugin, { prefix: '/api/v1', alerts: opts.alerts });
  // open alerts and their changes for tools (admin token, API token with alerts:read), issue 16
  if (opts.alerts) await fastify.register(alertStreamRoute({ alerts: opts.alerts, ...(opts.integrations ? { tokens: opts.integrations.tokens } : {}) }), { prefix: '/api/v1' });
  // device twins and commands (docs/control.md §1); admin token, own scope
  if (opts.deviceControl) await fastify.register(controlRoutes, { prefix: '/api/v1', control: opts.deviceControl });
  // firmware images and staged campaigns (docs/control.md §2); only when the module is open
  if (opts.firmware) await fastify.register(firmwareRoutes, { prefix: '/api/v1', firmware: opts.firmware });
  // open environmental data, no login, its own per-address budget (issue 14)
  if (opts.sta) await fastify.register(openDataPlugin, { ...opts, sta: opts.sta });
  // integration accounts (issue 16): admin routes, and the broker's internal check
  if (opts.integrations) {
    await fastify.register(integrationRoutes, { prefix: '/api/v1', integrations: opts.integrations.service });
    await fastify.register(integrationAuthRoute, { prefix: '/api/v1', integrations: opts.integrations.service });
    await fastify.register(apiTokenRoutes, { prefix: '/api/v1', tokens: opts.integrations.tokens });
  }
  // OCPP id tags (issue 12): admin routes and the gateways' sync feed
  if (opts.ocpp) await fastify.register(ocppRoutes, { prefix: '/api/v1', ocpp: opts.ocpp, ...(opts.gatewayToken !== undefined ? { gatewayToken: opts.gatewayToken } : {}) });
  // provisioning by claim (issue 17): admin routes, the broker's checks, the HTTP exchange
  if (opts.claims) {
    await fastify.register(claimRoutes, { prefix: '/api/v1', claims: opts.claims.service });
    await fastify.register(claimInternalRoutes, { prefix: '/api/v1', claims: opts.claims.service });
    await fastify.register(claimHttpExchangeRoute, { prefix: '/api/v1', claims: opts.claims.service });
  }
};
export default routes;
