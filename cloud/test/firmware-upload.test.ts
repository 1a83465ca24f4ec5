import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../src/errors.js';
import { loadTrustedKeys } from '../src/firmware/index.js';
import { issueDownloadToken } from '../src/firmware/tokens.js';
import { SqliteDeviceRepository } from '../src/repositories/sqlite-device-repository.js';
import { auth, image, makeKey, signImage, startFirmwareApp, upload, type FirmwareApp } from './firmware-support.js';
import { tempDir } from './helpers.js';

const key = makeKey('release-2025');
const stranger = makeKey('stranger');
const tmp = tempDir('yulan-fw-upload-');
let clock = Date.now();
let s: FirmwareApp;
let noKeys: FirmwareApp;
const img = image(100_000);

beforeAll(async () => {
  s = await startFirmwareApp({ dataDir: join(tmp.dir, 'a'), devices: new SqliteDeviceRepository({ file: ':memory:' }), keys: [key], now: () => clock });
  noKeys = await startFirmwareApp({ dataDir: join(tmp.dir, 'b'), devices: new SqliteDeviceRepository({ file: ':memory:' }), keys: null });
});
afterAll(async () => {
  await s.close();
  await noKeys.close();
  tmp.cleanup();
});

const good = (over: Record<string, string> = {}) => ({ version: '2.1.0', kind: 'ev-charger', key_id: key.id, signature: signImage(img, key), ...over });

describe('firmware upload', () => {
  let id = '';
  it('accepts a signed image, stores it by SHA-256 and lists it', async () => {
    const r = await upload(s.app, img, good());
    expect(r.statusCode).toBe(201);
    const body = r.json();
    expect(body).toMatchObject({ kind: 'ev-charger', version: '2.1.0', size: img.length, keyId: key.id });
    expect(body.sha256).toMatch(/^[0-9a-f]{64}$/);
    id = body.id;
    expect(await s.firmware.images.check(body.sha256, img.length)).toBe('ok');
    const list = await s.app.inject({ url: '/api/v1/firmware', headers: auth });
    expect(list.json().items.map((f: { id: string }) => f.id)).toContain(id);
    expect((await s.app.inject({ url: `/api/v1/firmware/${id}`, headers: auth })).json().version).toBe('2.1.0');
    expect((await s.app.inject({ url: '/api/v1/firmware/fw_nope', headers: auth })).statusCode).toBe(404);
  });

  it('takes the parameters as x-firmware-* headers too', async () => {
    const other = image(5000, 9);
    const r = await s.app.inject({
      method: 'POST', url: '/api/v1/firmware', payload: other,
      headers: { ...auth, 'content-type': 'application/octet-stream', 'x-firmware-version': '1.0.0', 'x-firmware-kind': 'fall-sensor',
        'x-firmware-key-id': key.id, 'x-firmware-signature': signImage(other, key) },
    });
    expect(r.statusCode).toBe(201);
  });

  it('refuses a tampered image', async () => {
    const tampered = Buffer.from(img);
    tampered[500] = (tampered[500] as number) ^ 1;
    const r = await upload(s.app, tampered, good({ version: '2.1.1' }));
    expect(r.statusCode).toBe(400);
    expect(r.json().message).toMatch(/signature does not verify.*tampered/);
  });

  it('refuses a truncated image (declared size, or just the signature)', async () => {
    const short = img.subarray(0, img.length - 10);
    const r1 = await upload(s.app, short, good({ version: '2.1.2', size: String(img.length) }));
    expect(r1.statusCode).toBe(400);
    expect(r1.json().message).toMatch(/truncated image: received 99990 of 100000 bytes/);
    const r2 = await upload(s.app, short, good({ version: '2.1.2' }));
    expect(r2.statusCode).toBe(400);
    expect(r2.json().message).toMatch(/tampered or truncated/);
  });

  it('refuses an unknown key, an unsigned image, a key mismatch and bad metadata', async () => {
    const unknown = await upload(s.app, img, good({ version: '2.2.0', key_id: stranger.id, signature: signImage(img, stranger) }));
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json().message).toMatch(/unknown key_id "stranger"/);
    const { signature: _drop, ...unsigned } = good({ version: '2.2.1' });
    const r = await upload(s.app, img, unsigned);
    expect(r.statusCode).toBe(400);
    expect(r.json().message).toMatch(/unsigned image/);
    const wrongKey = await upload(s.app, img, good({ version: '2.2.2', signature: signImage(img, stranger) }));
    expect(wrongKey.statusCode).toBe(400);
    expect((await upload(s.app, img, good({ version: 'v2' }))).json().message).toMatch(/semantic version/);
    expect((await upload(s.app, img, good({ kind: 'toaster' }))).statusCode).toBe(400);
    expect((await upload(s.app, Buffer.alloc(0), good({ version: '2.2.3' }))).statusCode).toBe(400);
    expect((await upload(s.app, img, good())).statusCode).toBe(409); // same kind + version again
    expect((await s.app.inject({ method: 'POST', url: '/api/v1/firmware', payload: img, headers: { 'content-type': 'application/octet-stream' } })).statusCode).toBe(401);
  });

  it('without YULAN_FIRMWARE_KEYS answers 409 saying how to configure keys', async () => {
    const r = await upload(noKeys.app, img, good());
    expect(r.statusCode).toBe(409);
    expect(r.json().message).toMatch(/YULAN_FIRMWARE_KEYS/);
  });

  it('validates the keys file at start with a clear error', () => {
    const f = join(tmp.dir, 'keys.json');
    writeFileSync(f, JSON.stringify([{ id: 'k1', publicKeyPem: 'nope' }, { id: 'k2' }]));
    expect(() => loadTrustedKeys(f)).toThrow(ConfigError);
    expect(() => loadTrustedKeys(f)).toThrow(/k1.*not a PEM public key[\s\S]*k2.*publicKeyPem.*missing/);
    expect(() => loadTrustedKeys(join(tmp.dir, 'missing.json'))).toThrow(/YULAN_FIRMWARE_KEYS/);
    writeFileSync(f, JSON.stringify([{ id: 'k1', publicKeyPem: key.publicKeyPem }]));
    expect(loadTrustedKeys(f).has('k1')).toBe(true);
  });
});

describe('firmware download', () => {
  let id = '';
  let token = '';
  const dl = (headers: Record<string, string> = {}, t = token, device = 'ev-1') =>
    fetch(`${s.url}/api/v1/firmware/${id}/image?device=${device}&token=${encodeURIComponent(t)}`, { headers });
  beforeAll(async () => {
    const r = await upload(s.app, img, good({ version: '3.0.0' }));
    id = r.json().id;
    token = issueDownloadToken(s.firmware.tokenSecret, 'ev-1', id, clock);
  });

  it('serves the whole image with a valid token, and 401 without or with a bad one', async () => {
    const r = await dl();
    expect(r.status).toBe(200);
    expect(Buffer.from(await r.arrayBuffer()).equals(img)).toBe(true);
    expect(r.headers.get('accept-ranges')).toBe('bytes');
    expect((await fetch(`${s.url}/api/v1/firmware/${id}/image`)).status).toBe(401);
    expect((await dl({}, `${token.slice(0, -2)}xx`)).status).toBe(401);
    // bound to the device: another device cannot use it
    expect((await dl({}, token, 'ev-2')).status).toBe(401);
  });

  it('resumes with Range (206 + Content-Range) and reassembles the exact image', async () => {
    const first = await dl({ range: 'bytes=0-40959' });
    expect(first.status).toBe(206);
    expect(first.headers.get('content-range')).toBe(`bytes 0-40959/${img.length}`);
    const a = Buffer.from(await first.arrayBuffer());
    // "interrupted": the client resumes from what it has
    const rest = await dl({ range: `bytes=${a.length}-` });
    expect(rest.status).toBe(206);
    expect(rest.headers.get('content-range')).toBe(`bytes ${a.length}-${img.length - 1}/${img.length}`);
    expect(Buffer.concat([a, Buffer.from(await rest.arrayBuffer())]).equals(img)).toBe(true);
    const suffix = await dl({ range: 'bytes=-100' });
    expect(Buffer.from(await suffix.arrayBuffer()).equals(img.subarray(img.length - 100))).toBe(true);
  });

  it('416 for unsatisfiable or malformed ranges', async () => {
    for (const range of [`bytes=${img.length}-`, 'bytes=500-100', 'bytes=abc', 'bytes=0-1,5-6']) {
      const r = await dl({ range });
      expect(r.status).toBe(416);
      expect(r.headers.get('content-range')).toBe(`bytes */${img.length}`);
    }
  });

  it('a token expires after 15 minutes', async () => {
    const t = issueDownloadToken(s.firmware.tokenSecret, 'ev-1', id, clock);
    expect((await dl({}, t)).status).toBe(200);
    clock += 15 * 60_000;
    const r = await dl({}, t);
    expect(r.status).toBe(401);
    expect(((await r.json()) as { message: string }).message).toMatch(/expired/);
  });
});
