import type { FastifyReply, FastifyRequest } from 'fastify';
import type { KindSlug } from '@yulan/protos';
import { FailureLimiter, retryAfterSeconds } from '../auth-limits.js';
import { HEALTH_FIELDS } from '../console/health-gate.js';
import { CloudError, CloudErrorCode } from '../errors.js';
import type { DeviceRepository } from '../repositories/device-repository.js';
import { isDeviceRoute, scopeFor, TOKEN_PREFIX } from './token-scopes.js';
import type { ApiTokenService, TokenPrincipal } from './token-service.js';

export const isApiToken = (bearer: string): boolean => bearer.startsWith(TOKEN_PREFIX);

export interface TokenAuthorizerOptions {
  tokens: ApiTokenService;
  devices: DeviceRepository;
  /** site and kind of a command (for `GET /commands/:id`), when the control module is open */
  commandTarget?: (id: string) => Promise<{ site: string; kind: KindSlug } | undefined>;
  authFailures?: number;
  windowMs?: number;
}

/**
 * The device API's third principal (next to the admin token and people's sessions): a
 * scoped API token. Order of checks: the token itself (wrong ones count towards a
 * per-address budget, like the other credentials), then the route's scope, then — for a
 * device's routes — the token's sites and kinds and, for a health-data kind, the health
 * grant. A device outside the token's sites or kinds answers like an unknown device.
 * Never logs the token, only its id.
 */
export function tokenAuthorizer(o: TokenAuthorizerOptions): (request: FastifyRequest, reply: FastifyReply, token: string) => Promise<TokenPrincipal> {
  const limiter = new FailureLimiter(o.authFailures ?? 20, o.windowMs ?? 60_000);
  return async (request, reply, token) => {
    const r = await o.tokens.resolve(token);
    if (!r.ok) {
      const key = `api-token|${request.ip}`;
      const wait = limiter.retryAfterMs(key);
      if (wait > 0) {
        void reply.header('retry-after', retryAfterSeconds(wait));
        throw new CloudError(CloudErrorCode.TooManyRequests, 'too many failed authentication attempts; try again later');
      }
      limiter.fail(key);
      request.log.info({ reason: r.reason, tokenId: /^ylt_([0-9a-f]{16})_/.exec(token)?.[1] ?? '(malformed)' }, 'API token refused');
      void reply.header('www-authenticate', 'Bearer realm="yulan"');
      throw new CloudError(CloudErrorCode.Unauthorized, r.reason === 'revoked' || r.reason === 'expired' ? `API token ${r.reason}` : 'invalid API token');
    }
    const p = r.principal;
    request.principal = p;
    const url = request.routeOptions.url;
    const scope = scopeFor(request.method, url);
    if (scope === undefined || !p.scopes.includes(scope)) {
      request.log.info({ actor: `token:${p.tokenId}`, needed: scope ?? '(no scope opens this route)', url }, 'API token refused: scope');
      throw new CloudError(CloudErrorCode.Forbidden, scope === undefined ? 'API tokens may not use this route' : `this API token lacks the "${scope}" scope`);
    }
    let target: { site: string; kind: KindSlug } | undefined;
    const id = (request.params as { id?: string }).id;
    if (isDeviceRoute(url) && id !== undefined) {
      // Unknown devices are left to the route (its own 404).
      target = await o.devices.get(id);
      if (target && !inScope(p, target)) throw new CloudError(CloudErrorCode.NotFound, `device "${id}" is not registered`);
    } else if (url === '/api/v1/commands/:id' && id !== undefined) {
      target = await o.commandTarget?.(id);
      if (target && !inScope(p, target)) throw new CloudError(CloudErrorCode.NotFound, `command "${id}" not found`);
    }
    if (target && request.method === 'GET' && HEALTH_FIELDS[target.kind] && !p.healthGrant) {
      throw new CloudError(CloudErrorCode.Forbidden, `a ${target.kind}'s data is residents' health data: this token's integration has no health grant`);
    }
    if (request.method !== 'GET') request.log.info({ actor: `token:${p.tokenId}`, integration: p.integration, scope, url, params: request.params }, 'device API action');
    return p;
  };
}

function inScope(p: TokenPrincipal, d: { site: string; kind: string }): boolean {
  return (p.sites.length === 0 || p.sites.includes(d.site)) && (p.kinds.length === 0 || p.kinds.includes(d.kind));
}
