import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudIntegrationAuthenticator } from '../src/integration-auth.js';
import { BROKER_TOKEN, logger } from './helpers.js';

/** A cloud stand-in implementing `POST /api/v1/internal/integration-auth`. */
function fakeCloud() {
  const state = { mode: 'normal' as 'normal' | 'down' | 'garbage', disabled: false, calls: 0 };
  const account = { name: 'grafana', rules: [{ filter: 'yulan/v1/+/env-monitor/+/telemetry', read: true, write: false }], namespace: true, healthGrant: false };
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      state.calls++;
      const send = (status: number, body: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.headers.authorization !== `Bearer ${BROKER_TOKEN}`) return send(401, { error: 'bad token' });
      if (state.mode === 'down') return send(503, { error: 'maintenance' });
      const body = JSON.parse(raw) as { name: string; secret: string };
      if (state.mode === 'garbage') return send(200, { ok: true, account: { ...account, rules: [{ filter: '$SYS/#', read: true, write: true }] } });
      if (body.name !== 'grafana' || body.secret !== 'right') return send(401, { ok: false, reason: 'bad-credentials' });
      if (state.disabled) return send(403, { ok: false, reason: 'disabled' });
      send(200, { ok: true, account });
    });
  });
  return { server, state };
}

describe('CloudIntegrationAuthenticator (HTTP)', () => {
  const cloud = fakeCloud();
  let url: string;
  let now = 1_000_000;
  const make = (token = BROKER_TOKEN) => new CloudIntegrationAuthenticator({ cloudUrl: url, brokerToken: token, ttlMs: 60_000, logger, now: () => now });

  beforeAll(async () => {
    await new Promise<void>((r) => cloud.server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(cloud.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => cloud.server.close(() => r()));
  });

  it('accepts, caches for the TTL, and asks again after it', async () => {
    const auth = make();
    const calls = cloud.state.calls;
    expect(await auth.authenticate('grafana', 'right')).toMatchObject({ outcome: 'ok', source: 'cloud', account: { name: 'grafana', namespace: true } });
    expect(await auth.authenticate('grafana', 'right')).toMatchObject({ outcome: 'ok', source: 'cache' });
    expect(cloud.state.calls).toBe(calls + 1);
    now += 60_001;
    expect(await auth.authenticate('grafana', 'right')).toMatchObject({ outcome: 'ok', source: 'cloud' });
  });

  it('never lets a cached acceptance stand for another secret', async () => {
    const auth = make();
    await auth.authenticate('grafana', 'right');
    expect(await auth.authenticate('grafana', 'wrong')).toEqual({ outcome: 'denied', reason: 'bad-credentials' });
  });

  it('serves a known secret from a stale cache while the cloud is down, and nothing new', async () => {
    const auth = make();
    await auth.authenticate('grafana', 'right');
    now += 120_000;
    cloud.state.mode = 'down';
    try {
      expect(await auth.authenticate('grafana', 'right')).toMatchObject({ outcome: 'ok', source: 'stale-cache' });
      expect((await auth.authenticate('other', 'x')).outcome).toBe('unavailable');
      // forget() (a cut) removes the stale acceptance too.
      auth.forget('grafana');
      expect((await auth.authenticate('grafana', 'right')).outcome).toBe('unavailable');
    } finally {
      cloud.state.mode = 'normal';
    }
  });

  it('reports disabled, and treats a malformed answer or its own bad token as unavailable', async () => {
    cloud.state.disabled = true;
    expect(await make().authenticate('grafana', 'right')).toEqual({ outcome: 'denied', reason: 'disabled' });
    cloud.state.disabled = false;
    cloud.state.mode = 'garbage';
    expect((await make().authenticate('grafana', 'right')).outcome).toBe('unavailable');
    cloud.state.mode = 'normal';
    expect((await make('wrong-token-0123456789').authenticate('grafana', 'right')).outcome).toBe('unavailable');
  });
});
