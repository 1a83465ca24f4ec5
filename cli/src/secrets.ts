import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateSecret, hashSecret } from '@yulan/protos';

/** Service-to-service secrets for a single-machine install (`yulan up`). Generated once,
 * kept in `<dataDir>/secrets.json` with mode 0600. There is no default password: a fresh
 * data directory gets fresh random secrets. */
export interface ServiceSecrets {
  edgeMqttPassword: string;
  cloudMqttPassword: string;
  brokerToken: string;
  edgeToken: string;
}

const KEYS: readonly (keyof ServiceSecrets)[] = ['edgeMqttPassword', 'cloudMqttPassword', 'brokerToken', 'edgeToken'];

export function loadOrCreateSecrets(dataDir: string): { secrets: ServiceSecrets; created: boolean } {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = join(dataDir, 'secrets.json');
  if (existsSync(file)) {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<ServiceSecrets>;
    const missing = KEYS.filter((k) => typeof parsed[k] !== 'string' || parsed[k] === '');
    if (missing.length > 0) throw new Error(`${file} is missing ${missing.join(', ')}; delete it to regenerate`);
    return { secrets: parsed as ServiceSecrets, created: false };
  }
  const secrets: ServiceSecrets = {
    edgeMqttPassword: generateSecret(),
    cloudMqttPassword: generateSecret(),
    brokerToken: generateSecret(),
    edgeToken: generateSecret(),
  };
  writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  chmodSync(file, 0o600);
  return { secrets, created: true };
}

/** Writes the broker's service-account file: usernames, roles and scrypt hashes only. */
export async function writeBrokerAccounts(dataDir: string, secrets: ServiceSecrets): Promise<string> {
  const dir = join(dataDir, 'broker');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, 'accounts.json');
  const accounts = [
    { username: 'edge', role: 'edge', hash: await hashSecret(secrets.edgeMqttPassword) },
    { username: 'cloud', role: 'cloud', hash: await hashSecret(secrets.cloudMqttPassword) },
  ];
  writeFileSync(file, JSON.stringify(accounts, null, 2), { mode: 0o600 });
  return file;
}
