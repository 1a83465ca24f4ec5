import { fileURLToPath } from 'node:url';

/** Absolute path of the built web pages: the operator console (console/, built by Vite)
 * with the care page (public/care/) copied in. `../www` is right from both src/ and dist/. */
export const dashboardDir: string = fileURLToPath(new URL('../www/', import.meta.url));
