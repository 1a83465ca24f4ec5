import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOcppSimChargers, type OcppFleet, type OcppFleetOptions } from '@yulan/device-sims';
import { loadOcppGatewayConfig, startOcppGateway, type OcppGatewayHandle } from '../src/index.js';
import { logger, startPlatform, waitFor, type Platform } from './harness.js';

/** A firmware campaign against the simulated OCPP charger (device-sims), as `yulan up` runs it:
 * UpdateFirmware accepted, FirmwareStatusNotification progress, reboot on the new version,
 * the version kept in its data dir; and the fault options failing the campaign's device. */
let p: Platform;
let gw: OcppGatewayHandle;
const fleets: OcppFleet[] = [];
const dir = mkdtempSync(join(tmpdir(), 'yulan-ocpp-simfw-'));
const { publicKey, privateKey } = generateKeyPairSync('ed25519');
type Campaign = { status: string; reason: string | null };

beforeAll(async () => {
  const keysFile = join(dir, 'keys.json');
  writeFileSync(keysFile, JSON.stringify([{ id: 'k1', publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) }]));
  p = await startPlatform({ YULAN_FIRMWARE_KEYS: keysFile });
  // Heartbeats every second: the campaign's health gate needs reports from an idle charger.
  gw = await startOcppGateway(loadOcppGatewayConfig({ ...p.env, YULAN_OCPP_HEARTBEAT_S: '1' }), logger);
});
afterAll(async () => {
  for (const f of fleets) await f.close();
  await gw?.close();
  await p?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function fleet(site: string, extra: Partial<OcppFleetOptions> = {}): Promise<OcppFleet> {
  const f = await startOcppSimChargers({
    gatewayUrl: gw.url, cloud: { url: p.cloudUrl, adminToken: p.adminToken }, site, rate: 4, rebootMs: 200,
    credentialsFile: join(dir, `${site}-credentials.json`), ...extra,
  }, logger);
  fleets.push(f);
  await waitFor(async () => (await p.api<{ firmwareVersion: string | null }>(`/api/v1/devices/${f.ids[0]}`)).body.firmwareVersion === '1.0.0' || undefined, `${site} online on 1.0.0`);
  return f;
}

async function upload(version: string): Promise<string> {
  const image = randomBytes(4096);
  const signature = sign(null, createHash('sha256').update(image).digest(), privateKey).toString('base64');
  const up = await fetch(`${p.cloudUrl}/api/v1/firmware?version=${version}&kind=ev-charger&key_id=k1&signature=${encodeURIComponent(signature)}`, {
    method: 'POST', headers: { authorization: `Bearer ${p.adminToken}`, 'content-type': 'application/octet-stream' }, body: image,
  });
  expect(up.status).toBe(201);
  return ((await up.json()) as { id: string }).id;
}

async function campaign(firmwareId: string, site: string): Promise<string> {
  const created = await p.api<{ id: string }>('/api/v1/campaigns', { method: 'POST', json: {
    firmwareId, target: { kind: 'ev-charger', sites: [site] }, stages: [1], spreadSec: 0, soakSec: 1, reportEverySec: 30,
  } });
  expect(created.status).toBe(201);
  return created.body.id;
}

const finished = (id: string): Promise<Campaign> => waitFor(async () => {
  const c = (await p.api<Campaign>(`/api/v1/campaigns/${id}`)).body;
  return ['completed', 'aborted'].includes(c.status) ? c : undefined;
}, `campaign ${id} finished`, 90_000);

const events = async (id: string): Promise<{ type: string; attributes: Record<string, string> }[]> =>
  (await p.api<{ events: { type: string; attributes: Record<string, string> }[] }>(`/api/v1/devices/${id}/events?limit=200`)).body.events;

describe('firmware campaign to the simulated OCPP charger', () => {
  it('downloads, installs, reboots on the new version, and keeps it across a simulator restart', { timeout: 180_000 }, async () => {
    const dataDir = join(dir, 'flash-ok');
    let f = await fleet('simfw', { dataDir });
    const id = f.ids[0]!;
    const c = await finished(await campaign(await upload('2.0.0'), 'simfw'));
    expect(c.status).toBe('completed');
    expect(f.chargers[0]!.firmwareVersion).toBe('2.0.0');
    expect((await p.api<{ firmwareVersion: string }>(`/api/v1/devices/${id}`)).body.firmwareVersion).toBe('2.0.0');
    const seen = (await events(id)).map((e) => e.type);
    for (const t of ['firmware.downloading', 'firmware.downloaded', 'firmware.installing', 'firmware.installed']) expect(seen).toContain(t);
    expect(JSON.parse(readFileSync(join(dataDir, 'firmware.json'), 'utf8'))).toEqual({ versions: { [id]: '2.0.0' } });

    // A restarted simulator boots its charger on what it installed, not on 1.0.0.
    const bootsOn2 = async (): Promise<number> => (await events(id)).filter((e) => e.type === 'charger.boot' && e.attributes.firmware_version === '2.0.0').length;
    const before = await bootsOn2();
    expect(before).toBeGreaterThanOrEqual(1);
    await f.close();
    fleets.splice(fleets.indexOf(f), 1);
    f = await startOcppSimChargers({
      gatewayUrl: gw.url, cloud: { url: p.cloudUrl, adminToken: p.adminToken }, site: 'simfw', rate: 4, dataDir, credentialsFile: join(dir, 'simfw-credentials.json'),
    }, logger);
    fleets.push(f);
    expect(f.chargers[0]!.firmwareVersion).toBe('2.0.0');
    await waitFor(async () => (await bootsOn2()) > before || undefined, 'restarted charger booted on 2.0.0');
  });

  it.each([['download', 'DownloadFailed'], ['install', 'InstallationFailed']] as const)('a %s fault fails the device and it stays on 1.0.0', async (fault, ocpp) => {
    const site = `simfw-${fault}`;
    const f = await fleet(site, { firmwareFault: fault, dataDir: join(dir, `flash-${fault}`) });
    const id = f.ids[0]!;
    const cid = await campaign(await upload(`2.1.0-${fault}`), site);
    const failed = await waitFor(async () => (await events(id)).find((e) => e.type === 'firmware.failed'), 'firmware.failed event');
    expect(failed.attributes.reason).toBe(ocpp);
    await finished(cid);
    const devices = await p.api<{ items: { status: string }[] }>(`/api/v1/campaigns/${cid}/devices`);
    expect(devices.body.items.map((d) => d.status)).toEqual(['failed']);
    expect(f.chargers[0]!.firmwareVersion).toBe('1.0.0');
    expect((await p.api<{ firmwareVersion: string }>(`/api/v1/devices/${id}`)).body.firmwareVersion).toBe('1.0.0');
  });
});
