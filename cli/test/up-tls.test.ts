import fs from 'node:fs';
import https from 'node:https';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runUp, type UpHandle } from '../src/up.js';
import { connect, eventually, quietLogger, readSecrets, tempDir } from './support.js';

interface Answer { status: number; headers: Record<string, string | string[] | undefined>; body: string }

function request(url: string, ca: string | undefined, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: init.method ?? 'GET', headers: init.headers, ...(ca ? { ca } : {}) }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

// `yulan up` out of the box: a development CA on first start, TLS on every listener.
describe('yulan up with TLS', () => {
  const tmp = tempDir('yulan-up-tls-');
  const env: NodeJS.ProcessEnv = {
    YULAN_DATA_DIR: tmp.dir,
    YULAN_MQTT_PORT: '0', YULAN_WS_PORT: '0', YULAN_HTTP_PORT: '0', YULAN_EDGE_HTTP_PORT: '0', YULAN_DEMO_PAGER_PORT: '0',
    YULAN_SIM_DEVICES: '1', YULAN_SIM_RATE: '2', YULAN_SIM_SITES: 'xuhui',
  };
  let up: UpHandle;
  let ca: string;
  const printed: string[] = [];

  beforeAll(async () => {
    up = await runUp(env, quietLogger, (l) => printed.push(l));
    ca = fs.readFileSync(up.tls!.devCa!.caFile, 'utf8');
  });
  afterAll(async () => {
    await up?.close();
    tmp.cleanup();
  });

  it('makes a development CA with private keys in a private folder and says how to trust it', () => {
    const d = up.tls!.devCa!;
    expect(d.created).toBe('all');
    expect(fs.statSync(d.dir).mode & 0o777).toBe(0o700);
    for (const f of [d.caKeyFile, d.keyFile, d.certFile, d.caFile]) expect(fs.statSync(f).mode & 0o777).toBe(0o600);
    expect(printed.join('\n')).toContain(d.caFile);
    expect(printed.join('\n')).toMatch(/--cacert/);
    expect(printed.join('\n')).toContain(`mqtts://localhost:${up.tls!.mqttsPort}`);
  });

  it('serves the cloud API over HTTPS checked against the CA, and refuses clients that do not trust it', async () => {
    const ok = await request(`https://localhost:${up.tls!.httpsPort}/api/v1/devices`, ca, { headers: { authorization: `Bearer ${up.adminToken!}` } });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body).items.length).toBeGreaterThan(0);
    await expect(request(`https://localhost:${up.tls!.httpsPort}/api/v1/devices`, undefined)).rejects.toThrow(/certificate/i);
    // TLS 1.1 is refused on the HTTPS port too
    const old = await new Promise<string>((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port: up.tls!.httpsPort, minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0', rejectUnauthorized: false }, () => resolve('ok'));
      s.on('error', (e: Error & { code?: string }) => resolve(e.code ?? e.message));
    });
    expect(old).not.toBe('ok');
  });

  it('sets the session cookie Secure over HTTPS and not over loopback HTTP', async () => {
    const family = up.careDemo!.accounts.find((a) => a.role === 'family')!;
    const body = JSON.stringify({ login: family.login, password: family.password });
    const headers = { 'content-type': 'application/json' };
    const overTls = await request(`https://localhost:${up.tls!.httpsPort}/api/v1/auth/login`, ca, { method: 'POST', headers, body });
    expect(overTls.status).toBe(200);
    expect(String(overTls.headers['set-cookie'])).toMatch(/; Secure/);
    const plain = await fetch(`http://127.0.0.1:${up.httpPort}/api/v1/auth/login`, { method: 'POST', headers, body });
    expect(plain.status).toBe(200);
    expect(plain.headers.get('set-cookie')).not.toMatch(/Secure/);
  });

  it('serves the edge query API over HTTPS with its token', async () => {
    const secrets = readSecrets(tmp.dir);
    const res = await request(`https://localhost:${up.tls!.edgeHttpsPort}/v1/latest`, ca, { headers: { authorization: `Bearer ${secrets.edgeToken!}` } });
    expect(res.status).toBe(200);
    const denied = await request(`https://localhost:${up.tls!.edgeHttpsPort}/v1/latest`, ca);
    expect(denied.status).toBe(401);
  });

  it('carries the edge and cloud MQTT links over TLS, and MQTT/TLS takes clients', async () => {
    // the cloud's link is configured as mqtts:// with the development CA: connected means TLS worked
    await eventually(async () => {
      const h = JSON.parse((await request(`https://localhost:${up.tls!.httpsPort}/healthz`, ca)).body) as { mqtt: boolean; edge: boolean };
      return h.mqtt && h.edge;
    }, 'the cloud reporting its MQTT/TLS link and the edge up');
    // the simulated fleet publishes over MQTT/TLS and the edge reads over MQTT/TLS: telemetry in the registry shows both
    await eventually(async () => {
      const r = JSON.parse((await request(`https://localhost:${up.tls!.httpsPort}/api/v1/devices`, ca, { headers: { authorization: `Bearer ${up.adminToken!}` } })).body) as { items: { lastValues: unknown }[] };
      return r.items.some((d) => d.lastValues !== null);
    }, 'telemetry stored by the edge');
    const secrets = readSecrets(tmp.dir);
    const c = await connect(`mqtts://localhost:${up.tls!.mqttsPort}`, { clientId: 'edge:tls-check', username: 'edge', password: secrets.edgeMqttPassword!, ca });
    expect(c.connected).toBe(true);
    await c.endAsync();
  });

  it('wires the broker view: the cloud lists the stack\'s MQTT clients through the broker\'s admin API', async () => {
    const ids = await eventually(async () => {
      const r = await request(`https://localhost:${up.tls!.httpsPort}/api/v1/broker/clients`, ca, { headers: { authorization: `Bearer ${up.adminToken!}` } });
      if (r.status !== 200) return undefined;
      const list = (JSON.parse(r.body) as { clients: { id: string }[] }).clients.map((x) => x.id);
      return list.some((id) => id.startsWith('edge:')) && list.some((id) => id.startsWith('cloud:')) ? list : undefined;
    }, 'the edge and the cloud in the broker view');
    expect(ids.length).toBeGreaterThanOrEqual(2);
  });
});
