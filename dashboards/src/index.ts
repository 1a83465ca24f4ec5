import { fileURLToPath } from 'node:url';

/** Absolute path of the static dashboard page (plain HTML/CSS/ES module, no build step).
 * `../public` is right from both src/ (tests, tsx) and dist/ (compiled). */
export const dashboardDir: string = fileURLToPath(new URL('../public/', import.meta.url));
