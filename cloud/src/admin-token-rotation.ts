import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { findInUse, generateSecret } from '@yulan/protos';
import { ADMIN_TOKEN_KEY, digestToken } from './auth-tokens.js';
import type { AuditLog } from './care/contracts.js';
import { SqlitePeopleRepository } from './care/people/repository.js';
import { CloudError, CloudErrorCode } from './errors.js';
import type { DeviceRepository } from './repositories/device-repository.js';
import { SqliteDeviceRepository } from './repositories/sqlite-device-repository.js';
import { adminSecurity, errorResponses } from './schemas/common.js';
import './types.js';

/** The audit action of a rotation (people.sqlite `audit`, docs/deploy.md). */
export const ROTATE_ACTION = 'admin.token.rotate';

/**
 * Replaces the admin token: a new 256-bit token, its SHA-256 stored in place of the old
 * one. `live` is the digest the running app checks every request against: it is
 * overwritten in place, so the old token stops working at once in every auth hook that
 * holds it, without a restart. Returns the new token, which is never stored.
 */
export async function rotateAdminToken(
  repo: DeviceRepository, audit: AuditLog | undefined, actor: string, detail: string, live?: Buffer,
): Promise<string> {
  const token = generateSecret();
  const digest = digestToken(token);
  // Audit first: a rotation that cannot be recorded does not happen.
  await audit?.record({ actor, action: ROTATE_ACTION, residentId: null, purpose: 'admin token rotation', detail });
  await repo.setSetting(ADMIN_TOKEN_KEY, digest.toString('base64url'));
  live?.set(digest);
  return token;
}

/**
 * Offline rotation on a data directory (YULAN_DATA_DIR) while the cloud is stopped: the
 * documented recovery of a lost token. Refused while a cloud runs on it — that process
 * keeps the old digest in memory — so the old token cannot silently stay valid.
 */
export async function rotateAdminTokenOffline(dataDir: string, actor: string): Promise<string> {
  const cloudDir = join(dataDir, 'cloud');
  const registry = join(cloudDir, 'registry.sqlite');
  if (!existsSync(registry)) throw new CloudError(CloudErrorCode.NotFound, `no cloud data at ${cloudDir} (set YULAN_DATA_DIR to the data directory the cloud uses)`);
  const running = findInUse(dataDir).find((u) => u.service === 'cloud');
  if (running) {
    throw new CloudError(CloudErrorCode.Conflict, `the cloud is running on ${dataDir} (pid ${running.pid}): stop it first, or rotate online with the current token (YULAN_CLOUD_URL and YULAN_ADMIN_TOKEN set)`);
  }
  const repo = new SqliteDeviceRepository({ file: registry });
  const people = new SqlitePeopleRepository({ file: join(cloudDir, 'people.sqlite'), now: Date.now });
  try {
    return await rotateAdminToken(repo, people.audit, actor, 'offline, on the data directory');
  } finally {
    await people.close();
    await repo.close();
  }
}

/** `POST /api/v1/admin/token/rotate` with the current admin token: the new one, once. */
export const adminTokenRoutes: FastifyPluginAsyncTypebox<{ digest: Buffer; audit?: AuditLog }> = async (fastify, opts) => {
  fastify.addHook('onRequest', fastify.requireAdmin);
  fastify.post('/admin/token/rotate', {
    schema: {
      tags: ['admin'], summary: 'Replace the admin token; the old one stops working at once (audited)', security: adminSecurity,
      response: { 200: Type.Object({ token: Type.String() }), ...errorResponses(401, 429) },
    },
  }, async (request, reply) => {
    // Whoever the auth hook vouched for: the admin token today, a signed-in admin if the
    // people sign-in ever covers this route.
    const p = request.principal;
    const actor = p?.kind === 'person' ? p.userId : 'admin-token';
    const token = await rotateAdminToken(fastify.devices, opts.audit, actor, `online from ${request.ip}`, opts.digest);
    request.log.warn('admin token rotated; the old token no longer works');
    return reply.header('cache-control', 'no-store').send({ token });
  });
};
