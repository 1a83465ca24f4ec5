import type { onRequestHookHandler } from 'fastify';
import type { DeviceRepository } from './repositories/device-repository.js';
import type { EdgeClient } from './edge-client.js';
import type { ControlPublisher } from './mqtt-link.js';
import type { Principal } from './care/contracts.js';

// Typed decorators (set in plugins/services.ts and plugins/admin-auth.ts).
declare module 'fastify' {
  interface FastifyInstance {
    devices: DeviceRepository;
    edge: EdgeClient;
    control: ControlPublisher;
    /** onRequest hook: 401 unless `Authorization: Bearer <admin token>` */
    requireAdmin: onRequestHookHandler;
    /** onRequest hook: 401 unless `Authorization: Bearer <broker token>` */
    requireBroker: onRequestHookHandler;
    /** onRequest hook: 401 unless `Authorization: Bearer <edge token>` (edge → cloud calls) */
    requireEdge: onRequestHookHandler;
    /** onRequest hook (care/people): 401 unless a session or the admin token; sets request.principal */
    authenticate: onRequestHookHandler;
  }
  interface FastifyRequest {
    /** who is calling; set by `authenticate` (care/people) */
    principal?: Principal;
  }
}
export {};
