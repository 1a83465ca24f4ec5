import { execFile, execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOcppGatewayConfig, startOcppGateway, type OcppGatewayHandle } from '../src/index.js';
import { logger, startPlatform, waitFor, type Platform } from './harness.js';

/**
 * Security profile 2 with a charger played by ocpp-ts (another OCPP 1.6J library) in its
 * own process. ocpp-ts takes no CA option, so the charger trusts the gateway's issuer the
 * way a real one does — installed in its trust store (here NODE_EXTRA_CA_CERTS, read at
 * process start). The certificate is RSA 2048, what OCPP 1.6 chargers are required to
 * handle ("an RSA certificate with a size no greater than 2048").
 */
const here = dirname(fileURLToPath(import.meta.url));
const ID = 'ACME-TLS1';
let p: Platform;
let gw: OcppGatewayHandle;
let key = '';
let caFile = '';

// Boots once and prints the answer, or the error, as one JSON line.
const CHARGER = `
const { OcppClient } = require('ocpp-ts');
const [url, id, key] = process.argv.slice(1);
const cp = new OcppClient(id);
const done = (o) => { console.log(JSON.stringify(o)); process.exit(0); };
cp.on('error', (e) => done({ error: e.message }));
cp.on('connect', async () => {
  try { done({ boot: await cp.callRequest('BootNotification', { chargePointVendor: 'Acme', chargePointModel: 'DC50' }) }); }
  catch (e) { done({ error: e.message }); }
});
cp.connect(url + '/', { Authorization: 'Basic ' + Buffer.from(id + ':' + key).toString('base64') });
`;

function runCharger(k: string, trustCa: boolean): Promise<{ boot?: { status: string }; error?: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...(trustCa ? { NODE_EXTRA_CA_CERTS: caFile } : {}) };
  if (!trustCa) delete env.NODE_EXTRA_CA_CERTS;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['-e', CHARGER, gw.url, ID, k], { cwd: here, env, timeout: 30_000 }, (err, stdout) => {
      const line = stdout.trim().split('\n').pop() ?? '';
      if (!line) return reject(err ?? new Error('no output from the ocpp-ts charger'));
      resolve(JSON.parse(line) as { boot?: { status: string }; error?: string });
    });
  });
}

beforeAll(async () => {
  p = await startPlatform();
  const cert = join(p.dir, 'gw.crt');
  const pem = join(p.dir, 'gw.key');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', pem, '-out', cert], { stdio: 'ignore' });
  caFile = cert;
  gw = await startOcppGateway(loadOcppGatewayConfig({ ...p.env, YULAN_OCPP_TLS_CERT: cert, YULAN_OCPP_TLS_KEY: pem }), logger);
  key = await p.addCharger(ID, 'tls');
});
afterAll(async () => {
  await gw?.close();
  await p?.close();
});

describe('security profile 2 with an ocpp-ts charger', () => {
  it('boots over wss:// with Basic auth once it trusts the issuer', async () => {
    expect(gw.url).toMatch(/^wss:\/\//);
    expect(await runCharger(key, true)).toMatchObject({ boot: { status: 'Accepted' } });
    await waitFor(async () => (await p.api<{ lastSeen: string | null }>(`/api/v1/devices/${ID}`)).body.lastSeen ?? undefined, 'seen through TLS');
  });

  it('is refused with 401 for a wrong key, and never sends its key to a gateway it does not trust', async () => {
    expect((await runCharger('wrong-key', true)).error).toMatch(/401/);
    expect((await runCharger(key, false)).error).toMatch(/self[- ]signed|certificate/i);
  });
});
