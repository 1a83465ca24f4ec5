import type { FastifyRequest } from 'fastify';

export const SESSION_COOKIE = 'yulan_session';

/** The value of one cookie from the Cookie header (@fastify/cookie is not a dependency;
 * this one cookie is all the API reads). */
export function readCookie(request: FastifyRequest, name: string): string | undefined {
  const header = request.headers.cookie;
  if (typeof header !== 'string') return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    return value === '' ? undefined : value;
  }
  return undefined;
}

/** HttpOnly so page scripts cannot read it; SameSite=Strict so other sites cannot make
 * the browser send it (the CSRF defence); Secure when served over HTTPS. No Max-Age:
 * the server enforces the 12 h idle expiry, the browser drops it when closed. */
export function sessionCookie(token: string, secure: boolean): string {
  return `${SESSION_COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/${secure ? '; Secure' : ''}`;
}

export function clearedSessionCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0${secure ? '; Secure' : ''}`;
}
