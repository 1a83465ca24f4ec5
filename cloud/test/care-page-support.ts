/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { loadCloudConfig } from '../src/config.js';
import { startCloud, type CloudHandle } from '../src/start.js';
import { cloudEnv, silentLogger, startBroker, startEdgeStub, tempDir, type EdgeStub, type TestBroker } from './helpers.js';

/** Shared by the care page suites: headless Debian Chromium, axe-core, a real cloud stack. */
export const CHROMIUM = '/usr/bin/chromium';
export const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI === 'true') throw new Error(`${CHROMIUM} is required in CI for the care page tests`);
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

interface AxeViolation { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }

/** axe-core in the page; returns the serious and critical violations, summarised. */
export async function axeProblems(page: Page, context: string = 'html'): Promise<string[]> {
  if (!(await page.evaluate(() => 'axe' in globalThis))) await page.addScriptTag({ path: AXE });
  const violations = await page.evaluate(async (selector) => {
    const axe = (globalThis as unknown as { axe: { run(ctx: unknown, o: unknown): Promise<{ violations: unknown[] }> } }).axe;
    return (await axe.run(document.querySelector(selector), { resultTypes: ['violations'] })).violations;
  }, context) as AxeViolation[];
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} @ ${v.nodes.map((n) => JSON.stringify(n.target)).join(', ')}`);
}

/** Switches the language with the visible button and waits for the page to say so. */
export async function switchTo(page: Page, lang: 'en' | 'zh-CN'): Promise<void> {
  if ((await page.locator('html').getAttribute('lang')) !== lang) await page.locator('#lang').click();
  await page.locator(`html[lang="${lang}"]`).waitFor();
}

/** 360 px wide: no sideways scrolling, ≥ 18 px type, every control at least 44 × 44 px. */
export async function mobileProblems(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const out: string[] = [];
    const doc = document.documentElement;
    if (doc.scrollWidth > doc.clientWidth + 1) out.push(`horizontal overflow ${doc.scrollWidth} > ${doc.clientWidth}`);
    const base = parseFloat(getComputedStyle(document.body).fontSize);
    if (base < 18) out.push(`base font ${base}px`);
    for (const n of document.querySelectorAll<HTMLElement>('button, input, select, textarea, a.call')) {
      const r = n.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue; // hidden
      if (r.height < 44 || r.width < 44) out.push(`${n.tagName}#${n.id || n.textContent?.trim()} is ${Math.round(r.width)}×${Math.round(r.height)}`);
    }
    return out;
  });
}

export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export interface CareStack {
  cloud: CloudHandle;
  edge: EdgeStub;
  browser: Browser;
  adminToken: string;
  /** An admin API call; fails the test on a status ≥ 300. */
  admin(method: string, path: string, body?: unknown): Promise<Record<string, unknown>>;
  /** A phone-sized tab; `bypassCSP` only so that addScriptTag can inject axe-core. */
  phone(opts?: { locale?: string; width?: number; height?: number }): Promise<{ page: Page; problems: string[] }>;
  close(): Promise<void>;
}

/** Broker, edge stub, cloud and Chromium on ephemeral ports in a temp dir. */
export async function startCareStack(adminToken = 'care-page-admin-token-0123456789abcdef'): Promise<CareStack> {
  const tmp = tempDir('yulan-care-page-');
  const users = { cloud: 'cloud-pass' };
  const broker: TestBroker = await startBroker(users);
  const edge = await startEdgeStub();
  const cloud = await startCloud(loadCloudConfig(cloudEnv(tmp.dir, broker, edge, users.cloud, { YULAN_ADMIN_TOKEN: adminToken })), silentLogger);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const contexts: BrowserContext[] = [];
  return {
    cloud, edge, browser, adminToken,
    async admin(method, path, body) {
      const res = await fetch(`${cloud.url}/api/v1${path}`, {
        method, headers: { authorization: `Bearer ${adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      expect(res.status, `${method} ${path}: ${await res.clone().text()}`).toBeLessThan(300);
      return res.status === 204 ? {} : ((await res.json()) as Record<string, unknown>);
    },
    async phone(opts = {}) {
      const ctx = await browser.newContext({
        viewport: { width: opts.width ?? 360, height: opts.height ?? 780 }, locale: opts.locale ?? 'en-US', bypassCSP: true, hasTouch: true,
      });
      contexts.push(ctx);
      const page = await ctx.newPage();
      const problems: string[] = [];
      page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
      page.on('console', (m) => {
        if (m.type() === 'error' && !/401|403|404|Failed to load resource/.test(m.text())) problems.push(`console: ${m.text()}`);
      });
      return { page, problems };
    },
    async close() {
      for (const c of contexts) await c.close().catch(() => undefined);
      await browser.close();
      await cloud.close();
      await broker.close();
      await edge.close();
      tmp.cleanup();
    },
  };
}
