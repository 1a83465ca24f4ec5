import type { paths } from './api-types.js';

/** Response body of a GET path, from the generated OpenAPI types. */
export type Get<P extends keyof paths> = paths[P] extends { get: { responses: { 200: { content: { 'application/json': infer B } } } } } ? B : never;

export type FleetPage = Get<'/api/v1/fleet'>;
export type FleetCounts = Get<'/api/v1/fleet/counts'>;
export type Device = Get<'/api/v1/devices/{id}'>;
export type Twin = Get<'/api/v1/devices/{id}/twin'>;
export type Command = Get<'/api/v1/commands/{id}'>;
export type Telemetry = Get<'/api/v1/devices/{id}/telemetry'>;
export type Events = Get<'/api/v1/devices/{id}/events'>;
export type Campaigns = Get<'/api/v1/campaigns'>;
export type Me = Get<'/api/v1/me'>;

export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly code?: string) {
    super(message);
  }
}

/** Same-origin JSON calls; the session cookie (HttpOnly, SameSite=Strict) authenticates. */
export async function api<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
  const r = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), 'x-yulan-purpose': 'operator console', ...headers },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await r.text();
  const json = text ? (JSON.parse(text) as unknown) : undefined;
  if (!r.ok) {
    const e = json as { message?: string; code?: string } | undefined;
    if (r.status === 401) window.dispatchEvent(new CustomEvent('yulan:signed-out'));
    throw new ApiError(r.status, e?.message ?? r.statusText, e?.code);
  }
  return json as T;
}

export const qs = (o: Record<string, string | number | undefined>): string => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(o)) if (v !== undefined && v !== '') p.set(k, String(v));
  return p.toString();
};
