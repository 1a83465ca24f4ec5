import type { FastifyInstance } from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { digestToken } from '../src/auth-tokens.js';
import { createHttpEdgeClient } from '../src/edge-client.js';
import { SqliteDeviceRepository } from '../src/repositories/sqlite-device-repository.js';
import { ABANDONED, VerifyQueue } from '../src/verify-queue.js';
import { silentLogger, startEdgeStub, waitFor, type EdgeStub } from './helpers.js';

/** A piece of work the test finishes by hand. */
function held(): { work: () => Promise<string>; started: () => boolean; finish: (v: string) => void } {
  let resolve: (v: string) => void = () => {};
  let started = false;
  return {
    work: () => {
      started = true;
      return new Promise<string>((r) => { resolve = r; });
    },
    started: () => started,
    finish: (v) => resolve(v),
  };
}

describe('VerifyQueue', () => {
  it('runs at most `limit` at once, in arrival order, and drops a waiter whose caller left', async () => {
    const q = new VerifyQueue(2);
    const [a, b, c, d] = [held(), held(), held(), held()];
    let cGone = false;
    const ra = q.run(a.work, () => false);
    const rb = q.run(b.work, () => false);
    const rc = q.run(c.work, () => cGone);
    const rd = q.run(d.work, () => false);
    await waitFor(() => a.started() && b.started(), 'the first two started');
    expect(q.stats()).toMatchObject({ running: 2, waiting: 2, abandoned: 0 });
    expect(c.started()).toBe(false);
    cGone = true; // c's caller timed out while it waited
    a.finish('a');
    expect(await ra).toBe('a');
    expect(await rc).toBe(ABANDONED);
    await waitFor(() => d.started(), 'd started in c’s place');
    expect(c.started()).toBe(false);
    b.finish('b');
    d.finish('d');
    expect([await rb, await rd]).toEqual(['b', 'd']);
    expect(q.stats()).toEqual({ running: 0, waiting: 0, abandoned: 1 });
  });

  it('a failing check frees its slot', async () => {
    const q = new VerifyQueue(1);
    await expect(q.run(async () => { throw new Error('boom'); }, () => false)).rejects.toThrow('boom');
    expect(await q.run(async () => 'next', () => false)).toBe('next');
    expect(q.stats()).toEqual({ running: 0, waiting: 0, abandoned: 0 });
  });

  it('refuses a limit below 1', () => {
    expect(() => new VerifyQueue(0)).toThrow(RangeError);
  });
});

describe('device-auth behind the queue', () => {
  const BROKER = 'broker-token-for-tests';
  const ADMIN = 'admin-token-0123456789-abcdefghijklmnop';
  let edge: EdgeStub | undefined;
  let app: FastifyInstance | undefined;
  afterAll(async () => {
    await app?.close();
    await edge?.close();
  });

  it('a check the broker gave up on is not hashed; the next one is answered', async () => {
    edge = await startEdgeStub();
    const queue = new VerifyQueue(1);
    app = await buildApp({
      logger: silentLogger, devices: new SqliteDeviceRepository({ file: ':memory:' }), edge: createHttpEdgeClient({ baseUrl: edge.url, token: edge.token }),
      control: { connected: () => true, publishRevoke: async () => {} }, adminTokenDigest: digestToken(ADMIN), brokerToken: BROKER, dashboardDir: null, deviceAuthQueue: queue,
    });
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    const reg = await app.inject({ method: 'POST', url: '/api/v1/devices', headers: { authorization: `Bearer ${ADMIN}` }, payload: { id: 'ev-1', site: 's', kind: 'ev-charger' } });
    const { secret } = reg.json<{ secret: string }>();
    const check = (signal?: AbortSignal) => fetch(`${url}/api/v1/internal/device-auth`, {
      method: 'POST', headers: { authorization: `Bearer ${BROKER}`, 'content-type': 'application/json' }, body: JSON.stringify({ deviceId: 'ev-1', secret }), ...(signal ? { signal } : {}),
    });

    // The only slot is busy (a slow hash), so the broker's check waits; the broker times out.
    const busy = held();
    const slot = queue.run(busy.work, () => false);
    const gaveUp = new AbortController();
    const abandoned = check(gaveUp.signal).catch((err: unknown) => err);
    await waitFor(() => queue.stats().waiting === 1, 'the check waiting for the slot');
    gaveUp.abort();
    expect(await abandoned).toBeInstanceOf(Error);
    // Its connection is closed once the server has seen the client go.
    await waitFor(async () => (await new Promise<number>((r) => app!.server.getConnections((_e, n) => r(n)))) === 0, 'the connection closed');
    busy.finish('done');
    await slot;
    await waitFor(() => queue.stats().abandoned === 1, 'the abandoned check dropped');

    const r = await check();
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ ok: true, device: { id: 'ev-1', site: 's', kind: 'ev-charger' } });
    const m = await app.inject({ url: '/api/v1/metrics', headers: { authorization: `Bearer ${ADMIN}` } });
    expect(m.json()).toMatchObject({ deviceAuth: { running: 0, waiting: 0, abandoned: 1 } });
  });
});
