import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { issueDownloadToken } from '../src/firmware/tokens.js';
import { TOKEN_KEY_FILE } from '../src/firmware/token-key.js';
import { SqliteDeviceRepository } from '../src/repositories/sqlite-device-repository.js';
import type { PostgresDatabase } from '../src/db/postgres.js';
import { image, makeKey, signImage, startFirmwareApp, upload, type FirmwareApp } from './firmware-support.js';
import { tempDir } from './helpers.js';
import { usePostgres } from './pg-support.js';
import { secondCloud } from './pg-two-clouds.js';

/** Downloads through any cloud on one PostgreSQL database: each cloud has its own data
 * directory (nothing shared but the download-token key file), the image is in the database. */
const pgs = usePostgres();
const key = makeKey('release');
const tmp = tempDir('yulan-fw-images-');
const apps: FirmwareApp[] = [];
const pools: PostgresDatabase[] = [];
const devices = new SqliteDeviceRepository({ file: ':memory:' });
afterAll(async () => {
  for (const a of apps) await a.close();
  for (const p of pools) await p.close();
  await devices.close();
  tmp.cleanup();
});

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe.skipIf(pgs.skip)('firmware images with two clouds on one PostgreSQL database', () => {
  it('an image uploaded through cloud A downloads from cloud B: same bytes, ETag and ranges; missing or cut short, a clear 500', async () => {
    const dbA = await pgs.fresh();
    const dbB = secondCloud(dbA);
    pools.push(dbB);
    const dirA = join(tmp.dir, 'a');
    const dirB = join(tmp.dir, 'b');
    const a = await startFirmwareApp({ dataDir: dirA, devices, keys: [key], db: { kind: 'postgres', db: dbA } });
    apps.push(a);
    // the one file every cloud shares (docs/deploy.md, "Shared files")
    mkdirSync(join(dirB, 'firmware'), { recursive: true, mode: 0o700 });
    copyFileSync(join(dirA, 'firmware', TOKEN_KEY_FILE), join(dirB, 'firmware', TOKEN_KEY_FILE));
    const b = await startFirmwareApp({ dataDir: dirB, devices, keys: [key], db: { kind: 'postgres', db: dbB } });
    apps.push(b);

    const img = image(700_000, 4);
    const up = await upload(a.app, img, { version: '3.0.0', kind: 'ev-charger', key_id: key.id, signature: signImage(img, key) });
    expect(up.statusCode).toBe(201);
    const f = up.json() as { id: string; sha256: string };
    expect(f.sha256).toBe(sha(img));
    const url = `${b.url}/api/v1/firmware/${f.id}/image?device=d1&token=${issueDownloadToken(a.firmware.tokenSecret, 'd1', f.id, Date.now())}`;

    const whole = await fetch(url);
    expect(whole.status).toBe(200);
    expect(whole.headers.get('etag')).toBe(`"${sha(img)}"`);
    expect(Buffer.from(await whole.arrayBuffer()).equals(img)).toBe(true);
    const part = await fetch(url, { headers: { range: 'bytes=262140-262150' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 262140-262150/${img.length}`);
    expect(Buffer.from(await part.arrayBuffer()).equals(img.subarray(262140, 262151))).toBe(true);
    // no image file on either cloud: nothing to share
    expect(existsSync(join(dirA, 'firmware', 'images'))).toBe(false);
    expect(existsSync(join(dirB, 'firmware', 'images'))).toBe(false);

    await dbA.query('test', 'DELETE FROM firmware.image_chunks WHERE sha256 = $1 AND seq = 2', [f.sha256]);
    const cut = await fetch(url);
    expect(cut.status).toBe(500);
    expect((await cut.json()).message).toBe(`firmware image ${f.id} is damaged in the image store; upload it again`);
    // a second upload of the same bytes (another version) writes the lost chunks again
    expect((await upload(b.app, img, { version: '3.0.1', kind: 'ev-charger', key_id: key.id, signature: signImage(img, key) })).statusCode).toBe(201);
    expect(Buffer.from(await (await fetch(url)).arrayBuffer()).equals(img)).toBe(true);
    await dbA.query('test', 'DELETE FROM firmware.image_chunks WHERE sha256 = $1', [f.sha256]);
    await dbA.query('test', 'DELETE FROM firmware.image_blobs WHERE sha256 = $1', [f.sha256]);
    const gone = await fetch(url);
    expect(gone.status).toBe(500);
    expect((await gone.json()).message).toBe(`firmware image ${f.id} is missing from the image store; upload it again`);
    expect((await upload(b.app, img, { version: '3.0.2', kind: 'ev-charger', key_id: key.id, signature: signImage(img, key) })).statusCode).toBe(201);
    expect(Buffer.from(await (await fetch(url)).arrayBuffer()).equals(img)).toBe(true);
  });
});

describe.skipIf(pgs.skip)('moving to images in PostgreSQL', () => {
  it('image files a cloud on PostgreSQL kept on disk are imported at start; a file not matching its name is not', async () => {
    const dir = join(tmp.dir, 'older');
    mkdirSync(join(dir, 'firmware', 'images'), { recursive: true, mode: 0o700 });
    const img = image(300_000, 6);
    const bogus = image(1000, 7);
    const bogusName = sha(image(1000, 8));
    writeFileSync(join(dir, 'firmware', 'images', sha(img)), img);
    writeFileSync(join(dir, 'firmware', 'images', bogusName), bogus);
    const s = await startFirmwareApp({ dataDir: dir, devices, keys: [key], db: { kind: 'postgres', db: await pgs.fresh() } });
    apps.push(s);
    expect(await s.firmware.images.check(sha(img), img.length)).toBe('ok');
    const parts: Buffer[] = [];
    for await (const c of s.firmware.images.stream(sha(img), 0, img.length - 1)) parts.push(c as Buffer);
    expect(Buffer.concat(parts).equals(img)).toBe(true);
    expect(await s.firmware.images.check(bogusName, bogus.length)).toBe('absent');
  });
});

describe('firmware images on SQLite (files)', () => {
  it('an image file gone from the data directory is a clear 500', async () => {
    const dir = join(tmp.dir, 'sqlite');
    const s = await startFirmwareApp({ dataDir: dir, devices, keys: [key] });
    apps.push(s);
    const img = image(5000, 2);
    const f = (await upload(s.app, img, { version: '1.0.0', kind: 'ev-charger', key_id: key.id, signature: signImage(img, key) })).json() as { id: string; sha256: string };
    const url = `${s.url}/api/v1/firmware/${f.id}/image?device=d1&token=${issueDownloadToken(s.firmware.tokenSecret, 'd1', f.id, Date.now())}`;
    expect(Buffer.from(await (await fetch(url)).arrayBuffer()).equals(img)).toBe(true);
    rmSync(join(dir, 'firmware', 'images', f.sha256));
    const gone = await fetch(url);
    expect(gone.status).toBe(500);
    expect((await gone.json()).message).toBe(`firmware image ${f.id} is missing from the image store; upload it again`);
  });
});
