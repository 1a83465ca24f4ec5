import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayConfigError, loadOcppGatewayConfig, startOcppGateway, type OcppGatewayHandle } from '../src/index.js';
import { logger, RawChargePoint, startPlatform, type Platform } from './harness.js';

/** Security profile 2: Basic auth over TLS with the certificate and key from files. */
let p: Platform;
let gw: OcppGatewayHandle;
let key = '';
let ca: Buffer;

beforeAll(async () => {
  p = await startPlatform();
  const cert = join(p.dir, 'gw.crt');
  const pem = join(p.dir, 'gw.key');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', pem, '-out', cert], { stdio: 'ignore' });
  ca = readFileSync(cert);
  gw = await startOcppGateway(loadOcppGatewayConfig({ ...p.env, YULAN_OCPP_TLS_CERT: cert, YULAN_OCPP_TLS_KEY: pem }), logger);
  key = await p.addCharger('CPTLS');
});
afterAll(async () => {
  await gw?.close();
  await p?.close();
});

describe('security profile 2 (TLS)', () => {
  it('serves wss:// with the configured certificate; Basic auth still decides', async () => {
    expect(gw.url).toMatch(/^wss:\/\//);
    const cp = await RawChargePoint.connect(gw.url, 'CPTLS', key, ['ocpp1.6'], { ca });
    expect((await cp.call('BootNotification', { chargePointVendor: 'V', chargePointModel: 'M' }))[2]).toMatchObject({ status: 'Accepted' });
    cp.close();
    await expect(RawChargePoint.connect(gw.url, 'CPTLS', 'wrong', ['ocpp1.6'], { ca })).rejects.toMatchObject({ status: 401 });
    // a client that does not trust the certificate never gets to send its key
    await expect(RawChargePoint.connect(gw.url, 'CPTLS', key)).rejects.toThrow(/self-signed|certificate/);
  });

  it('refuses a half TLS configuration and unreadable files at start-up', () => {
    expect(() => loadOcppGatewayConfig({ ...p.env, YULAN_OCPP_TLS_CERT: '/nonexistent.crt' })).toThrow(GatewayConfigError);
    expect(() => loadOcppGatewayConfig({ ...p.env, YULAN_OCPP_TLS_CERT: '/nonexistent.crt', YULAN_OCPP_TLS_KEY: '/nonexistent.key' })).toThrow(/ENOENT/);
    expect(() => loadOcppGatewayConfig({ ...p.env, YULAN_GATEWAY_TOKEN: 'short' })).toThrow(/YULAN_GATEWAY_TOKEN/);
  });
});
