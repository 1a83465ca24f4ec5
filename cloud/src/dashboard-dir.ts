import { fileURLToPath } from 'node:url';

/**
 * The dashboard page lives in the sibling workspace `dashboards/public`. This file sits
 * directly in cloud/src (vitest) or cloud/dist (compiled), so `../../dashboards/public`
 * resolves to the same folder from both. Computed from import.meta.url rather than
 * imported from @yulan/dashboards because cloud/package.json does not (yet) depend on it.
 */
export const defaultDashboardDir: string = fileURLToPath(new URL('../../dashboards/public/', import.meta.url));
