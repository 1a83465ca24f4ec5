/// <reference lib="dom" />
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { SqliteDeviceRepository } from '@yulan/cloud';

/** Shared by the console suites: axe-core in the page, seeding, screenshots. */
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
export const KINDS = ['ev-charger', 'parcel-locker', 'fall-sensor', 'env-monitor'] as const;

/** Every axe-core violation on the page (any impact): the console's bar is zero. */
export async function axeViolations(page: Page): Promise<string[]> {
  if (!(await page.evaluate(() => 'axe' in globalThis))) await page.addScriptTag({ path: AXE });
  const violations = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(ctx: unknown, o: unknown): Promise<{ violations: { id: string; impact: string; nodes: { target: unknown[] }[] }[] }> } }).axe;
    return (await axe.run(document, { resultTypes: ['violations'] })).violations;
  });
  return violations.map((v) => `${v.impact} ${v.id} @ ${v.nodes.slice(0, 3).map((n) => JSON.stringify(n.target)).join(', ')}`);
}

/** Registers `n` devices straight into the registry file before the cloud opens it (the
 * API would hash a secret per device: minutes for 10,000). Ids are `<kind>-NNNNN`. */
export async function seedRegistry(dataDir: string, n: number, sites = 20): Promise<void> {
  mkdirSync(join(dataDir, 'cloud'), { recursive: true, mode: 0o700 });
  const repo = new SqliteDeviceRepository({ file: join(dataDir, 'cloud', 'registry.sqlite') });
  for (let i = 0; i < n; i++) {
    const kind = KINDS[i % 4]!;
    await repo.create({ id: `${kind}-${String(i).padStart(5, '0')}`, site: `site-${String(i % sites).padStart(2, '0')}`, kind, name: null, firmwareVersion: '1.0.0', secretHash: 'scrypt$unused' });
  }
  await repo.close();
}

/** docs/console-<name>.png when YULAN_CONSOLE_SCREENSHOTS is set (to refresh the README's). */
export async function screenshot(page: Page, name: string): Promise<void> {
  const dir = process.env.YULAN_CONSOLE_SCREENSHOTS;
  if (dir) await page.screenshot({ path: join(dir, `console-${name}.png`), fullPage: false });
}
