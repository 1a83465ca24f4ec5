import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { verifySecret } from '@yulan/protos';
import { loadOrCreateSecrets, UP_GATEWAY_ACCOUNT, writeBrokerAccounts } from '../src/secrets.js';
import { tempDir } from './support.js';

describe("yulan up's service secrets", () => {
  let tmp = tempDir('yulan-secrets-');
  afterEach(() => { tmp.cleanup(); tmp = tempDir('yulan-secrets-'); });

  it('makes fresh random secrets once, mode 0600, and reads the same ones back', () => {
    const first = loadOrCreateSecrets(tmp.dir);
    expect(first.created).toBe(true);
    expect(Object.keys(first.secrets).sort()).toEqual(['brokerToken', 'cloudMqttPassword', 'edgeMqttPassword', 'edgeToken', 'gatewayMqttPassword']);
    expect(new Set(Object.values(first.secrets)).size).toBe(5);
    expect(statSync(join(tmp.dir, 'secrets.json')).mode & 0o777).toBe(0o600);
    const again = loadOrCreateSecrets(tmp.dir);
    expect(again).toEqual({ secrets: first.secrets, created: false });
  });

  it("gives a data directory made before the gateway account its password, keeping the others", () => {
    const old = { edgeMqttPassword: 'e'.repeat(32), cloudMqttPassword: 'c'.repeat(32), brokerToken: 'b'.repeat(32), edgeToken: 't'.repeat(32) };
    writeFileSync(join(tmp.dir, 'secrets.json'), JSON.stringify(old), { mode: 0o644 });
    const { secrets, created } = loadOrCreateSecrets(tmp.dir);
    expect(created).toBe(false);
    expect(secrets).toMatchObject(old);
    expect(secrets.gatewayMqttPassword).toMatch(/^[A-Za-z0-9_-]{32,}$/);
    // saved, so the next start (and the broker's accounts file) use the same one
    expect(JSON.parse(readFileSync(join(tmp.dir, 'secrets.json'), 'utf8'))).toEqual(secrets);
    expect(statSync(join(tmp.dir, 'secrets.json')).mode & 0o777).toBe(0o600);
    expect(loadOrCreateSecrets(tmp.dir).secrets).toEqual(secrets);
  });

  it('refuses a file missing one of the original secrets rather than silently replacing a damaged file', () => {
    writeFileSync(join(tmp.dir, 'secrets.json'), JSON.stringify({ edgeMqttPassword: 'x'.repeat(32), brokerToken: 'y'.repeat(32) }));
    expect(() => loadOrCreateSecrets(tmp.dir)).toThrow(/missing cloudMqttPassword, edgeToken/);
  });

  it("writes the broker's accounts: edge, cloud and the gateway role, hashes only", async () => {
    const { secrets } = loadOrCreateSecrets(tmp.dir);
    const file = await writeBrokerAccounts(tmp.dir, secrets);
    const text = readFileSync(file, 'utf8');
    for (const s of Object.values(secrets)) expect(text).not.toContain(s);
    const accounts = JSON.parse(text) as { username: string; role: string; hash: string }[];
    expect(accounts.map((a) => [a.username, a.role])).toEqual([['edge', 'edge'], ['cloud', 'cloud'], [UP_GATEWAY_ACCOUNT, 'gateway']]);
    const gw = accounts.find((a) => a.role === 'gateway')!;
    expect(await verifySecret(secrets.gatewayMqttPassword, gw.hash)).toBe(true);
    expect(await verifySecret(secrets.edgeMqttPassword, gw.hash)).toBe(false);
  });

  it('grants the gateway account binding by certificate only when asked, and for ev-chargers only', async () => {
    const { secrets } = loadOrCreateSecrets(tmp.dir);
    const read = (file: string) => (JSON.parse(readFileSync(file, 'utf8')) as { role: string; certBind?: unknown }[]).find((a) => a.role === 'gateway')!;
    expect(read(await writeBrokerAccounts(tmp.dir, secrets))).not.toHaveProperty('certBind');
    expect(read(await writeBrokerAccounts(tmp.dir, secrets, { gatewayCertBind: true })).certBind).toEqual(['ev-charger']);
    // written again without it (the operator removed YULAN_OCPP_TLS_CLIENT_CA): withdrawn
    expect(read(await writeBrokerAccounts(tmp.dir, secrets))).not.toHaveProperty('certBind');
  });
});
