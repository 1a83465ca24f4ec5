import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { digestToken } from '../src/auth-tokens.js';
import { openAlerts, type AlertsModule } from '../src/care/alerts/index.js';
import { openPeople, type PeopleModule } from '../src/care/people/index.js';
import { createHttpEdgeClient } from '../src/edge-client.js';
import { SqliteDeviceRepository } from '../src/repositories/sqlite-device-repository.js';
import { report } from './care-alerts-support.js';
import { silentLogger, startEdgeStub, tempDir, waitFor, type EdgeStub } from './helpers.js';

/**
 * Issue 11 case 6: the care page's live stream must end with the session it was opened
 * with — on logout, on expiry, when the person is disabled or deleted — and a new sign-in
 * opens a new stream that works. A real HTTP server and a real streaming client.
 */
const ADMIN = 'admin-token-0123456789-abcdefghijklmnop';
const EDGE = 'edge-token-for-stream-tests';
const PASSWORD = 'a long enough password';
const tmp = tempDir('yulan-care-stream-');
let offsetMs = 0;
const clock = (): number => Date.now() + offsetMs;

let edge: EdgeStub;
let people: PeopleModule;
let alerts: AlertsModule;
let app: FastifyInstance;
let base: string;
let daughterId: string;

interface SseEvent { event: string; data: string }
interface Stream { status: number; events: SseEvent[]; closed: Promise<void>; isClosed(): boolean; cancel(): void }

/** Opens GET /care/stream and collects its events until the server ends it. */
async function openStream(headers: Record<string, string>): Promise<Stream> {
  const ctrl = new AbortController();
  const res = await fetch(`${base}/api/v1/care/stream`, { headers, signal: ctrl.signal });
  const events: SseEvent[] = [];
  let closedFlag = false;
  const closed = (async () => {
    if (!res.body) return;
    const dec = new TextDecoder();
    let buf = '';
    try {
      const reader = res.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const event = /^event: (.*)$/m.exec(frame)?.[1];
          const data = /^data: (.*)$/m.exec(frame)?.[1];
          if (event !== undefined) events.push({ event, data: data ?? '' });
        }
      }
    } catch {
      // aborted by the test
    }
    closedFlag = true;
  })();
  return { status: res.status, events, closed, isClosed: () => closedFlag, cancel: () => ctrl.abort() };
}

async function api(method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<Response> {
  return fetch(`${base}/api/v1${path}`, {
    method, headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}
const admin = { authorization: `Bearer ${ADMIN}` };

async function signIn(): Promise<{ cookie: string; bearer: Record<string, string> }> {
  const res = await api('POST', '/auth/login', {}, { login: 'daughter', password: PASSWORD });
  expect(res.status).toBe(200);
  const token = ((await res.json()) as { token: string }).token;
  const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0]!;
  return { cookie, bearer: { authorization: `Bearer ${token}` } };
}

/** An SOS of the resident reaches the care page as an `alert` event naming her. */
async function raiseAlert(): Promise<string> {
  const r = report({ deviceId: 'fall-1' });
  const res = await api('POST', '/internal/alerts', { authorization: `Bearer ${EDGE}` }, r);
  expect(res.status).toBe(200);
  return r.id;
}
const sawAlert = (s: Stream, id: string) => s.events.some((e) => e.event === 'alert' && e.data.includes(id) && e.data.includes('Wang Fang'));
const ended = (s: Stream) => waitFor(() => s.isClosed(), 'the server to end the stream');
const endReason = (s: Stream) => s.events.find((e) => e.event === 'end')?.data;

beforeAll(async () => {
  edge = await startEdgeStub(EDGE);
  people = await openPeople({ db: { kind: 'sqlite', file: join(tmp.dir, 'people.sqlite') }, logger: silentLogger, now: clock });
  alerts = await openAlerts({
    db: { kind: 'sqlite', file: join(tmp.dir, 'alerts.sqlite') }, directory: people.directory, audit: people.audit, logger: silentLogger,
    publicUrl: 'http://care.test', heartbeatMs: 50,
  });
  people.setAlertData(alerts.residentData);
  const devices = new SqliteDeviceRepository({ file: ':memory:' });
  await devices.create({ id: 'fall-1', site: 'xuhui', kind: 'fall-sensor', name: null, firmwareVersion: null, secretHash: 'scrypt$x' });
  app = await buildApp({
    logger: silentLogger, devices, edge: createHttpEdgeClient({ baseUrl: edge.url, token: edge.token }),
    control: { connected: () => true, publishRevoke: async () => undefined },
    adminTokenDigest: digestToken(ADMIN), brokerToken: 'broker-token-for-tests', edgeToken: EDGE, dashboardDir: null, people, alerts,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  alerts.start();
  expect((await api('POST', '/communities', admin, { id: 'xuhui', name: 'Xuhui' })).status).toBe(201);
  expect((await api('POST', '/residents', admin, { id: 'r-wang', name: 'Wang Fang', communityId: 'xuhui' })).status).toBe(201);
  const p = await api('POST', '/people', admin, { login: 'daughter', name: 'Li Wei', role: 'family', password: PASSWORD, channels: [{ type: 'app', address: '' }] });
  daughterId = ((await p.json()) as { person: { id: string } }).person.id;
  expect((await api('PUT', '/residents/r-wang/devices', admin, { deviceIds: ['fall-1'] })).status).toBe(200);
  expect((await api('PUT', '/residents/r-wang/family', admin, { contacts: [{ userId: daughterId }] })).status).toBe(200);
});
afterAll(async () => {
  await app?.close();
  await alerts?.close();
  await people?.close();
  await edge?.close();
  tmp.cleanup();
});

describe('care stream lives as long as its session', () => {
  it('logout ends the stream; the old cookie cannot reopen it; a new sign-in streams alerts again', async () => {
    const s = await signIn();
    const stream = await openStream({ cookie: s.cookie });
    expect(stream.status).toBe(200);
    await waitFor(() => alerts.hub.connected(daughterId) === 1, 'stream registered');
    const first = await raiseAlert();
    await waitFor(() => sawAlert(stream, first), 'alert on the stream before logout');
    // what the stream showed is audited as a read of the resident's data
    expect(await people.audit.query({ residentId: 'r-wang', limit: 100 })).toContainEqual(expect.objectContaining({ actor: daughterId, action: 'alert.stream', detail: first }));

    expect((await api('POST', '/auth/logout', { cookie: s.cookie })).status).toBe(204);
    await ended(stream);
    expect(endReason(stream)).toBe('{"reason":"logout"}');
    expect(alerts.hub.connected(daughterId)).toBe(0);
    const again = await openStream({ cookie: s.cookie });
    expect(again.status).toBe(401);

    const s2 = await signIn();
    const fresh = await openStream({ cookie: s2.cookie });
    expect(fresh.status).toBe(200);
    await waitFor(() => alerts.hub.connected(daughterId) === 1, 'new stream registered');
    const second = await raiseAlert();
    await waitFor(() => sawAlert(fresh, second), 'alert on the new stream');
    fresh.cancel();
    await fresh.closed;
    await api('POST', '/auth/logout', { cookie: s2.cookie });
  });

  it('logging out one session ends only the stream opened with it', async () => {
    const a = await signIn();
    const b = await signIn();
    const sa = await openStream(a.bearer);
    const sb = await openStream({ cookie: b.cookie });
    await waitFor(() => alerts.hub.connected(daughterId) === 2, 'two streams');
    expect((await api('POST', '/auth/logout', a.bearer)).status).toBe(204);
    await ended(sa);
    expect(endReason(sa)).toBe('{"reason":"logout"}');
    const id = await raiseAlert();
    await waitFor(() => sawAlert(sb, id), 'alert on the other session\'s stream');
    expect(sb.isClosed()).toBe(false);
    sb.cancel();
    await sb.closed;
    await api('POST', '/auth/logout', { cookie: b.cookie });
  });

  it('disabling the person ends the stream; re-enabled, they sign in and stream again', async () => {
    const s = await signIn();
    const stream = await openStream({ cookie: s.cookie });
    await waitFor(() => alerts.hub.connected(daughterId) === 1, 'stream registered');
    expect((await api('PATCH', `/people/${daughterId}`, admin, { disabled: true })).status).toBe(200);
    await ended(stream);
    expect(endReason(stream)).toBe('{"reason":"disabled"}');
    expect((await openStream({ cookie: s.cookie })).status).toBe(401);

    expect((await api('PATCH', `/people/${daughterId}`, admin, { disabled: false })).status).toBe(200);
    const s2 = await signIn();
    const fresh = await openStream({ cookie: s2.cookie });
    expect(fresh.status).toBe(200);
    const id = await raiseAlert();
    await waitFor(() => sawAlert(fresh, id), 'alert after re-enabling');
    fresh.cancel();
    await fresh.closed;
  });

  it('session expiry ends the stream (noticed at the next heartbeat)', async () => {
    const s = await signIn();
    const stream = await openStream(s.bearer);
    await waitFor(() => alerts.hub.connected(daughterId) === 1, 'stream registered');
    offsetMs += 12 * 3_600_000 + 60_000;
    await ended(stream);
    expect(endReason(stream)).toBe('{"reason":"expired"}');
    expect((await openStream(s.bearer)).status).toBe(401);
  });

  it('deleting the person ends the stream', async () => {
    const s = await signIn();
    const stream = await openStream({ cookie: s.cookie });
    await waitFor(() => alerts.hub.connected(daughterId) === 1, 'stream registered');
    expect((await api('DELETE', `/people/${daughterId}`, admin)).status).toBe(204);
    await ended(stream);
    expect(endReason(stream)).toBe('{"reason":"removed"}');
    expect(alerts.hub.connected(daughterId)).toBe(0);
  });
});
