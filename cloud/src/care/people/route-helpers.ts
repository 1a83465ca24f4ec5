import type { FastifyRequest } from 'fastify';
import { CloudError, CloudErrorCode } from '../../errors.js';
import type { Principal } from '../contracts.js';
import type { Level } from './policy.js';
import type { AuditRecord, HealthGrant, ResidentRecord, UserRecord } from './records.js';

/** The caller; routes using this sit behind `fastify.authenticate`. */
export function who(request: FastifyRequest): Principal {
  const p = request.principal;
  if (!p) throw new CloudError(CloudErrorCode.Unauthorized, 'sign in first');
  return p;
}

/** How the audit log names the caller. */
export function actorOf(p: Principal): string {
  return p.kind === 'person' ? p.userId : p.kind === 'api-token' ? `token:${p.tokenId}` : 'admin-token';
}

export function isAdmin(p: Principal): boolean {
  return p.kind === 'admin-token' || (p.kind === 'person' && p.role === 'admin');
}

/** Management routes: the admin token or a person with role admin; others get 403
 * (these routes reveal nothing about a particular resident, so no need to pretend 404). */
export function requireAdmin(request: FastifyRequest): Principal {
  const p = who(request);
  if (!isAdmin(p)) throw new CloudError(CloudErrorCode.Forbidden, 'this needs an administrator');
  return p;
}

/** The one answer for a resident that does not exist *and* for one the caller may not
 * see, so that probing ids tells nothing (docs/care.md §5). */
export function residentNotFound(id: string): CloudError {
  return new CloudError(CloudErrorCode.NotFound, `resident "${id}" not found`);
}

export const iso = (ms: number): string => new Date(ms).toISOString();

export function toPersonView(u: UserRecord) {
  return {
    id: u.id,
    login: u.login,
    name: u.name,
    role: u.role,
    locale: u.locale,
    // Secrets never leave through a read; only the response that issued them shows them.
    channels: u.channels.map((c) => ({ type: c.type, address: c.address, hasSecret: c.secret !== undefined })),
    phone: u.phone,
    disabled: u.disabled,
    hasPassword: u.hasPassword,
    createdAt: iso(u.createdAt),
  };
}

/** A resident as the caller may see it: profile access gets name, community, devices. */
export function toResidentView(r: ResidentRecord, devices: string[], level: Level) {
  const profile = { id: r.id, name: r.name, communityId: r.communityId, devices, access: level === 'health' ? 'health' as const : 'profile' as const };
  if (level !== 'health') return profile;
  return {
    ...profile,
    address: r.address,
    phone: r.phone,
    birthYear: r.birthYear,
    notes: r.notes,
    ladder: r.ladder,
    routine: r.routine,
    createdAt: iso(r.createdAt),
  };
}

export function toGrantView(g: HealthGrant, nowMs: number) {
  return { ...g, createdAt: iso(g.createdAt), expiresAt: iso(g.expiresAt), active: g.expiresAt > nowMs };
}

export function toAuditView(a: AuditRecord) {
  return { id: a.id, at: iso(a.atMs), actor: a.actor, action: a.action, residentId: a.residentId, purpose: a.purpose, detail: a.detail };
}
