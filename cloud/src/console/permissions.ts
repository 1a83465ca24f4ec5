import type { Principal, Role } from '../care/contracts.js';

/**
 * What people may do with the device and fleet API (issue 15), as one table: roles grant
 * permissions, routes need one. Route handlers never look at roles; the `authorizeStaff`
 * hook (staff-auth.ts) asks `permissionFor` and `can` before a handler runs.
 */
export const Permission = {
  /** read devices, sites, history, twins, commands, campaigns, metrics */
  View: 'view',
  /** send commands to devices */
  Command: 'command',
  /** change desired twin settings */
  Twin: 'twin',
  /** upload firmware, start and steer campaigns */
  Firmware: 'firmware',
  /** register, disable and enable devices; create sites */
  Registry: 'registry',
  /** manage people accounts and grants (the care/people routes check this role themselves) */
  People: 'people',
  /** disconnect a client from the broker (reading the broker view is `view`) */
  Broker: 'broker',
  /** residents' pollution complaints: read them, reveal a contact (with a reason, audited), close */
  Complaints: 'complaints',
} as const;
export type Permission = (typeof Permission)[keyof typeof Permission];

const ALL: readonly Permission[] = Object.values(Permission);

/** Least privilege: operators run the devices, only admins change who and what exists.
 * Care roles (family, worker, call centre) have no device access: they see residents
 * through the care API, scoped to their relationships. */
export const ROLE_PERMISSIONS: Readonly<Record<Role, readonly Permission[]>> = {
  admin: ALL,
  // Operators may disconnect broker clients: it ends one connection, the client comes back
  // by itself (disabling a device, which keeps it out, stays `registry`), and it is audited.
  // Complaints: operators follow them up and may call a reporter back (each reveal audited).
  operator: [Permission.View, Permission.Command, Permission.Twin, Permission.Firmware, Permission.Broker, Permission.Complaints],
  family: [],
  worker: [],
  callcentre: [],
};

export function permissionsOf(p: Principal): readonly Permission[] {
  // The admin token is the automation credential: everything, as before people existed.
  // API tokens get no role permissions: their scopes name routes (integrations/token-scopes.ts).
  return p.kind === 'admin-token' ? ALL : p.kind === 'api-token' ? [] : ROLE_PERMISSIONS[p.role] ?? [];
}

export function can(p: Principal, permission: Permission): boolean {
  return permissionsOf(p).includes(permission);
}

/** Routes whose permission is not the default of their method. Keys are `METHOD url`
 * with the route's own pattern (request.routeOptions.url). */
const ROUTE_PERMISSIONS: Readonly<Record<string, Permission>> = {
  'POST /api/v1/devices/:id/commands': Permission.Command,
  'PUT /api/v1/devices/:id/twin/desired': Permission.Twin,
  // a site's power cap is a setting of the site's chargers (docs/ocpp.md §4.1)
  'PUT /api/v1/sites/:id/power-cap': Permission.Twin,
  'DELETE /api/v1/sites/:id/power-cap': Permission.Twin,
  'POST /api/v1/firmware': Permission.Firmware,
  'POST /api/v1/campaigns': Permission.Firmware,
  'POST /api/v1/campaigns/:id/pause': Permission.Firmware,
  'POST /api/v1/campaigns/:id/resume': Permission.Firmware,
  'POST /api/v1/campaigns/:id/abort': Permission.Firmware,
  'PUT /api/v1/firmware/minimum/:kind': Permission.Firmware,
  'DELETE /api/v1/firmware/minimum/:kind': Permission.Firmware,
  'POST /api/v1/devices': Permission.Registry,
  'POST /api/v1/devices/:id/disable': Permission.Registry,
  'POST /api/v1/devices/:id/enable': Permission.Registry,
  'POST /api/v1/devices/:id/rotate-secret': Permission.Registry,
  'POST /api/v1/sites': Permission.Registry,
  'POST /api/v1/broker/clients/:id/disconnect': Permission.Broker,
  'GET /api/v1/complaints': Permission.Complaints,
  'GET /api/v1/complaints/:id': Permission.Complaints,
  'GET /api/v1/complaints/:id/audit': Permission.Complaints,
  'POST /api/v1/complaints/:id/close': Permission.Complaints,
};

/** The permission a request needs: listed routes as listed, other reads `view`, and any
 * other write `registry` (a new write route stays admin-only until someone lists it). */
export function permissionFor(method: string, url: string | undefined): Permission {
  const listed = url === undefined ? undefined : ROUTE_PERMISSIONS[`${method.toUpperCase()} ${url}`];
  if (listed) return listed;
  return method === 'GET' || method === 'HEAD' ? Permission.View : Permission.Registry;
}
