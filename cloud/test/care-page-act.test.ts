/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { axeProblems, CHROMIUM, haveChromium, mobileProblems, startCareStack, switchTo, type CareStack } from './care-page-support.js';

if (!haveChromium) console.warn(`care-page-act.test.ts: ${CHROMIUM} not found; skipping the headless browser test`);

/**
 * The care page helps the person who claims act (issue 11): the urgent card's address and
 * tap-to-call links (only for those allowed to read them), repeated events collapsed,
 * role labels translated. Real cloud, real routes, real access policy and audit log.
 */
describe.runIf(haveChromium)('care page: the urgent alert card, against the real cloud', () => {
  const PASSWORD = 'correct-horse-battery';
  const ADDRESS_WANG = 'Apt 502, No. 3, Lane 88, Tianping Rd, Xuhui, Shanghai';
  const ADDRESS_ZHAO = '上海市徐汇区宛平路 12 号 101 室';
  let stack: CareStack;
  const ids: Record<string, string> = {};
  let seq = 0;

  /** An edge report of an SOS alert with `presses` presses (each a new revision). */
  async function sos(alertId: string, deviceId: string, presses: number): Promise<void> {
    const t0 = Date.now() - 60_000;
    const events = Array.from({ length: presses }, (_, i) => ({ type: 'sos.pressed', atMs: t0 + i * 7_000, seq: ++seq }));
    const report = {
      id: alertId, revision: presses, deviceId, site: 'xuhui', type: 'sos', level: 'urgent', state: 'open', skipCancelWindow: true,
      openedAtMs: t0, updatedAtMs: Date.now(), firstEventAtMs: t0, lastEventAtMs: events.at(-1)!.atMs, eventCount: presses, events,
      message: 'SOS button pressed',
    };
    const res = await fetch(`${stack.cloud.url}/api/v1/internal/alerts`, {
      method: 'POST', headers: { authorization: `Bearer ${stack.edge.token}`, 'content-type': 'application/json' }, body: JSON.stringify(report),
    });
    expect(res.status, await res.clone().text()).toBe(200);
  }

  async function signIn(page: Page, login: string): Promise<void> {
    await page.goto(`${stack.cloud.url}/care/`);
    await page.getByLabel(/Login/).fill(login);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#live[data-state="live"]').waitFor();
  }

  /** A session token for direct API calls as a person. */
  async function tokenOf(login: string): Promise<string> {
    const res = await fetch(`${stack.cloud.url}/api/v1/auth/login`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ login, password: PASSWORD }),
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { token: string }).token;
  }

  const contactsAs = (token: string, residentId: string): Promise<Response> =>
    fetch(`${stack.cloud.url}/api/v1/residents/${residentId}/contacts`, { headers: { authorization: `Bearer ${token}` } });

  async function contactReads(residentId: string): Promise<{ actor: string; purpose: string; detail: string | null }[]> {
    const audit = (await stack.admin('GET', `/audit?residentId=${residentId}&limit=200`)) as { items: { action: string; actor: string; purpose: string; detail: string | null }[] };
    return audit.items.filter((a) => a.action === 'resident.contacts');
  }

  beforeAll(async () => {
    stack = await startCareStack();
    const { admin } = stack;
    await admin('POST', '/devices', { id: 'fall-xuhui-0101', site: 'xuhui', kind: 'fall-sensor', name: 'Bedroom radar' });
    await admin('POST', '/devices', { id: 'fall-xuhui-0102', site: 'xuhui', kind: 'fall-sensor', name: 'Wall button' });
    const community = await admin('POST', '/communities', { name: 'Xuhui Tianping' });
    const wang = await admin('POST', '/residents', { name: 'Wang Fang', communityId: community.id, address: ADDRESS_WANG, phone: '+86 138 0013 8000' });
    const zhao = await admin('POST', '/residents', { name: 'Zhao Lei', communityId: community.id, address: ADDRESS_ZHAO, phone: '+86 139 0000 0002' });
    ids.wang = String(wang.id);
    ids.zhao = String(zhao.id);
    const person = async (login: string, name: string, role: string, phone: string): Promise<string> =>
      ((await admin('POST', '/people', { login, name, role, locale: 'en', password: PASSWORD, phone, channels: [{ type: 'app', address: '' }] })).person as { id: string }).id;
    ids.liwei = await person('liwei', 'Li Wei', 'family', '+86 137 0000 0001');
    ids.chenjie = await person('chenjie', 'Chen Jie', 'family', '+86 136 0000 0003');
    ids.zhaoqiang = await person('zhaoqiang', 'Zhao Qiang', 'family', '+86 135 0000 0004');
    ids.zhangmin = await person('zhangmin', 'Zhang Min', 'worker', '021 6543 2100');
    ids.opguo = await person('opguo', 'Guo Yun', 'operator', '+86 133 0000 0005');
    await admin('PUT', `/residents/${ids.wang}/devices`, { deviceIds: ['fall-xuhui-0101'] });
    await admin('PUT', `/residents/${ids.zhao}/devices`, { deviceIds: ['fall-xuhui-0102'] });
    await admin('PUT', `/residents/${ids.wang}/family`, { contacts: [{ userId: ids.liwei, relation: 'daughter' }, { userId: ids.chenjie, relation: 'son' }] });
    await admin('PUT', `/residents/${ids.zhao}/family`, { contacts: [{ userId: ids.zhaoqiang, relation: 'son' }] });
    await admin('PUT', `/people/${ids.zhangmin}/assignments`, { assignments: [{ communityId: community.id, onDuty: true }] });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('shows the family member the address and tap-to-call links, three presses as "×3", role labels in both languages; audited', async () => {
    const { page, problems } = await stack.phone();
    await signIn(page, 'liwei');
    expect(await page.locator('#whoami').textContent()).toBe('Signed in as Li Wei · Family member');

    const alertId = 'al_actcardsos00000000001';
    await sos(alertId, 'fall-xuhui-0101', 1);
    const card = page.locator(`[data-alert-id="${alertId}"]`);
    await card.locator('.contacts').waitFor();
    expect(await card.locator('.address').textContent()).toBe(`Address: ${ADDRESS_WANG}`);
    // The resident first, then the other family contact, then the worker on duty; never oneself.
    expect(await card.locator('a.call').evaluateAll((as) => as.map((a) => a.getAttribute('href')))).toEqual([
      'tel:+8613800138000', 'tel:+8613600000003', 'tel:02165432100',
    ]);
    const calls = await card.locator('a.call').allTextContents();
    expect(calls[0]).toContain('Call Wang Fang');
    expect(calls[1]).toContain('Call Chen Jie');
    expect(calls[1]).toContain('son · Family member');
    expect(calls[2]).toContain('Community worker');
    expect(await card.locator('a[href="tel:+8613700000001"]').count()).toBe(0);

    // Two more presses merge into the same alert: one line with the count, not three lines.
    await sos(alertId, 'fall-xuhui-0101', 2);
    await sos(alertId, 'fall-xuhui-0101', 3);
    await card.locator('.events li', { hasText: 'SOS button pressed ×3' }).waitFor();
    expect(await card.locator('.events li').count()).toBe(1);
    expect(await page.locator('article.alert').count()).toBe(1);

    // The read of the numbers is in the audit log, naming the person and the alert.
    const reads = await contactReads(ids.wang!);
    expect(reads.length).toBeGreaterThanOrEqual(1);
    expect(reads.every((r) => r.actor === ids.liwei)).toBe(true);
    expect(reads[0]!.purpose).toContain(alertId);

    expect(await axeProblems(page)).toEqual([]);
    expect(await mobileProblems(page)).toEqual([]);
    // For docs/care-alert-card.png: YULAN_CARE_CARD_SCREENSHOT=../docs/care-alert-card.png
    if (process.env.YULAN_CARE_CARD_SCREENSHOT) await card.screenshot({ path: process.env.YULAN_CARE_CARD_SCREENSHOT });

    await switchTo(page, 'zh-CN');
    expect(await page.locator('#whoami').textContent()).toBe('当前用户：Li Wei（家属）');
    expect(await card.locator('.events li').textContent()).toContain('按下紧急呼叫（SOS）×3 次');
    expect(await card.locator('.address').textContent()).toBe(`地址： ${ADDRESS_WANG}`);
    const zhCalls = await card.locator('a.call').allTextContents();
    expect(zhCalls[0]).toContain('拨打 Wang Fang');
    expect(zhCalls[1]).toContain('son · 家属');
    expect(zhCalls[2]).toContain('社区工作人员');
    expect(await axeProblems(page)).toEqual([]);
    await switchTo(page, 'en');

    // Claim and resolve: right after, the card stays where it was and "No open alerts" is not shown.
    await card.getByRole('button', { name: "I'm handling it" }).click();
    await card.locator('[data-role="status"]', { hasText: 'Being handled by Li Wei (you)' }).waitFor();
    await card.getByRole('button', { name: 'Mark as resolved' }).click();
    await card.locator('[data-role="status"]', { hasText: 'Resolved: Helped up' }).waitFor();
    expect(await page.locator('#no-alerts').isVisible()).toBe(false);
    expect(await page.locator(`#alert-list [data-alert-id="${alertId}"]`).count()).toBe(1);
    // A closed alert needs no numbers: the block goes with the urgency.
    expect(await card.locator('.contacts').count()).toBe(0);
    expect(problems).toEqual([]);
  });

  it('a new press on the alert I handle asks me to confirm it; a press after I resolved it opens a new card', async () => {
    const { page, problems } = await stack.phone();
    await signIn(page, 'liwei');
    const alertId = 'al_actcardconfirm000001';
    const t0 = Date.now() - 30_000;
    const press = (n: number) => ({ type: 'sos.pressed', atMs: t0 + n * 5_000, seq: 9000 + n });
    const send = async (revision: number, presses: number) => {
      const events = Array.from({ length: presses }, (_, i) => press(i));
      const res = await fetch(`${stack.cloud.url}/api/v1/internal/alerts`, {
        method: 'POST', headers: { authorization: `Bearer ${stack.edge.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          id: alertId, revision, deviceId: 'fall-xuhui-0101', site: 'xuhui', type: 'sos', level: 'urgent', state: 'open', skipCancelWindow: true,
          openedAtMs: t0, updatedAtMs: Date.now(), firstEventAtMs: t0, lastEventAtMs: events.at(-1)!.atMs, eventCount: presses, events,
        }),
      });
      expect(res.status).toBe(200);
      return (await res.json()) as { id: string };
    };
    await send(1, 1);
    const card = page.locator(`[data-alert-id="${alertId}"]`);
    await card.getByRole('button', { name: "I'm handling it" }).click();
    await card.locator('[data-role="status"]', { hasText: 'Being handled by Li Wei (you)' }).waitFor();

    // Another press while I handle it: I am told, and asked to confirm.
    await send(2, 2);
    await card.locator('[data-role="confirm-note"]').waitFor();
    expect(await axeProblems(page)).toEqual([]);
    await card.getByRole('button', { name: "I've seen the new event" }).click();
    await card.locator('[data-role="confirm-note"]').waitFor({ state: 'detached' });
    expect(await card.locator('[data-role="status"]').textContent()).toContain('Being handled by Li Wei (you)');

    // Resolved; a third press is a new alert with its own card and its own "I'm handling it".
    await card.getByRole('button', { name: 'Mark as resolved' }).click();
    await card.locator('[data-role="status"]', { hasText: 'Resolved' }).waitFor();
    const next = await send(3, 3);
    expect(next.id).toBe(`${alertId}~2`);
    const card2 = page.locator(`[data-alert-id="${next.id}"]`);
    await card2.getByRole('button', { name: "I'm handling it" }).waitFor();
    // The card comes from the live summary first; its events arrive with the detail read.
    await card2.locator('.events li', { hasText: 'SOS button pressed' }).waitFor();
    expect(await card2.locator('.events li').allTextContents()).toEqual([expect.stringContaining('SOS button pressed')]);
    expect(problems).toEqual([]);
  });

  it('another family member sees neither the address nor the numbers; an operator without a grant is refused; neither read is logged as done', async () => {
    const { page, problems } = await stack.phone();
    await signIn(page, 'zhaoqiang');
    const alertId = 'al_actcardsos00000000002';
    await sos(alertId, 'fall-xuhui-0102', 1);
    const card = page.locator(`[data-alert-id="${alertId}"]`);
    await card.locator('.contacts').waitFor();
    // His own resident's card has them; Wang Fang's address and numbers appear nowhere.
    expect(await card.locator('.address').textContent()).toBe(`Address: ${ADDRESS_ZHAO}`);
    const body = (await page.locator('body').textContent()) ?? '';
    expect(body).not.toContain(ADDRESS_WANG);
    expect(body).not.toContain('138 0013 8000');
    expect(await page.locator('a[href="tel:+8613800138000"]').count()).toBe(0);
    expect(problems).toEqual([]);

    const before = (await contactReads(ids.wang!)).length;
    expect((await contactsAs(await tokenOf('zhaoqiang'), ids.wang!)).status).toBe(404);
    const operator = await tokenOf('opguo');
    expect((await contactsAs(operator, ids.wang!)).status).toBe(403);
    expect((await contactReads(ids.wang!)).length).toBe(before);
    // A grant is what lets an operator read them (and that read is logged).
    await stack.admin('POST', '/health-grants', { userId: ids.opguo, residentId: ids.wang, hours: 1 });
    const granted = await contactsAs(operator, ids.wang!);
    expect(granted.status).toBe(200);
    expect(((await granted.json()) as { address: string }).address).toBe(ADDRESS_WANG);
    expect((await contactReads(ids.wang!)).map((r) => r.actor)).toContain(ids.opguo);
  });

  it('the community worker on duty sees the resident and both family contacts to call, not herself', async () => {
    const alertId = 'al_actcardsos00000000003';
    const { page, problems } = await stack.phone();
    await signIn(page, 'zhangmin');
    expect(await page.locator('#whoami').textContent()).toBe('Signed in as Zhang Min · Community worker');
    await sos(alertId, 'fall-xuhui-0101', 1);
    const card = page.locator(`[data-alert-id="${alertId}"]`);
    await card.locator('.contacts').waitFor();
    expect(await card.locator('a.call').evaluateAll((as) => as.map((a) => a.getAttribute('href')))).toEqual([
      'tel:+8613800138000', 'tel:+8613700000001', 'tel:+8613600000003',
    ]);
    expect((await card.locator('a.call').allTextContents())[1]).toContain('daughter · Family member');
    expect((await contactReads(ids.wang!)).map((r) => r.actor)).toContain(ids.zhangmin);
    expect(await axeProblems(page)).toEqual([]);
    expect(problems).toEqual([]);
  });
});
