import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';

/** Trusted firmware signing keys by id. The cloud only ever holds public keys. */
export type TrustedKeys = ReadonlyMap<string, KeyObject>;

/**
 * Reads YULAN_FIRMWARE_KEYS: a JSON array of `{ id, publicKeyPem }` (Ed25519). Every
 * problem is collected and thrown as one ConfigError, so an operator fixes the file once.
 */
export function loadTrustedKeys(file: string): TrustedKeys {
  const where = `YULAN_FIRMWARE_KEYS (${file})`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (cause) {
    throw new ConfigError([`${where}: cannot read a JSON file: ${(cause as Error).message}`], { cause });
  }
  return parseTrustedKeys(parsed, where);
}

export function parseTrustedKeys(parsed: unknown, where = 'firmware keys'): TrustedKeys {
  if (!Array.isArray(parsed)) throw new ConfigError([`${where}: expected a JSON array of {"id", "publicKeyPem"}`]);
  const problems: string[] = [];
  const keys = new Map<string, KeyObject>();
  parsed.forEach((entry: unknown, i) => {
    const e = entry as { id?: unknown; publicKeyPem?: unknown } | null;
    if (typeof e?.id !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/.test(e.id)) {
      problems.push(`${where}[${i}]: "id" must be 1–64 letters, digits, "_", ".", ":" or "-"`);
      return;
    }
    if (keys.has(e.id)) return void problems.push(`${where}[${i}]: duplicate id "${e.id}"`);
    if (typeof e.publicKeyPem !== 'string') return void problems.push(`${where}[${i}] ("${e.id}"): "publicKeyPem" missing`);
    try {
      const key = createPublicKey(e.publicKeyPem);
      if (key.asymmetricKeyType !== 'ed25519') {
        problems.push(`${where}[${i}] ("${e.id}"): an Ed25519 public key is required, got ${key.asymmetricKeyType ?? 'unknown'}`);
      } else keys.set(e.id, key);
    } catch {
      problems.push(`${where}[${i}] ("${e.id}"): "publicKeyPem" is not a PEM public key`);
    }
  });
  if (problems.length > 0) throw new ConfigError(problems);
  return keys;
}

export function sha256(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

/** The signature covers the 32-byte SHA-256 digest of the image (not its hex). */
export function verifyDigestSignature(digest: Buffer, signatureB64: string, key: KeyObject): boolean {
  const sig = Buffer.from(signatureB64, 'base64');
  if (sig.length !== 64) return false;
  try {
    return verify(null, digest, key, sig);
  } catch {
    return false;
  }
}
