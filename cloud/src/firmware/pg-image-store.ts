import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { PostgresDatabase } from '../db/postgres.js';
import type { FirmwareImages, ImageCheck } from './images.js';

/**
 * Image bytes in PostgreSQL, so any cloud on the database serves any image (no shared
 * directory) and `pg_dump` — `yulan backup` — carries them with their metadata.
 *
 * bytea in fixed 256 KiB chunks rather than one value or large objects: a range request
 * reads only the chunks it covers and no read or write holds more than a chunk (a 64 MiB
 * image as one bytea would be a 128 MiB hex string in a single query); rows live in the
 * `firmware` schema, are transactional and dumped with it, while large objects sit outside
 * any schema in pg_largeobject and need their own unlinking. STORAGE EXTERNAL: images are
 * compressed already, so PostgreSQL need not try again.
 *
 * Content-addressed like the files: an image is written once, chunks and then its header
 * row in one transaction, so a crash never leaves a partial image under a digest.
 */
export const CHUNK_BYTES = 256 * 1024;

const MIGRATIONS: readonly string[] = [
  `CREATE SCHEMA IF NOT EXISTS firmware;
   CREATE TABLE firmware.image_blobs (sha256 text PRIMARY KEY, size bigint NOT NULL, chunk_bytes integer NOT NULL, created_at bigint NOT NULL);
   CREATE TABLE firmware.image_chunks (
     sha256 text NOT NULL REFERENCES firmware.image_blobs (sha256),
     seq integer NOT NULL, data bytea NOT NULL, PRIMARY KEY (sha256, seq)
   );
   ALTER TABLE firmware.image_chunks ALTER COLUMN data SET STORAGE EXTERNAL;`,
];

const digest = (sha256Hex: string): string => {
  if (!/^[0-9a-f]{64}$/.test(sha256Hex)) throw new RangeError('bad digest');
  return sha256Hex;
};

export class PgImageStore implements FirmwareImages {
  private constructor(private readonly db: PostgresDatabase, private readonly now: () => number) {}

  static async open(db: PostgresDatabase, now: () => number = Date.now): Promise<PgImageStore> {
    await db.migrate('firmware_images', MIGRATIONS);
    return new PgImageStore(db, now);
  }

  async put(sha256Hex: string, data: Uint8Array): Promise<void> {
    const sha = digest(sha256Hex);
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    await this.db.tx('storing a firmware image', async (sql) => {
      // Two clouds taking the same upload at once: the second waits here, then finds it stored.
      const header = await sql.query(`INSERT INTO firmware.image_blobs (sha256, size, chunk_bytes, created_at) VALUES ($1, $2, $3, $4)
        ON CONFLICT (sha256) DO NOTHING RETURNING sha256`, [sha, bytes.length, CHUNK_BYTES, this.now()]);
      if (header.rowCount === 0) {
        // Stored already; written again only if it was damaged (chunks lost), like a short file.
        const stored = await sql.query<{ n: number | null }>('SELECT sum(octet_length(data))::bigint AS n FROM firmware.image_chunks WHERE sha256 = $1', [sha]);
        if (Number(stored.rows[0]?.n ?? 0) === bytes.length) return;
        await sql.query('DELETE FROM firmware.image_chunks WHERE sha256 = $1', [sha]);
        await sql.query('UPDATE firmware.image_blobs SET size = $2, chunk_bytes = $3 WHERE sha256 = $1', [sha, bytes.length, CHUNK_BYTES]);
      }
      for (let seq = 0; seq * CHUNK_BYTES < bytes.length; seq++) {
        await sql.query('INSERT INTO firmware.image_chunks (sha256, seq, data) VALUES ($1, $2, $3)',
          [sha, seq, bytes.subarray(seq * CHUNK_BYTES, (seq + 1) * CHUNK_BYTES)]);
      }
    });
  }

  async check(sha256Hex: string, size: number): Promise<ImageCheck> {
    const r = await this.db.query<{ size: number; stored: number | null }>('checking a firmware image', `SELECT b.size,
      (SELECT sum(octet_length(c.data))::bigint FROM firmware.image_chunks c WHERE c.sha256 = b.sha256) AS stored
      FROM firmware.image_blobs b WHERE b.sha256 = $1`, [digest(sha256Hex)]);
    const row = r.rows[0];
    if (!row) return 'absent';
    return row.size === size && Number(row.stored ?? 0) === size ? 'ok' : 'damaged';
  }

  stream(sha256Hex: string, start: number, end: number): Readable {
    const sha = digest(sha256Hex);
    const db = this.db;
    return Readable.from((async function* chunks() {
      const meta = await db.query<{ chunk_bytes: number }>('reading a firmware image', 'SELECT chunk_bytes FROM firmware.image_blobs WHERE sha256 = $1', [sha]);
      const size = meta.rows[0]?.chunk_bytes;
      if (size === undefined) throw new Error(`firmware image ${sha} is not stored`);
      for (let seq = Math.floor(start / size); seq <= Math.floor(end / size); seq++) {
        const r = await db.query<{ data: Buffer }>('reading a firmware image', 'SELECT data FROM firmware.image_chunks WHERE sha256 = $1 AND seq = $2', [sha, seq]);
        const data = r.rows[0]?.data;
        const from = Math.max(0, start - seq * size);
        const to = Math.min(size, end - seq * size + 1);
        // A short chunk ends the stream with an error (the connection drops) rather than
        // sending fewer bytes than the Content-Length promised.
        if (!data || data.length < to) throw new Error(`firmware image ${sha} is damaged at chunk ${seq}`);
        yield data.subarray(from, to);
      }
    })(), { objectMode: false });
  }
}

/**
 * Image files a cloud on PostgreSQL kept in `<dataDir>/firmware/images/` before images moved
 * into the database (or a directory shared by several clouds): each one the database lacks
 * is copied in, if its bytes still match the digest it is named by, so devices in a campaign
 * keep their downloads. The files are left in place (docs/deploy.md says when to remove them).
 */
export async function importImageFiles(store: PgImageStore, dir: string, log: Logger): Promise<number> {
  if (!existsSync(dir)) return 0;
  let imported = 0;
  for (const name of readdirSync(dir)) {
    if (!/^[0-9a-f]{64}$/.test(name)) continue;
    // Already in the database (every later start): not read at all.
    if ((await store.check(name, statSync(join(dir, name)).size)) === 'ok') continue;
    const bytes = readFileSync(join(dir, name));
    if (createHash('sha256').update(bytes).digest('hex') !== name) {
      log.warn({ file: join(dir, name) }, 'firmware image file does not match its digest: not imported into the database');
      continue;
    }
    await store.put(name, bytes);
    imported++;
  }
  if (imported > 0) log.info({ imported, dir }, 'firmware image files imported into the database');
  return imported;
}
