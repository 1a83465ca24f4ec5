import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import { CloudDeviceAuthenticator, ConfigError, loadBrokerConfig, parseAccounts, startBroker } from '../src/index.js';
import { FrameGuard } from '../src/frame-guard.js';
import { BROKER_TOKEN, logger, rawConnect, tempDir, testConfig } from './helpers.js';

/** A small cloud stand-in implementing the documented device-auth endpoint. */
function fakeCloud() {
  const state = {
    mode: 'normal' as 'normal' | 'down' | 'garbage',
    disabled: new Set<string>(),
    calls: 0,
    lastBody: undefined as unknown,
  };
  const devices = new Map([['dev-1', { secret: 's3cret-1', site: 'site-9', kind: 'ev-charger' }]]);
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      state.calls++;
      const send = (status: number, body: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.method !== 'POST' || req.url !== '/api/v1/internal/device-auth') return send(404, { error: 'not found' });
      if (req.headers.authorization !== `Bearer ${BROKER_TOKEN}`) return send(401, { error: 'bad token' });
      if (state.mode === 'down') return send(503, { error: 'maintenance' });
      const body = JSON.parse(raw) as { deviceId: string; secret: string };
      state.lastBody = body;
      if (state.mode === 'garbage') return send(200, { ok: true, device: { id: body.deviceId, site: '../x', kind: 'toaster' } });
      const d = devices.get(body.deviceId);
      if (!d || d.secret !== body.secret) return send(401, { ok: false, reason: 'bad-credentials' });
      if (state.disabled.has(body.deviceId)) return send(403, { ok: false, reason: 'disabled' });
      send(200, { ok: true, device: { id: body.deviceId, site: d.site, kind: d.kind } });
    });
  });
  return { server, state };
}

describe('CloudDeviceAuthenticator (HTTP)', () => {
  const cloud = fakeCloud();
  let url: string;
  let now = 1_000_000;
  const make = (token = BROKER_TOKEN) =>
    new CloudDeviceAuthenticator({ cloudUrl: url, brokerToken: token, ttlMs: 60_000, logger, now: () => now });

  beforeAll(async () => {
    await new Promise<void>((r) => cloud.server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(cloud.server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => cloud.server.close(() => r())));

  it('accepts, caches within the TTL, and re-asks after it', async () => {
    const a = make();
    const calls = cloud.state.calls;
    const first = await a.authenticate('dev-1', 's3cret-1');
    expect(first).toMatchObject({ outcome: 'ok', source: 'cloud', device: { id: 'dev-1', site: 'site-9', kind: 1 } });
    expect(cloud.state.lastBody).toEqual({ deviceId: 'dev-1', secret: 's3cret-1' });
    expect(await a.authenticate('dev-1', 's3cret-1')).toMatchObject({ outcome: 'ok', source: 'cache' });
    expect(cloud.state.calls).toBe(calls + 1);
    now += 61_000;
    expect(await a.authenticate('dev-1', 's3cret-1')).toMatchObject({ outcome: 'ok', source: 'cloud' });
    expect(cloud.state.calls).toBe(calls + 2);
  });

  it('never serves a cached acceptance for a different secret', async () => {
    const a = make();
    await a.authenticate('dev-1', 's3cret-1');
    expect(await a.authenticate('dev-1', 'wrong')).toEqual({ outcome: 'denied', reason: 'bad-credentials' });
    expect(await a.authenticate('nobody', 'x')).toEqual({ outcome: 'denied', reason: 'bad-credentials' });
  });

  it('keeps accepting cached devices while the cloud is down (stale), refuses unknown ones', async () => {
    const a = make();
    await a.authenticate('dev-1', 's3cret-1');
    cloud.state.mode = 'down';
    try {
      now += 61_000;
      expect(await a.authenticate('dev-1', 's3cret-1')).toMatchObject({ outcome: 'ok', source: 'stale-cache' });
      expect(await a.authenticate('dev-1', 'other-secret')).toMatchObject({ outcome: 'unavailable' });
      now += 25 * 3_600_000; // past the 24 h stale limit
      expect(await a.authenticate('dev-1', 's3cret-1')).toMatchObject({ outcome: 'unavailable' });
    } finally {
      cloud.state.mode = 'normal';
    }
  });

  it('reports disabled devices and drops them on forget()', async () => {
    const a = make();
    await a.authenticate('dev-1', 's3cret-1');
    cloud.state.disabled.add('dev-1');
    try {
      // Cached: still accepted until the broker is told (revocation) ...
      expect(await a.authenticate('dev-1', 's3cret-1')).toMatchObject({ outcome: 'ok', source: 'cache' });
      a.forget('dev-1');
      // ... after which the cloud is asked again and refuses.
      expect(await a.authenticate('dev-1', 's3cret-1')).toEqual({ outcome: 'denied', reason: 'disabled' });
    } finally {
      cloud.state.disabled.delete('dev-1');
    }
  });

  it('treats an unreachable cloud, a rejected broker token and a malformed answer as unavailable', async () => {
    const dead = new CloudDeviceAuthenticator({ cloudUrl: 'http://127.0.0.1:9', brokerToken: BROKER_TOKEN, ttlMs: 1000, logger });
    expect(await dead.authenticate('dev-1', 's3cret-1')).toMatchObject({ outcome: 'unavailable', error: { code: 'E_BROKER_DEVICE_AUTH' } });
    expect(await make('wrong-token-0123456789').authenticate('dev-1', 's3cret-1')).toMatchObject({ outcome: 'unavailable' });
    cloud.state.mode = 'garbage';
    try {
      expect(await make().authenticate('dev-1', 's3cret-1')).toMatchObject({ outcome: 'unavailable' });
    } finally {
      cloud.state.mode = 'normal';
    }
  });

  it('is what startBroker uses by default, end to end over MQTT', async () => {
    const dir = tempDir('http-auth');
    const broker = await startBroker(await testConfig(dir, { YULAN_CLOUD_URL: url }), logger);
    try {
      const ok = await rawConnect(broker.mqttPort, { clientId: 'dev-1', username: 'dev-1', password: 's3cret-1' });
      const bad = await rawConnect(broker.mqttPort, { clientId: 'dev-1', username: 'dev-1', password: 'nope' });
      expect([ok.returnCode, bad.returnCode]).toEqual([0, 4]);
      ok.socket.destroy();
      bad.socket.destroy();
      cloud.state.mode = 'down';
      const unknown = await rawConnect(broker.mqttPort, { clientId: 'dev-2', username: 'dev-2', password: 'x' });
      expect(unknown.returnCode).toBe(3);
      unknown.socket.destroy();
    } finally {
      cloud.state.mode = 'normal';
      await broker.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('shares one request between concurrent connects of the same device', async () => {
    const a = make();
    const calls = cloud.state.calls;
    const results = await Promise.all(Array.from({ length: 5 }, () => a.authenticate('dev-1', 's3cret-1')));
    expect(results.every((r) => r.outcome === 'ok')).toBe(true);
    expect(cloud.state.calls).toBe(calls + 1);
  });
});

describe('configuration', () => {
  const base = {
    YULAN_CLOUD_URL: 'http://127.0.0.1:8080/',
    YULAN_BROKER_TOKEN: BROKER_TOKEN,
    YULAN_BROKER_ACCOUNTS_FILE: '/tmp/accounts.json',
  };

  it('applies documented defaults', () => {
    expect(loadBrokerConfig(base)).toMatchObject({
      host: '0.0.0.0',
      mqttPort: 1883,
      wsPort: 8083,
      cloudUrl: 'http://127.0.0.1:8080',
      maxPacketBytes: 262_144,
      queueLimit: 1000,
      authCacheTtlMs: 60_000,
      batchWrites: true,
    });
    expect(loadBrokerConfig({ ...base, YULAN_BROKER_BATCH_WRITES: 'false' }).batchWrites).toBe(false);
    expect(() => loadBrokerConfig({ ...base, YULAN_BROKER_BATCH_WRITES: 'sometimes' })).toThrow(/YULAN_BROKER_BATCH_WRITES/);
  });

  it('lists every bad variable in one ConfigError', () => {
    let err: unknown;
    try {
      loadBrokerConfig({ YULAN_MQTT_PORT: 'x', YULAN_WS_PORT: '70000', YULAN_CLOUD_URL: 'ftp://nope', YULAN_BROKER_TOKEN: 'short' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const vars = (err as ConfigError).issues.map((i) => i.variable).sort();
    expect(vars).toEqual(['YULAN_BROKER_ACCOUNTS_FILE', 'YULAN_BROKER_TOKEN', 'YULAN_MQTT_PORT', 'YULAN_WS_PORT']);
    expect((err as ConfigError).code).toBe('E_BROKER_CONFIG');
    expect(() => loadBrokerConfig({ ...base, YULAN_CLOUD_URL: 'ftp://nope' })).toThrow(/YULAN_CLOUD_URL/);
  });

  it('rejects malformed accounts files with a typed error', () => {
    expect(() => parseAccounts([{ username: 'edge', role: 'admin', hash: 'scrypt$x' }])).toThrow(
      expect.objectContaining({ code: 'E_BROKER_ACCOUNTS' }),
    );
    expect(() => parseAccounts({})).toThrow(expect.objectContaining({ code: 'E_BROKER_ACCOUNTS' }));
    expect(() =>
      parseAccounts([
        { username: 'edge', role: 'edge', hash: 'scrypt$1' },
        { username: 'edge', role: 'cloud', hash: 'scrypt$2' },
      ]),
    ).toThrow(/duplicate/);
  });
});

describe('FrameGuard', () => {
  const frame = (bodyLen: number): Buffer => {
    const len: number[] = [];
    let n = bodyLen;
    do {
      let b = n % 128;
      n = Math.floor(n / 128);
      if (n > 0) b |= 0x80;
      len.push(b);
    } while (n > 0);
    return Buffer.concat([Buffer.from([0x30, ...len]), Buffer.alloc(bodyLen)]);
  };

  it('passes frames under the limit however the stream is split', () => {
    const g = new FrameGuard(300);
    const stream = Buffer.concat([frame(0), frame(10), frame(200), frame(296 - 3)]);
    for (let i = 0; i < stream.length; i += 7) expect(g.feed(stream.subarray(i, i + 7))).toBe(0);
  });

  it('reports an oversized frame as soon as its length bytes are seen', () => {
    const g = new FrameGuard(300);
    expect(g.feed(frame(10))).toBe(0);
    const big = frame(1000);
    expect(g.feed(big.subarray(0, 2))).toBe(0); // length not complete yet
    expect(g.feed(big.subarray(2, 3))).toBe(1003);
  });
});
