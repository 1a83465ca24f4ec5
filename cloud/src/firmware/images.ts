import { createReadStream, existsSync, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { settle } from '../db/settle.js';

/** What a stored image is against its metadata: 'damaged' = not the recorded size. */
export type ImageCheck = 'ok' | 'absent' | 'damaged';

/**
 * Where image bytes live, by SHA-256: files under `<dataDir>/firmware/images/` (SQLite,
 * ImageStore) or the database (PostgreSQL, PgImageStore: every cloud serves every image).
 * Metadata, the signature check and the ETag are the repository's, the same on both.
 */
export interface FirmwareImages {
  put(sha256Hex: string, data: Uint8Array): Promise<void>;
  check(sha256Hex: string, size: number): Promise<ImageCheck>;
  /** Inclusive byte range, like HTTP's. */
  stream(sha256Hex: string, start: number, end: number): Readable;
}

/** Images on disk by SHA-256 (content-addressed: an identical upload is stored once and a
 * stored image can never change under its id). Written to a temp name, then renamed, so a
 * crash mid-write never leaves a partial image under a real digest. */
export class ImageStore implements FirmwareImages {
  constructor(private readonly dir: string) {
    // Owner-only like every data folder (docs/deploy.md); the cloud serves images itself.
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  private path(sha256Hex: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha256Hex)) throw new RangeError('bad digest');
    return join(this.dir, sha256Hex);
  }

  put(sha256Hex: string, data: Uint8Array): Promise<void> {
    return settle(() => this.putSync(sha256Hex, data));
  }

  check(sha256Hex: string, size: number): Promise<ImageCheck> {
    return settle(() => {
      const p = this.path(sha256Hex);
      if (!existsSync(p)) return 'absent';
      return statSync(p).size === size ? 'ok' : 'damaged';
    });
  }

  private putSync(sha256Hex: string, data: Uint8Array): void {
    const p = this.path(sha256Hex);
    if (existsSync(p) && statSync(p).size === data.length) return;
    const tmp = `${p}.${process.pid}.tmp`;
    writeFileSync(tmp, data, { mode: 0o600 });
    renameSync(tmp, p);
  }

  has(sha256Hex: string): boolean {
    return existsSync(this.path(sha256Hex));
  }

  /** Inclusive byte range, like HTTP's. */
  stream(sha256Hex: string, start: number, end: number): Readable {
    return createReadStream(this.path(sha256Hex), { start, end });
  }
}

export type ByteRange = { start: number; end: number };

/**
 * Parses a `Range` header against a size. undefined: no header (send all). 'unsatisfiable':
 * answer 416 — also for malformed or multi-range requests, which devices never need and a
 * firmware server has no reason to guess at.
 */
export function parseRange(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return 'unsatisfiable';
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || start > end) return 'unsatisfiable';
  return { start, end };
}
