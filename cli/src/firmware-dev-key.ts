import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';

export interface DevFirmwareKey {
  /** `[{id, publicKeyPem}]`, the YULAN_FIRMWARE_KEYS format */
  keysFile: string;
  /** PKCS#8 PEM private key, mode 0600 */
  signingKeyFile: string;
  keyId: string;
  created: boolean;
}

/**
 * `yulan up` without YULAN_FIRMWARE_KEYS: an Ed25519 key pair made on the first start, so a
 * single machine can try signed rollouts end to end. The cloud trusts only its public half;
 * the private half stays in the data directory (0600) for `yulan fw upload --sign-key`.
 * Production sets YULAN_FIRMWARE_KEYS to keys whose private halves never touch a server.
 */
export function ensureDevFirmwareKey(dataDir: string): DevFirmwareKey {
  const dir = join(dataDir, 'firmware-keys');
  const keysFile = join(dir, 'trusted-keys.json');
  const signingKeyFile = join(dir, 'dev-signing-key.pem');
  const keyId = 'dev';
  if (existsSync(keysFile) && existsSync(signingKeyFile)) return { keysFile, signingKeyFile, keyId, created: false };
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  writeFileSync(signingKeyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(keysFile, JSON.stringify([{ id: keyId, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) }], null, 2), { mode: 0o600 });
  return { keysFile, signingKeyFile, keyId, created: true };
}
