import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { openFirmware } from '../src/firmware/index.js';
import { SqliteFirmwareRepository } from '../src/firmware/repository.js';
import { TOKEN_KEY_FILE } from '../src/firmware/token-key.js';
import { DOWNLOAD_TOKEN_TTL_MS, TokenProblem, checkDownloadToken, issueDownloadToken } from '../src/firmware/tokens.js';
import type { DeviceRepository } from '../src/repositories/device-repository.js';
import { noMqtt } from './firmware-support.js';
import { silentLogger } from './helpers.js';

const dirs: string[] = [];
function dataDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'yulan-token-key-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const open = (dir: string) => openFirmware({ dataDir: dir, devices: {} as DeviceRepository, mqtt: noMqtt, baseUrl: () => 'http://x', logger: silentLogger });

describe('firmware download-token key at rest', () => {
  it('keeps the key in a 0600 file in a 0700 folder, never in the database, and the same key across restarts', async () => {
    const dir = dataDir();
    const a = await open(dir);
    const key = a.tokenSecret;
    await a.close();
    const fwDir = path.join(dir, 'firmware');
    const file = path.join(fwDir, TOKEN_KEY_FILE);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(fwDir).mode & 0o777).toBe(0o700);
    const db = fs.readFileSync(path.join(fwDir, 'firmware.sqlite'));
    expect(db.includes(Buffer.from(key.toString('base64')))).toBe(false);
    const b = await open(dir);
    expect(b.tokenSecret.equals(key)).toBe(true);
    await b.close();
  });

  it('moves a key left in the database by an earlier release out to the file, so issued tokens stay valid', async () => {
    const dir = dataDir();
    fs.mkdirSync(path.join(dir, 'firmware'), { recursive: true, mode: 0o700 });
    const dbFile = path.join(dir, 'firmware', 'firmware.sqlite');
    await new SqliteFirmwareRepository(dbFile).close();
    const legacy = Buffer.alloc(32, 9);
    const raw = new Database(dbFile);
    raw.prepare("INSERT INTO settings (key, value) VALUES ('download-token-secret', ?)").run(legacy.toString('base64'));
    raw.close();
    const issuedBefore = issueDownloadToken(legacy, 'dev-1', 'fw-1', Date.now());
    const m = await open(dir);
    expect(m.tokenSecret.equals(legacy)).toBe(true);
    expect(checkDownloadToken(m.tokenSecret, issuedBefore, 'dev-1', 'fw-1', Date.now())).toBeUndefined();
    await m.close();
    expect(fs.readFileSync(dbFile).includes(Buffer.from(legacy.toString('base64')))).toBe(false);
    expect(fs.readFileSync(path.join(dir, 'firmware', TOKEN_KEY_FILE), 'utf8').trim()).toBe(legacy.toString('base64'));
  });

  it('refuses a token that claims to live longer than the cloud ever issues, even with the right key', () => {
    const key = Buffer.alloc(32, 1);
    const now = Date.now();
    const yearLong = issueDownloadToken(key, 'dev-1', 'fw-1', now, 365 * 86_400_000);
    expect(checkDownloadToken(key, yearLong, 'dev-1', 'fw-1', now)).toBe(TokenProblem.Lifetime);
    const normal = issueDownloadToken(key, 'dev-1', 'fw-1', now);
    expect(checkDownloadToken(key, normal, 'dev-1', 'fw-1', now)).toBeUndefined();
    expect(checkDownloadToken(key, normal, 'dev-1', 'fw-1', now + DOWNLOAD_TOKEN_TTL_MS)).toBe(TokenProblem.Expired);
  });
});
