import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOcppGatewayConfig, startOcppGateway, type OcppGatewayHandle } from '../src/index.js';
import { logger, RawChargePoint, startPlatform, waitFor, type Platform } from './harness.js';

/** A firmware campaign reaches an OCPP charger: UpdateFirmware with a working download URL,
 * FirmwareStatusNotification as progress, the reboot on the new version passes the gate. */
let p: Platform;
let gw: OcppGatewayHandle;
const keysDir = mkdtempSync(join(tmpdir(), 'yulan-ocpp-keys-'));
const { publicKey, privateKey } = generateKeyPairSync('ed25519');

beforeAll(async () => {
  const keysFile = join(keysDir, 'keys.json');
  writeFileSync(keysFile, JSON.stringify([{ id: 'k1', publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) }]));
  p = await startPlatform({ YULAN_FIRMWARE_KEYS: keysFile });
  gw = await startOcppGateway(loadOcppGatewayConfig(p.env), logger);
});
afterAll(async () => {
  await gw?.close();
  await p?.close();
  rmSync(keysDir, { recursive: true, force: true });
});

describe('firmware campaign to an OCPP charger', () => {
  it('offers, downloads, installs and passes the health gate', async () => {
    const key = await p.addCharger('CPF1', 'fwsite');
    let cp = await RawChargePoint.connect(gw.url, 'CPF1', key);
    await cp.call('BootNotification', { chargePointVendor: 'V', chargePointModel: 'M', firmwareVersion: '1.0.0' });
    await cp.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Available' });
    await waitFor(async () => (await p.api<{ firmwareVersion: string | null }>('/api/v1/devices/CPF1')).body.firmwareVersion === '1.0.0' || undefined, 'version 1.0.0 known');

    const image = randomBytes(2048);
    const signature = sign(null, createHash('sha256').update(image).digest(), privateKey).toString('base64');
    const up = await fetch(`${p.cloudUrl}/api/v1/firmware?version=2.0.0&kind=ev-charger&key_id=k1&signature=${encodeURIComponent(signature)}`, {
      method: 'POST', headers: { authorization: `Bearer ${p.adminToken}`, 'content-type': 'application/octet-stream' }, body: image,
    });
    expect(up.status).toBe(201);
    const fw = (await up.json()) as { id: string };
    let downloaded: Buffer | undefined;
    cp.answers.UpdateFirmware = (q) => {
      void fetch(String(q.location)).then(async (r) => { if (r.ok) downloaded = Buffer.from(await r.arrayBuffer()); });
      return {};
    };
    const created = await p.api<{ id: string }>('/api/v1/campaigns', { method: 'POST', json: {
      firmwareId: fw.id, target: { kind: 'ev-charger', sites: ['fwsite'] }, stages: [1], spreadSec: 0, soakSec: 1, reportEverySec: 30,
    } });
    expect(created.status).toBe(201);
    await waitFor(() => downloaded, 'image downloaded with the offered URL');
    expect(downloaded!.equals(image)).toBe(true);
    for (const status of ['Downloading', 'Downloaded', 'Installing', 'Installed']) await cp.call('FirmwareStatusNotification', { status });
    cp.close();
    cp = await RawChargePoint.connect(gw.url, 'CPF1', key);
    await cp.call('BootNotification', { chargePointVendor: 'V', chargePointModel: 'M', firmwareVersion: '2.0.0' });
    const done = await waitFor(async () => {
      await cp.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Available' });
      const c = (await p.api<{ status: string; reason: string | null }>(`/api/v1/campaigns/${created.body.id}`)).body;
      return ['completed', 'aborted'].includes(c.status) ? c : undefined;
    }, 'campaign finished', 60_000);
    expect(done.status).toBe('completed');
    const devices = await p.api<{ items: { deviceId?: string; id?: string; status: string }[] }>(`/api/v1/campaigns/${created.body.id}/devices`);
    expect(devices.body.items.map((d) => d.status)).toEqual(['succeeded']);
    cp.close();
  });
});
