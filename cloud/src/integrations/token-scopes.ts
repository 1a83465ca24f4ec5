/**
 * What a scoped API token may do (docs/integrations.md, "API tokens"). A token names
 * scopes; each scope lists the routes it opens. Everything not listed is refused, so a
 * new route stays closed to tokens until someone adds it here: least privilege by default.
 */
export const TokenScope = {
  /** GET a device's telemetry history */
  TelemetryRead: 'telemetry:read',
  /** GET a device's events */
  EventsRead: 'events:read',
  /** the alert stream and list (care alerts name residents: needs the health grant) */
  AlertsRead: 'alerts:read',
  /** send commands and read their results */
  CommandsSend: 'commands:send',
  /** read a device's twin */
  TwinRead: 'twin:read',
  /** change a device's desired settings (the answer is the twin) */
  TwinWrite: 'twin:write',
} as const;
export type TokenScope = (typeof TokenScope)[keyof typeof TokenScope];
export const TOKEN_SCOPES: readonly TokenScope[] = Object.values(TokenScope);

/** Scopes that read residents' health data: only with the integration's health grant. */
export const HEALTH_SCOPES: ReadonlySet<TokenScope> = new Set([TokenScope.AlertsRead]);

/** `METHOD url` (the route's own pattern) → the scope that opens it. */
const ROUTE_SCOPES: Readonly<Record<string, TokenScope>> = {
  'GET /api/v1/devices/:id/telemetry': TokenScope.TelemetryRead,
  'GET /api/v1/devices/:id/events': TokenScope.EventsRead,
  'GET /api/v1/alerts/stream': TokenScope.AlertsRead,
  'POST /api/v1/devices/:id/commands': TokenScope.CommandsSend,
  'GET /api/v1/devices/:id/commands': TokenScope.CommandsSend,
  'GET /api/v1/commands/:id': TokenScope.CommandsSend,
  'GET /api/v1/devices/:id/twin': TokenScope.TwinRead,
  'PUT /api/v1/devices/:id/twin/desired': TokenScope.TwinWrite,
};

export function scopeFor(method: string, url: string | undefined): TokenScope | undefined {
  return url === undefined ? undefined : ROUTE_SCOPES[`${method.toUpperCase()} ${url}`];
}

/** Whether the route's `:id` is a device id (checked against the token's sites and kinds). */
export function isDeviceRoute(url: string | undefined): boolean {
  return url !== undefined && url.startsWith('/api/v1/devices/:id');
}

/** Token strings: `ylt_<id>_<secret>`. The id finds the row; only the secret's SHA-256 is stored. */
export const TOKEN_PREFIX = 'ylt_';
const TOKEN_RE = /^ylt_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export function parseToken(token: string): { id: string; secret: string } | undefined {
  const m = TOKEN_RE.exec(token);
  return m ? { id: m[1]!, secret: m[2]! } : undefined;
}
