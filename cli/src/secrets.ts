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
  /** The OCPP gateway's broker account (role `gateway`, docs/ocpp.md §3.1). */
  gatewayMqttPassword: string;
}

const KEYS: readonly (keyof ServiceSecrets)[] = ['edgeMqttPassword', 'cloudMqttPassword', 'brokerToken', 'edgeToken'];
// Secrets added after the first release: a data directory made before them gets them
// generated and saved on its next start instead of being refused.
const ADDED_LATER: readonly (keyof ServiceSecrets)[] = ['gatewayMqttPassword'];

export function loadOrCreateSecrets(dataDir: string): { secrets: ServiceSecrets; created: boolean } {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = join(dataDir, 'secrets.json');
  if (existsSync(file)) {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<ServiceSecrets>;
    const missing = KEYS.filter((k) => typeof parsed[k] !== 'string' || parsed[k] === '');
    if (missing.length > 0) throw new Error(`${file} is missing ${missing.join(', ')}; delete it to regenerate`);
    const added = ADDED_LATER.filter((k) => typeof parsed[k] !== 'string' || parsed[k] === '');
    for (const k of added) parsed[k] = generateSecret();
    if (added.length > 0) save(file, parsed as ServiceSecrets);
    return { secrets: parsed as ServiceSecrets, created: false };
  }
  const secrets: ServiceSecrets = {
    edgeMqttPassword: generateSecret(),
    cloudMqttPassword: generateSecret(),
    brokerToken: generateSecret(),
    edgeToken: generateSecret(),
    gatewayMqttPassword: generateSecret(),
  };
  save(file, secrets);
  return { secrets, created: true };
}

function save(file: string, secrets: ServiceSecrets): void {
  writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  chmodSync(file, 0o600);
}

/** The broker account name of the OCPP gateway `yulan up` starts. */
export const UP_GATEWAY_ACCOUNT = 'gateway';

/** Writes the broker's service-account file: usernames, roles and scrypt hashes only.
 * `gatewayCertBind`: the gateway account may bind chargers by client certificate (OCPP
 * security profile 3 without a key, docs/ocpp.md §1.2) — ev-chargers only. */
export async function writeBrokerAccounts(dataDir: string, secrets: ServiceSecrets, opts: { gatewayCertBind?: boolean } = {}): Promise<string> {
  const dir = join(dataDir, 'broker');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, 'accounts.json');
  const accounts = [
    { username: 'edge', role: 'edge', hash: await hashSecret(secrets.edgeMqttPassword) },
    { username: 'cloud', role: 'cloud', hash: await hashSecret(secrets.cloudMqttPassword) },
    // `yulan up`'s OCPP gateway: one session speaks for all its chargers (docs/ocpp.md §3.1)
    {
      username: UP_GATEWAY_ACCOUNT, role: 'gateway', hash: await hashSecret(secrets.gatewayMqttPassword),
      ...(opts.gatewayCertBind ? { certBind: ['ev-charger'] } : {}),
    },
  ];
  writeFileSync(file, JSON.stringify(accounts, null, 2), { mode: 0o600 });
  return file;
}
