import type { onRequestHookHandler } from 'fastify';
import type { DeviceRepository } from './repositories/device-repository.js';
import type { EdgeClient } from './edge-client.js';
import type { ControlPublisher } from './mqtt-link.js';

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
  }
}
export {};
