import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * vitest's global setup (vitest.config.ts). The suites that open the operator console or the
 * care page need the built pages in dashboards/www, which `npm test` makes first (`npm run
 * build`). Running one suite on a fresh clone (`npx vitest run gateways/test/…`) would instead
 * time out waiting for a page that is never served, so the pages are built here, once, when
 * they are missing. Nothing is rebuilt when they exist: `npm run build` owns freshness.
 */
export default function setup(): void {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  if (existsSync(`${root}dashboards/www/index.html`)) return;
  console.warn('[tests] dashboards/www is missing: building the pages once (npm run build -w @yulan/dashboards)');
  execFileSync('npm', ['run', 'build', '-w', '@yulan/dashboards'], { cwd: root, stdio: 'inherit' });
}
