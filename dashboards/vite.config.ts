import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (p: string): string => fileURLToPath(new URL(p, import.meta.url));

/**
 * The operator console (console/) built to www/, which the cloud serves at `/`. public/
 * (the care page, served at /care/) is copied into www/ unchanged. No inline scripts or
 * styles come out of the build, so the cloud's strict CSP holds.
 */
export default defineConfig({
  root: here('./console'),
  publicDir: here('./public'),
  base: '/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: here('./www'),
    emptyOutDir: true,
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    target: 'es2022',
    reportCompressedSize: false,
  },
  logLevel: 'warn',
});
