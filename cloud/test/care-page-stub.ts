import type { Page, Route } from 'playwright-core';

/**
 * A stand-in for the care API inside the browser (page.route): the page and its static
 * files come from the real cloud, only /api/v1/** is answered here. It lets the page be
 * driven through every state (SSE pushes, 409 conflicts) deterministically, whatever the
 * state of the real routes; the real-cloud test in care-page.test.ts covers the wiring.
 */
export const ME = {
  id: 'u_fam_li', login: 'liwei', name: 'Li Wei', role: 'family', locale: 'en', channels: [{ type: 'app', address: '', hasSecret: false }],
  phone: null, disabled: false, hasPassword: true, createdAt: '2025-01-01T00:00:00.000Z',
};
export const PASSWORD = 'correct-horse-battery';
const TOKEN = 'sess_stub_token_0123456789';

export interface StubCalls { method: string; path: string; auth: string | undefined; body: unknown; purpose?: string | undefined }

export function alertSummary(id: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id, type: 'fall', level: 'urgent', status: 'notifying', residentId: 'r_wang', residentName: 'Wang Fang', deviceId: 'fall-xuhui-0001',
    site: 'xuhui', message: 'fall confirmed: still on the floor after 120 s', firstEventAtMs: Date.now() - 150_000,
    openedAt: Date.now() - 140_000, claimedBy: null, outcome: null, ...over,
  };
}

export class CareApiStub {
  readonly calls: StubCalls[] = [];
  /** SSE frames waiting for the page's next (re)connection of the stream. */
  private readonly pending: string[] = [];
  readonly alerts = new Map<string, Record<string, unknown>>();
  /** GET /alerts answers 503 while this is above 0 (each failure counts it down). */
  listFailures = 0;
  /** GET /residents/r_wang/contacts answers this, or 404 when null. */
  contacts: Record<string, unknown> | null = null;

  constructor() {
    const old = alertSummary('al_unconf1', { level: 'unconfirmed', status: 'raised', firstEventAtMs: Date.now() - 3_600_000, message: 'radar fall, person got up' });
    this.alerts.set('al_unconf1', old);
  }

  push(event: 'alert' | 'page', data: unknown): void {
    this.pending.push(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  async install(page: Page): Promise<void> {
    await page.route('**/api/v1/**', (route) => this.handle(route));
  }

  private async handle(route: Route): Promise<void> {
    const req = route.request();
    const url = new URL(req.url());
    const path = url.pathname.replace('/api/v1', '');
    const auth = req.headers().authorization;
    const body = req.postData() ? (JSON.parse(req.postData()!) as unknown) : undefined;
    this.calls.push({ method: req.method(), path, auth, body, purpose: req.headers()['x-yulan-purpose'] });
    const json = (status: number, data: unknown): Promise<void> =>
      route.fulfill({ status, contentType: 'application/json', body: JSON.stringify(data) });
    const signedIn = auth === `Bearer ${TOKEN}` || (req.headers().cookie ?? '').includes(`yulan_session=${TOKEN}`);

    if (path === '/auth/login') {
      const b = body as { login: string; password: string };
      if (b.login === ME.login && b.password === PASSWORD) {
        return route.fulfill({
          status: 200, contentType: 'application/json', body: JSON.stringify({ token: TOKEN, user: ME }),
          headers: { 'set-cookie': `yulan_session=${TOKEN}; Path=/; HttpOnly; SameSite=Strict` },
        });
      }
      return json(401, { statusCode: 401, error: 'Unauthorized', message: 'login or password not accepted', code: 'E_UNAUTHORIZED' });
    }
    if (!signedIn) return json(401, { statusCode: 401, error: 'Unauthorized', message: 'sign in first', code: 'E_UNAUTHORIZED' });
    if (path === '/me') {
      return json(200, { principal: 'person', user: ME, residents: [{ id: 'r_wang', name: 'Wang Fang', communityId: 'c_xuhui', access: 'health' }] });
    }
    if (path === '/care/stream') {
      // One burst per connection; `retry` makes EventSource come back quickly for the next.
      const frames = this.pending.splice(0).join('');
      return route.fulfill({ status: 200, headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-store' }, body: `retry: 250\n: hello\n\n${frames}` });
    }
    if (path === '/alerts') {
      if (this.listFailures > 0) {
        this.listFailures -= 1;
        return json(503, { statusCode: 503, error: 'Service Unavailable', message: 'store busy', code: 'E_UNAVAILABLE' });
      }
      return json(200, { items: [...this.alerts.values()] });
    }
    if (path === '/residents/r_wang/contacts') {
      return this.contacts ? json(200, this.contacts) : json(404, { statusCode: 404, error: 'Not Found', message: 'resident "r_wang" not found', code: 'E_NOT_FOUND' });
    }
    const m = /^\/alerts\/([^/]+)(\/ack|\/resolve)?$/.exec(path);
    if (m) {
      const [, id, action] = m as unknown as [string, string, string | undefined];
      const a = this.alerts.get(id!);
      if (!a) return json(404, { statusCode: 404, error: 'Not Found', message: `alert ${id} not found`, code: 'E_NOT_FOUND' });
      if (action === '/ack') {
        if (a.claimedBy) return json(409, { statusCode: 409, error: 'Conflict', message: `alert ${id} is already claimed by Zhang Min`, code: 'E_CONFLICT' });
        // The REST view carries the claimer's id only (the page knows its own name).
        Object.assign(a, { status: 'acknowledged', claimedBy: ME.id, claimedAt: Date.now() });
        return json(200, { alert: a });
      }
      if (action === '/resolve') {
        const b = body as { outcome: string; note?: string };
        Object.assign(a, { status: 'resolved', outcome: b.outcome, note: b.note ?? null });
        return json(200, { alert: a });
      }
      const t0 = Number(a.openedAt);
      const timeline = [
        { atMs: t0, kind: 'raised', actor: 'edge', detail: { level: a.level, type: a.type } },
        { atMs: t0 + 1000, kind: 'paged', actor: ME.id, detail: { step: 0, stepKind: 'family' } },
        { atMs: t0 + 1200, kind: 'delivered', actor: ME.id, detail: { kind: 'page', channel: 'app' } },
        ...(a.claimedBy === ME.id || a.status === 'resolved' ? [{ atMs: t0 + 5000, kind: 'claimed', actor: ME.id, detail: { via: 'care-page' } }] : []),
        ...(a.status === 'resolved' ? [{ atMs: t0 + 9000, kind: 'resolved', actor: ME.id, detail: { outcome: a.outcome, note: a.note } }] : []),
      ];
      return json(200, { alert: a, timeline, notifications: [], metrics: { firstNotificationMs: 1000, firstDeliveredMs: 1200, acknowledgedMs: null } });
    }
    if (/^\/notifications\/[^/]+\/receipt$/.test(path)) return json(200, { id: path.split('/')[2], readAt: Date.now() });
    if (path === '/residents/r_wang/activity') {
      const now = Date.now();
      const points = Array.from({ length: 12 }, (_, i) => ({
        ts: now - i * 60_000, seq: 100 - i,
        fields: { presence: 1, motion: i < 3 ? 2 : 3, movement_level: i < 3 ? 4 : 40, battery_pct: 80 },
      }));
      return json(200, { residentId: 'r_wang', devices: [{ deviceId: 'fall-xuhui-0001', points }] });
    }
    if (path === '/auth/logout') return route.fulfill({ status: 204, body: '' });
    return json(404, { statusCode: 404, error: 'Not Found', message: `no stub for ${path}`, code: 'E_NOT_FOUND' });
  }
}
