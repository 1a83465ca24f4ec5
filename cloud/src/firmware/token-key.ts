import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensurePrivateDir } from '@yulan/protos';
import { CloudError, CloudErrorCode } from '../errors.js';
import type { FirmwareRepository } from './repository.js';

export const TOKEN_KEY_FILE = 'download-token.key';

/**
 * The HMAC key of firmware download tokens, in its own file (0600 in a 0700 folder) beside
 * the database instead of inside it: a copy of firmware.sqlite (a backup, a support bundle)
 * no longer carries what mints tokens. Made once and kept, so tokens survive a restart; a
 * key left in the database by an earlier release is moved out (same key: tokens already
 * sent stay valid) and deleted from the database.
 */
export async function loadOrCreateTokenKey(dir: string, repo: FirmwareRepository): Promise<Buffer> {
  ensurePrivateDir(dir);
  const file = join(dir, TOKEN_KEY_FILE);
  const legacy = await repo.legacyTokenSecret();
  if (existsSync(file)) {
    const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
    if (key.length < 32) throw new CloudError(CloudErrorCode.Internal, `${file}: expected a base64 key of at least 32 bytes`);
    if (legacy) await repo.dropLegacyTokenSecret();
    return key;
  }
  const key = legacy ?? randomBytes(32);
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, `${key.toString('base64')}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
  if (legacy) await repo.dropLegacyTokenSecret();
  return key;
}
