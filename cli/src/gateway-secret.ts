import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateSecret } from '@yulan/protos';

/** The OCPP gateway's device-auth token for `yulan up`, generated on first start into
 * `<dataDir>/gateway-token` (0600). Kept apart from secrets.json so data directories made
 * before the gateway existed keep working unchanged. */
export function loadOrCreateGatewayToken(dataDir: string): string {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = join(dataDir, 'gateway-token');
  if (existsSync(file)) {
    const t = readFileSync(file, 'utf8').trim();
    if (t.length >= 32) return t;
  }
  const token = generateSecret();
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return token;
}
