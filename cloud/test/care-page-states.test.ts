/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CareApiStub, ME, PASSWORD, alertSummary } from './care-page-stub.js';
import { axeProblems, CHROMIUM, haveChromium, startCareStack, switchTo, type CareStack } from './care-page-support.js';
import { waitFor } from './helpers.js';

if (!haveChromium) console.warn(`care-page-states.test.ts: ${CHROMIUM} not found; skipping the headless browser test`);

/**
 * Page states driven through a stubbed API (care-page-stub.ts): a list that fails to
 * load, resolving the only open alert, a short screen at sign-in, hostile phone numbers.
 */
describe.runIf(haveChromium)('care page states (stubbed API, headless Chromium)', () => {
  let stack: CareStack;
  beforeAll(async () => {
    stack = await startCareStack();
  });
  afterAll(async () => {
    await stack?.close();
  });

  async function signIn(page: Page): Promise<void> {
    await page.goto(`${stack.cloud.url}/care/`);
    await page.getByLabel(/Login/).fill(ME.login);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#app:not([hidden])').waitFor();
  }

  /** The top of an element in the viewport. */
  const topOf = (page: Page, selector: string): Promise<number> =>
    page.locator(selector).evaluate((n) => n.getBoundingClientRect().top);

  it('"No open alerts" is never said about a list that failed to load; the list loads on a later try', async () => {
    const stub = new CareApiStub();
    stub.alerts.clear();
    stub.alerts.set('al_fall1', alertSummary('al_fall1'));
    stub.listFailures = 1_000_000;
    const { page, problems } = await stack.phone();
    await stub.install(page);
    await signIn(page);
    // The list failed and the stream opened after it: the page says so and does not claim calm.
    await waitFor(() => stub.calls.some((c) => c.path === '/care/stream'), 'the live stream to open');
    expect(await page.locator('#no-alerts').isVisible()).toBe(false);
    await page.locator('#alerts-error-text', { hasText: 'Could not load your alerts: store busy' }).waitFor();
    expect(await page.locator('#no-alerts').isVisible()).toBe(false);

    // It loads on a later try (the stream coming back): the open card, and still no "No open alerts".
    stub.listFailures = 0;
    const card = page.locator('[data-alert-id="al_fall1"]');
    await card.waitFor();
    await page.locator('#alerts-error').waitFor({ state: 'hidden' });
    expect(await page.locator('#no-alerts').isVisible()).toBe(false);
    expect(await axeProblems(page)).toEqual([]);
    expect(problems).toEqual([]);
  });

  it('right after the only open alert is resolved, no "No open alerts" above (or beside) its card; after a reload, it is said above the history', async () => {
    const stub = new CareApiStub();
    stub.alerts.clear();
    stub.alerts.set('al_fall1', alertSummary('al_fall1'));
    const { page, problems } = await stack.phone();
    await stub.install(page);
    await signIn(page);
    const card = page.locator('[data-alert-id="al_fall1"]');
    await card.getByRole('button', { name: "I'm handling it" }).click();
    await card.getByRole('button', { name: 'Mark as resolved' }).click();
    await card.locator('[data-role="status"]', { hasText: 'Resolved: Helped up' }).waitFor();
    expect(await page.locator('#no-alerts').isVisible()).toBe(false);
    expect(await page.locator('#alert-list article.alert').first().getAttribute('data-alert-id')).toBe('al_fall1');

    // A fresh load with nothing open: the message shows, the closed card below it under its own heading.
    await page.reload();
    await page.locator('#no-alerts').waitFor();
    await page.locator('#alert-history [data-alert-id="al_fall1"]').waitFor();
    expect(await page.locator('#alert-list article.alert').count()).toBe(0);
    expect(await topOf(page, '#no-alerts')).toBeLessThan(await topOf(page, '#history-title'));
    expect(await page.locator('#history-title').textContent()).toBe('Earlier alerts');
    expect(await axeProblems(page)).toEqual([]);
    expect(problems).toEqual([]);
  });

  it('after sign-in on a short screen, the "signed in as" and live lines are in view below the sticky header', async () => {
    const stub = new CareApiStub();
    // 360 × 420: a phone with its keyboard up; reaching "Sign in" scrolls the form.
    const { page, problems } = await stack.phone({ height: 420 });
    await stub.install(page);
    await signIn(page);
    await page.locator('[data-alert-id="al_unconf1"]').waitFor();
    await page.locator('#whoami', { hasText: 'Signed in as' }).waitFor();
    const boxes = await page.evaluate(() => {
      const box = (sel: string) => document.querySelector(sel)!.getBoundingClientRect();
      return { header: box('header.top').bottom, whoami: box('#whoami'), live: box('#live'), height: window.innerHeight };
    });
    for (const line of [boxes.whoami, boxes.live]) {
      expect(line.height).toBeGreaterThan(0);
      expect(line.top).toBeGreaterThanOrEqual(boxes.header - 0.5);
      expect(line.bottom).toBeLessThanOrEqual(boxes.height);
    }
    expect(await page.locator('#whoami').textContent()).toBe('Signed in as Li Wei · Family member');
    // The skip link lands below the header too.
    await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
    await page.keyboard.press('Shift+Tab'); // leave whatever had focus
    await page.locator('.skip').focus();
    await page.keyboard.press('Enter');
    await waitFor(() => page.evaluate(() => location.hash === '#main'), 'the skip link to be followed');
    const afterSkip = await page.evaluate(() => ({ header: document.querySelector('header.top')!.getBoundingClientRect().bottom, whoami: document.querySelector('#whoami')!.getBoundingClientRect().top }));
    expect(afterSkip.whoami).toBeGreaterThanOrEqual(afterSkip.header - 0.5);
    expect(problems).toEqual([]);
  });

  it('tel: links carry digits only; anything that is not a phone number is shown as text, never linked; role labels in both languages', async () => {
    const stub = new CareApiStub();
    stub.contacts = {
      residentId: 'r_wang', name: 'Wang Fang', address: 'Room 502, <b>not markup</b>', phone: '(021) 6543-2100',
      contacts: [
        { userId: 'u_a', name: 'Param Son', role: 'family', relation: 'son', phone: '+86 138 0000 0000?body=hello' },
        { userId: 'u_b', name: 'Script Worker', role: 'worker', relation: null, phone: 'javascript:alert(1)' },
        { userId: 'u_c', name: 'Quiet Worker', role: 'worker', relation: null, phone: null },
        { userId: 'u_d', name: 'Chen Jie', role: 'family', relation: 'son', phone: '+86 136-0000-0003' },
      ],
    };
    const { page, problems } = await stack.phone();
    await stub.install(page);
    await signIn(page);
    stub.alerts.set('al_fall1', alertSummary('al_fall1'));
    stub.push('alert', stub.alerts.get('al_fall1'));
    const card = page.locator('[data-alert-id="al_fall1"]');
    await card.locator('.contacts').waitFor();
    expect(await page.locator('a[href]').evaluateAll((as) => as.map((a) => a.getAttribute('href')).filter((h) => h !== '#main'))).toEqual([
      'tel:02165432100', 'tel:+8613600000003',
    ]);
    expect(await card.locator('.address').textContent()).toBe('Address: Room 502, <b>not markup</b>');
    expect(await card.locator('.address b').count()).toBe(0);
    const plain = await card.locator('li.no-call').allTextContents();
    expect(plain).toEqual([
      'Param Son · son · Family member · +86 138 0000 0000?body=hello',
      'Script Worker · Community worker · javascript:alert(1)',
      'Quiet Worker · Community worker · no phone number on file',
    ]);
    // The purpose header names the alert, for the audit log.
    expect(stub.calls.find((c) => c.path === '/residents/r_wang/contacts')?.purpose).toBe('care: acting on alert al_fall1');
    await switchTo(page, 'zh-CN');
    expect(await card.locator('li.no-call').nth(2).textContent()).toBe('Quiet Worker · 社区工作人员 · 未登记电话');
    expect(await page.locator('#whoami').textContent()).toBe('当前用户：Li Wei（家属）');
    expect(await axeProblems(page)).toEqual([]);
    expect(problems).toEqual([]);
  });
});
