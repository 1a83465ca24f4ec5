import fp from 'fastify-plugin';
import type { AppOptions } from '../app.js';
import '../types.js';

/** Repositories and clients as typed decorators, so routes never import concrete
 * implementations (SQLite today, PostgreSQL later). */
export default fp<AppOptions>(
  async (fastify, opts) => {
    fastify.decorate('devices', opts.devices);
    fastify.decorate('edge', opts.edge);
    fastify.decorate('control', opts.control);
  },
  { name: 'yulan-services' },
);
