import { existsSync } from 'node:fs';
import type { FastifyPluginAsync } from 'fastify';
import fastifyStatic from '@fastify/static';
import type { AppOptions } from '../app.js';

/** Serves the dashboard page at `/`. Encapsulated (no fastify-plugin) so its
 * `sendFile` decorator cannot clash with the one @fastify/swagger-ui brings. */
const dashboard: FastifyPluginAsync<AppOptions> = async (fastify, opts) => {
  const root = opts.dashboardDir;
  if (!root) return;
  if (!existsSync(root)) {
    fastify.log.warn({ root }, 'dashboard folder missing; the page is not served');
    return;
  }
  // The care page (dashboards/public/care/) is served at /care/ by the index rule below;
  // /care without the slash would break its relative module URLs, so it redirects.
  if (existsSync(`${root.replace(/\/$/, '')}/care/index.html`)) {
    fastify.get('/care', { schema: { hide: true } }, (_request, reply) => reply.redirect('/care/', 301));
  }
  await fastify.register(fastifyStatic, {
    root,
    prefix: '/',
    index: 'index.html',
    wildcard: false,
    setHeaders(reply) {
      // The page only talks to this origin and loads nothing inline or third-party.
      void reply.header(
        'content-security-policy',
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'",
      );
      void reply.header('x-content-type-options', 'nosniff');
      void reply.header('referrer-policy', 'no-referrer');
    },
  });
};
export default dashboard;
