import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { connectAsync } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchTrustingCa, startHttpsListener, type HttpsListener } from '@yulan/protos';
import { startBroker } from '../../broker/src/index.js';
import { BROKER_TOKEN, tempDir as brokerTempDir, testConfig } from '../../broker/test/helpers.js';
import { createCa, issueCert, type PemPair } from '../../cli/src/dev-ca.js';
import { buildApp } from '../src/app.js';
import { digestToken } from '../src/auth-tokens.js';
import { createHttpEdgeClient } from '../src/edge-client.js';
import { SqliteDeviceRepository } from '../src/repositories/sqlite-device-repository.js';
import { deadUrl, silentLogger } from './helpers.js';

const ADMIN = 'admin-token-0123456789-abcdefghijklmnop';

/**
 * Services talk HTTPS to each other with a private CA (YULAN_TLS_CA_FILE): each service's
 * HTTP client trusts exactly that CA (fetchTrustingCa), so the broker's device checks reach
 * the cloud over https:// — and a cloud whose certificate another CA signed is refused.
 */
describe('service-to-service HTTPS with a private CA', () => {
  const dir = brokerTempDir('svc-https');
  let ca: PemPair;
  let other: PemPair;
  let app: FastifyInstance;
  let https: HttpsListener;
  let cloudUrl: string;
  let secret: string;
  const files = { cert: path.join(dir, 'server.pem'), key: path.join(dir, 'server-key.pem'), ca: path.join(dir, 'ca.pem'), other: path.join(dir, 'other-ca.pem') };

  beforeAll(async () => {
    ca = await createCa('service CA');
    other = await createCa('some other CA');
    const leaf = await issueCert(ca, { commonName: 'localhost', usage: 'server', dnsNames: ['localhost'], ips: ['127.0.0.1'] });
    fs.writeFileSync(files.cert, leaf.certPem);
    fs.writeFileSync(files.key, leaf.keyPem, { mode: 0o600 });
    fs.writeFileSync(files.ca, ca.certPem);
    fs.writeFileSync(files.other, other.certPem);
    app = await buildApp({
      logger: silentLogger, devices: new SqliteDeviceRepository({ file: ':memory:' }), edge: createHttpEdgeClient({ baseUrl: await deadUrl(), token: 't' }),
      control: { connected: () => true, publishRevoke: async () => undefined },
      adminTokenDigest: digestToken(ADMIN), brokerToken: BROKER_TOKEN, dashboardDir: null,
    });
    await app.ready();
    https = await startHttpsListener((req, res) => app.routing(req, res), { files: { certFile: files.cert, keyFile: files.key }, host: '127.0.0.1', port: 0, logger: silentLogger });
    cloudUrl = `https://127.0.0.1:${https.port}`;
    const headers = { authorization: `Bearer ${ADMIN}` };
    expect((await app.inject({ method: 'POST', url: '/api/v1/devices', headers, payload: { id: 'dev-1', site: 'site-1', kind: 'env-monitor' } })).statusCode).toBe(201);
    secret = ((await app.inject({ method: 'POST', url: '/api/v1/devices/dev-1/rotate-secret', headers })).json() as { secret: string }).secret;
  });
  afterAll(async () => {
    await https?.close();
    await app?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('the broker checks a device at an https:// cloud it trusts through YULAN_TLS_CA_FILE, and refuses to when the CA is another', async () => {
    for (const [caFile, trusted] of [[files.other, false], [files.ca, true]] as const) {
      const brokerDir = path.join(dir, trusted ? 'trusted' : 'untrusted');
      fs.mkdirSync(brokerDir);
      const broker = await startBroker(await testConfig(brokerDir, { YULAN_CLOUD_URL: cloudUrl, YULAN_TLS_CA_FILE: caFile }), silentLogger);
      try {
        const dev = await connectAsync(`mqtt://127.0.0.1:${broker.mqttPort}`, { clientId: 'dev-1', username: 'dev-1', password: secret, reconnectPeriod: 0, protocolVersion: 4 })
          .catch((e: Error) => e);
        if (trusted) {
          if (dev instanceof Error) throw dev;
          await dev.endAsync();
          expect(broker.metrics().authUnavailable).toBe(0);
        } else {
          // the right secret, but the cloud's certificate is not the configured CA's: no answer
          expect(String(dev)).toMatch(/unavailable/i);
          expect(broker.metrics().authUnavailable).toBe(1);
        }
      } finally {
        await broker.close();
      }
    }
  });

  it('fetchTrustingCa: trusts only its CA (not even the system store), sends bodies and headers, honours timeouts, leaves http:// to fetch', async () => {
    const good = fetchTrustingCa(ca.certPem);
    const ok = await good(`${cloudUrl}/api/v1/internal/device-auth`, {
      method: 'POST', headers: { authorization: `Bearer ${BROKER_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ deviceId: 'dev-1', secret }),
    });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ ok: true, device: { id: 'dev-1' } });
    const wrong = await good(`${cloudUrl}/api/v1/internal/device-auth`, {
      method: 'POST', headers: { authorization: `Bearer ${BROKER_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ deviceId: 'dev-1', secret: 'x'.repeat(32) }),
    });
    expect(wrong.status).toBe(401);
    // another CA, and Node's own fetch (system CAs only): both refuse the certificate
    const err = await fetchTrustingCa(other.certPem)(`${cloudUrl}/api/v1/health`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect(String((err as TypeError).cause)).toMatch(/certificate/i);
    await expect(fetch(`${cloudUrl}/api/v1/health`)).rejects.toThrow();

    // a server that never answers: the timeout signal wins
    const hang = http.createServer(() => undefined);
    await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r));
    const hangTls = await startHttpsListener(() => undefined, { files: { certFile: files.cert, keyFile: files.key }, host: '127.0.0.1', port: 0, logger: silentLogger });
    try {
      await expect(good(`https://127.0.0.1:${hangTls.port}/`, { signal: AbortSignal.timeout(200) })).rejects.toThrow(/timeout|abort/i);
      // http:// is passed to the global fetch unchanged (same timeout behaviour)
      const port = (hang.address() as { port: number }).port;
      await expect(good(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(200) })).rejects.toThrow(/timeout|abort/i);
    } finally {
      hang.closeAllConnections();
      hang.close();
      await hangTls.close();
    }
  });
});
