import { fileURLToPath } from 'node:url';

/**
 * The web pages are built into the sibling workspace's `dashboards/www` (`npm run build`:
 * the operator console by Vite, the care page copied from dashboards/public). This file sits
 * directly in cloud/src (vitest) or cloud/dist (compiled), so `../../dashboards/www`
 * resolves to the same folder from both. Computed from import.meta.url rather than
 * imported from @yulan/dashboards because cloud/package.json does not (yet) depend on it.
 */
export const defaultDashboardDir: string = fileURLToPath(new URL('../../dashboards/www/', import.meta.url));
