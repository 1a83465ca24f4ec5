import { createHash } from 'node:crypto';
import { truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { afterAll, describe, expect, it } from 'vitest';
import { ImageStore, type FirmwareImages } from '../src/firmware/images.js';
import { CHUNK_BYTES, PgImageStore } from '../src/firmware/pg-image-store.js';
import type { PostgresDatabase } from '../src/db/postgres.js';
import { image } from './firmware-support.js';
import { usePostgres } from './pg-support.js';
import { secondCloud } from './pg-two-clouds.js';
import { tempDir } from './helpers.js';

/** Image bytes by SHA-256: files (SQLite) and PostgreSQL, the same contract; on PostgreSQL an
 * image stored through one cloud is read through another. */
const pgs = usePostgres();
const tmp = tempDir('firmware-images-');
const pools: PostgresDatabase[] = [];
afterAll(async () => {
  for (const p of pools) await p.close();
  tmp.cleanup();
});

interface Impl { store: FirmwareImages; damage(sha: string): Promise<void>; cut(sha: string): Promise<void> }
let n = 0;
const impls: [string, () => Promise<Impl>][] = [['files', async () => {
  const dir = join(tmp.dir, `images-${n++}`);
  return {
    store: new ImageStore(dir),
    damage: async (sha) => writeFileSync(join(dir, sha), Buffer.alloc(CHUNK_BYTES + 10, 7)),
    cut: async (sha) => truncateSync(join(dir, sha), 100),
  };
}]];
if (!pgs.skip) {
  impls.push(['postgres', async () => {
    const db = await pgs.fresh();
    return {
      store: await PgImageStore.open(db),
      damage: async (sha) => void await db.query('test', "UPDATE firmware.image_chunks SET data = decode(repeat('07', octet_length(data)), 'hex') WHERE sha256 = $1", [sha]),
      cut: async (sha) => void await db.query('test', 'DELETE FROM firmware.image_chunks WHERE sha256 = $1 AND seq = 1', [sha]),
    };
  }]);
}
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const read = async (s: FirmwareImages, d: string, start: number, end: number): Promise<Buffer> => {
  const parts: Buffer[] = [];
  for await (const c of s.stream(d, start, end)) parts.push(c as Buffer);
  return Buffer.concat(parts);
};

describe.each(impls)('firmware image store (%s)', (_name, open) => {
  const img = image(CHUNK_BYTES + 10, 3);
  const d = sha(img);

  it('keeps an image by digest and serves any byte range of it', async () => {
    const { store } = await open();
    expect(await store.check(d, img.length)).toBe('absent');
    await store.put(d, img);
    await store.put(d, img);
    expect(await store.check(d, img.length)).toBe('ok');
    expect((await read(store, d, 0, img.length - 1)).equals(img)).toBe(true);
    // inside one chunk, across the chunk boundary, the last byte
    for (const [a, b] of [[5, 99], [CHUNK_BYTES - 3, CHUNK_BYTES + 4], [img.length - 1, img.length - 1]] as const) {
      expect((await read(store, d, a, b)).equals(img.subarray(a, b + 1))).toBe(true);
    }
    await expect(text(store.stream('0'.repeat(64), 0, 10))).rejects.toThrow();
    expect(() => store.stream('../etc/passwd', 0, 1)).toThrow(RangeError);
  });

  it('a damaged image is served as stored (the device\'s SHA-256 check refuses it); one cut short is said to be damaged', async () => {
    const { store, damage, cut } = await open();
    await store.put(d, img);
    await damage(d);
    expect(await store.check(d, img.length)).toBe('ok');
    expect(sha(await read(store, d, 0, img.length - 1))).not.toBe(d);
    await cut(d);
    expect(await store.check(d, img.length)).toBe('damaged');
  });
});

describe.skipIf(pgs.skip)('firmware images with two clouds on one PostgreSQL database', () => {
  it('stored through one cloud, read through the other; the same upload on both at once is stored once', async () => {
    const dbA = await pgs.fresh();
    const dbB = secondCloud(dbA);
    pools.push(dbB);
    const a = await PgImageStore.open(dbA);
    const b = await PgImageStore.open(dbB);
    const img = image(3 * CHUNK_BYTES, 11);
    const d = sha(img);
    await Promise.all([a.put(d, img), b.put(d, img)]);
    expect(await b.check(d, img.length)).toBe('ok');
    expect((await read(b, d, 0, img.length - 1)).equals(img)).toBe(true);
    const rows = await dbA.query<{ n: number }>('test', 'SELECT count(*)::int AS n FROM firmware.image_chunks WHERE sha256 = $1', [d]);
    expect(rows.rows[0]?.n).toBe(3);
  });
});
