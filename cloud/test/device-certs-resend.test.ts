import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ControlTopic } from '@yulan/protos';
import { createCa } from '../../cli/src/dev-ca.js';
import { openDeviceCerts } from '../src/device-certs/index.js';
import { silentLogger } from './helpers.js';

describe('device certificate revocations survive a broker restart', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'yulan-certs-resend-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('re-sends every revoked, unexpired fingerprint when the MQTT link (re)connects, and not the expired ones', async () => {
    const ca = await createCa('resend CA');
    fs.writeFileSync(path.join(dir, 'ca.pem'), ca.certPem);
    fs.writeFileSync(path.join(dir, 'ca-key.pem'), ca.keyPem, { mode: 0o600 });
    const sent: { topic: string; payload: string }[] = [];
    let onConnect: (() => void) | undefined;
    const certs = await openDeviceCerts({
      db: { kind: 'sqlite', file: path.join(dir, 'device-certs.sqlite') }, caCertFile: path.join(dir, 'ca.pem'), caKeyFile: path.join(dir, 'ca-key.pem'), logger: silentLogger,
      mqtt: { publish: async (topic, payload) => void sent.push({ topic, payload: Buffer.from(payload).toString() }), onConnect: (h) => { onConnect = h; } },
    });
    const future = new Date(Date.now() + 86_400_000).toISOString();
    const past = new Date(Date.now() - 86_400_000).toISOString();
    await certs.store.add({ fingerprint: 'a'.repeat(64), deviceId: 'dev-1', serial: '01', notAfter: future, issuedAt: past });
    await certs.store.add({ fingerprint: 'b'.repeat(64), deviceId: 'dev-1', serial: '02', notAfter: past, issuedAt: past });
    await certs.store.add({ fingerprint: 'c'.repeat(64), deviceId: 'dev-2', serial: '03', notAfter: future, issuedAt: past });
    expect((await certs.store.revoke('dev-1', new Date().toISOString())).map((r) => r.fingerprint).sort()).toEqual(['a'.repeat(64), 'b'.repeat(64)]);
    onConnect!();
    await new Promise((r) => setImmediate(r));
    expect(sent).toEqual([{ topic: ControlTopic.RevokeCert, payload: 'a'.repeat(64) }]);
    // the same again on the next reconnect; an unrevoked certificate is still active
    onConnect!();
    await new Promise((r) => setImmediate(r));
    expect(sent).toHaveLength(2);
    expect(await certs.store.active('dev-2', 'c'.repeat(64))).toBeDefined();
    expect(await certs.store.active('dev-1', 'a'.repeat(64))).toBeUndefined();
    await certs.close();
  });
});
