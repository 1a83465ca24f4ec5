import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpEdgeClient } from '../src/edge-client.js';
import { ComplaintsService } from '../src/open/complaints-service.js';
import { ProofOfWork, leadingZeroBits, solve } from '../src/open/proof-of-work.js';
import { deadUrl, silentLogger } from './helpers.js';
import { ADMIN, EDGE_TOKEN_FOR_TESTS, NOT_PUBLIC, openFixture, type OpenFixture } from './open-data-support.js';

const auth = { authorization: `Bearer ${ADMIN}` };
type Json = Record<string, any>;

describe('one-tap pollution complaints (一键投诉)', () => {
  let fx: OpenFixture;
  let app: FastifyInstance;
  let complaints: ComplaintsService;
  const make = (o: { perAddressPerHour?: number; edgeUrl?: string; file?: string } = {}) => new ComplaintsService({
    file: o.file ?? ':memory:', keyFile: join(fx.dir, 'complaints.key'), devices: fx.repo, logger: silentLogger, powBits: 8,
    edge: createHttpEdgeClient({ baseUrl: o.edgeUrl ?? fx.edgeUrl, token: EDGE_TOKEN_FOR_TESTS }), perAddressPerHour: o.perAddressPerHour ?? 50,
  });
  beforeAll(async () => {
    fx = await openFixture();
    complaints = make({ file: join(fx.dir, 'complaints.sqlite') });
    app = await fx.app({ extra: { complaints } });
  });
  afterAll(async () => {
    await complaints?.shutdown();
    await fx?.close();
  });

  const call = async (a: FastifyInstance, method: 'GET' | 'POST', url: string, body?: unknown, headers: Record<string, string> = {}, remoteAddress = '10.1.1.1') => {
    const r = await a.inject({ method, url, remoteAddress, headers, ...(body !== undefined ? { payload: body as object } : {}) });
    return { status: r.statusCode, body: (r.body ? JSON.parse(r.body) : {}) as Json, raw: r.body };
  };
  const proof = async (a: FastifyInstance, ip = '10.1.1.1') => {
    const c = (await call(a, 'GET', '/open/v1/complaints/challenge', undefined, {}, ip)).body;
    return { challenge: c.challenge as string, nonce: solve(c.challenge, c.bits) };
  };
  const report = async (a: FastifyInstance, body: Json, ip = '10.1.1.1') => call(a, 'POST', '/open/v1/complaints', { ...(await proof(a, ip)), ...body }, {}, ip);

  it('takes a complaint with no account, stores the site monitors\' readings of that moment, and gives a receipt that shows its status', async () => {
    const r = await report(app, { site: 'xuhui', kind: 'smoke', contact: '138 0013 8000 (Ms Li)' });
    expect(r.status, r.raw).toBe(201);
    expect(r.body.receiptUrl).toBe(`/open/#receipt=${r.body.receipt}`);
    expect(r.raw).not.toContain('138');
    const mine = await call(app, 'GET', `/open/v1/complaints/receipt/${r.body.receipt}`);
    expect(mine.body).toMatchObject({ site: 'xuhui', kind: 'smoke', status: 'open', resolution: null });
    expect(mine.raw).not.toContain('138');
    expect(mine.raw).not.toContain('pm25'); // evidence is for operators
    // the operator sees it with the evidence, but not the contact, in the list
    const list = await call(app, 'GET', '/api/v1/complaints?status=open', undefined, auth);
    const item = (list.body.items as Json[]).find((x) => x.id === r.body.id)!;
    expect(item).toMatchObject({ site: 'xuhui', kind: 'smoke', hasContact: true });
    expect(item.evidence.monitors['env-1']).toMatchObject({ fields: { pm25_ugm3: 88, noise_dba: 71 } });
    expect(Object.keys(item.evidence.monitors).sort()).toEqual(['env-1', 'env-3']);
    expect(list.raw).not.toContain('138');
    for (const s of NOT_PUBLIC) expect(list.raw).not.toContain(s);
  });

  it('keeps the contact encrypted at rest, shows it only on an audited request, and erases it on close; the reporter sees the outcome', async () => {
    const r = await report(app, { site: 'xuhui', kind: 'smell', contact: 'li.hua@example.cn' });
    const id = r.body.id as string;
    expect(readFileSync(join(fx.dir, 'complaints.sqlite')).includes(Buffer.from('li.hua@example.cn'))).toBe(false);
    expect(statSync(join(fx.dir, 'complaints.key')).mode & 0o077).toBe(0);
    expect((await call(app, 'GET', `/api/v1/complaints/${id}`, undefined, auth)).body.contact).toBeUndefined();
    expect((await call(app, 'GET', `/api/v1/complaints/${id}/audit`, undefined, auth)).body.items).toEqual([]);
    // No reason, no contact: the reveal is refused before anything is read or audited.
    expect((await call(app, 'GET', `/api/v1/complaints/${id}?contact=true&reason=%20`, undefined, auth)).status).toBe(400);
    const shown = await call(app, 'GET', `/api/v1/complaints/${id}?contact=true&reason=call back`, undefined, auth);
    expect(shown.body.contact).toBe('li.hua@example.cn');
    const audit = (await call(app, 'GET', `/api/v1/complaints/${id}/audit`, undefined, auth)).body.items as Json[];
    expect(audit).toMatchObject([{ action: 'contact.read', actor: 'admin-token@10.1.1.1', detail: 'call back' }]);
    expect((await call(app, 'GET', `/api/v1/complaints/${id}?contact=true`)).status).toBe(401);
    const closed = await call(app, 'POST', `/api/v1/complaints/${id}/close`, { resolution: 'Inspected: a restaurant exhaust, fixed' }, auth);
    expect(closed.status, closed.raw).toBe(200);
    expect(closed.body).toMatchObject({ status: 'closed', hasContact: false });
    expect((await call(app, 'GET', `/api/v1/complaints/${id}?contact=true`, undefined, auth)).body.contact).toBeUndefined();
    expect((await call(app, 'POST', `/api/v1/complaints/${id}/close`, { resolution: 'again' }, auth)).status).toBe(409);
    expect((await call(app, 'GET', `/open/v1/complaints/receipt/${r.body.receipt}`)).body)
      .toMatchObject({ status: 'closed', resolution: 'Inspected: a restaurant exhaust, fixed' });
    expect(((await call(app, 'GET', `/api/v1/complaints/${id}/audit`, undefined, auth)).body.items as Json[]).map((a) => a.action)).toEqual(['contact.read', 'closed']);
  });

  it('is counted in the open data by site and kind, without any personal detail', async () => {
    const stats = await call(app, 'GET', '/open/v1/complaints/stats');
    expect(stats.body.counts).toEqual(expect.arrayContaining([{ site: 'xuhui', kind: 'smoke', last24h: 1, last30d: 1 }, { site: 'xuhui', kind: 'smell', last24h: 1, last30d: 1 }]));
    expect(stats.raw).not.toMatch(/138|li\.hua|receipt|10\.1\.1\.1/);
    const sites = (await call(app, 'GET', '/open/v1/sites')).body.sites as Json[];
    expect(sites.find((s) => s.id === 'xuhui')?.complaints24h).toBe(2);
  });

  it('resists spam: bad or reused proofs, the honeypot, repeats, unknown or private sites and bad kinds are refused', async () => {
    const p = await proof(app);
    expect((await call(app, 'POST', '/open/v1/complaints', { site: 'xuhui', kind: 'dust', ...p })).status).toBe(201);
    expect((await call(app, 'POST', '/open/v1/complaints', { site: 'xuhui', kind: 'noise', ...p })).body.message).toMatch(/proof of work used/);
    const q = await proof(app);
    const wrong = String(Array.from({ length: 5000 }, (_, i) => i).find((i) => leadingZeroBits(createHash('sha256').update(`${q.challenge}:${i}`).digest()) < 8));
    expect((await call(app, 'POST', '/open/v1/complaints', { site: 'xuhui', kind: 'noise', challenge: q.challenge, nonce: wrong })).body.message).toMatch(/insufficient/);
    const forged = q.challenge.replace(/^\d+/, (n) => String(Number(n) + 1000));
    expect((await call(app, 'POST', '/open/v1/complaints', { site: 'xuhui', kind: 'noise', challenge: forged, nonce: solve(forged, 8) })).body.message).toMatch(/forged/);
    // another process's (or an earlier start's) challenge is forged too
    const other = new ProofOfWork(8).issue().challenge;
    expect((await call(app, 'POST', '/open/v1/complaints', { site: 'xuhui', kind: 'noise', challenge: other, nonce: solve(other, 8) })).status).toBe(400);
    const before = (await call(app, 'GET', '/api/v1/complaints', undefined, auth)).body.items.length as number;
    const bot = await report(app, { site: 'xuhui', kind: 'noise', website: 'http://spam.example' });
    expect(bot.status).toBe(201); // looks accepted, so the bot learns nothing …
    expect((await call(app, 'GET', `/open/v1/complaints/receipt/${bot.body.receipt}`)).status).toBe(404); // … but nothing was stored
    expect((await call(app, 'GET', '/api/v1/complaints', undefined, auth)).body.items).toHaveLength(before);
    // the same tap twice (a double tap, a retry) is one complaint with one receipt
    const again = await report(app, { site: 'xuhui', kind: 'dust' });
    expect(again.status).toBe(200);
    expect(again.body.repeated).toBe(true);
    expect((await call(app, 'GET', '/api/v1/complaints', undefined, auth)).body.items).toHaveLength(before);
    for (const [site, kind] of [['home-site', 'smoke'], ['nowhere', 'smoke'], ['xuhui', 'fire']]) {
      const r = await report(app, { site, kind });
      expect(r.status, `${site} ${kind}`).toBe(site === 'xuhui' ? 400 : 404);
    }
    expect(complaints.rejected).toMatchObject({ honeypot: 1 });
    expect(complaints.rejected.proof).toBeGreaterThanOrEqual(3);
    // operators see the refusals counted
    const m = await call(app, 'GET', '/api/v1/metrics', undefined, auth);
    expect(m.body.complaints_rejected).toEqual(complaints.rejected);
  });

  it('limits complaints per address, apart from the open-data reads and the authenticated API', async () => {
    const limited = make({ perAddressPerHour: 2 });
    const a = await fx.app({ extra: { complaints: limited }, globalMax: 3 });
    try {
      expect((await report(a, { site: 'xuhui', kind: 'smoke' }, '10.2.2.2')).status).toBe(201);
      expect((await report(a, { site: 'xuhui', kind: 'noise' }, '10.2.2.2')).status).toBe(201);
      const third = await report(a, { site: 'xuhui', kind: 'dust' }, '10.2.2.2');
      expect(third.status).toBe(429);
      expect(limited.rejected.rate).toBe(1);
      expect((await call(a, 'GET', '/open/v1/sites', undefined, {}, '10.2.2.2')).status).toBe(200);
      for (let i = 0; i < 5; i++) await call(a, 'GET', '/open/v1/complaints/challenge', undefined, {}, '10.2.2.2');
      expect((await call(a, 'GET', '/api/v1/complaints', undefined, auth, '10.2.2.2')).status).toBe(200);
      expect((await report(a, { site: 'xuhui', kind: 'dust' }, '10.2.2.3')).status).toBe(201);
    } finally {
      await limited.shutdown();
    }
  });

  it('survives a restart: the receipt, the evidence and the encrypted contact are read back with the key file', async () => {
    const file = join(fx.dir, 'restart.sqlite');
    const first = make({ file });
    const a = await fx.app({ extra: { complaints: first } });
    const r = await report(a, { site: 'xuhui', kind: 'noise', contact: 'after-restart@example.cn' }, '10.4.4.4');
    expect(r.status).toBe(201);
    await a.close();
    await first.shutdown();
    const second = make({ file });
    try {
      expect(await second.byReceipt(r.body.receipt)).toMatchObject({ kind: 'noise', status: 'open' });
      expect(await second.get(r.body.id, { contact: true, actor: 'test' })).toMatchObject({ contact: 'after-restart@example.cn', hasContact: true });
      expect(((await second.get(r.body.id, { contact: false, actor: 'test' })).evidence as Json).monitors['env-1']).toMatchObject({ fields: { pm25_ugm3: 88 } });
      expect(await second.audit(r.body.id)).toMatchObject([{ action: 'contact.read', actor: 'test' }]);
    } finally {
      await second.shutdown();
    }
  });

  it('an edge that cannot answer does not lose the complaint: the evidence says so', async () => {
    const offline = make({ edgeUrl: await deadUrl() });
    const a = await fx.app({ extra: { complaints: offline } });
    try {
      const r = await report(a, { site: 'xuhui', kind: 'dust' }, '10.3.3.3');
      expect(r.status, r.raw).toBe(201);
      const got = (await call(a, 'GET', `/api/v1/complaints/${r.body.id}`, undefined, auth)).body;
      expect(got.evidence).toMatchObject({ error: 'edge unreachable at the time', monitors: { 'env-1': null, 'env-3': null } });
    } finally {
      await offline.shutdown();
    }
  });
});
