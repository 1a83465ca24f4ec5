import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { freePort } from '@yulan/testkit';
import { startBroker } from '../src/index.js';
import { createCa, issueCert } from '../../cli/src/dev-ca.js';
import { FakeDeviceAuth, logger, tempDir, testConfig } from './helpers.js';

// Watching the certificate files is the step of a start that runs after the listeners are
// bound. Nothing a test can arrange makes fs.watchFile or a SIGHUP handler fail for real,
// so the watch is replaced by one that throws; everything else is the real start.
vi.mock('@yulan/protos', async (importOriginal) => ({
  ...(await importOriginal<Record<string, unknown>>()),
  watchTlsFiles: () => {
    throw new Error('cannot watch the TLS files');
  },
}));

/** Resolves 'free' when a server can bind the port now, else the error code. */
function bindable(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', (err: Error & { code?: string }) => resolve(err.code ?? err.message));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve('free')));
  });
}

describe('a start that fails after listening', () => {
  const dir = tempDir('start-failure');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('releases every port it bound, so the process can exit (or start again)', async () => {
    const ca = await createCa('start-failure test CA');
    const leaf = await issueCert(ca, { commonName: 'localhost', usage: 'server', dnsNames: ['localhost'], ips: ['127.0.0.1'] });
    const certFile = path.join(dir, 'server.pem');
    const keyFile = path.join(dir, 'server-key.pem');
    fs.writeFileSync(certFile, leaf.certPem);
    fs.writeFileSync(keyFile, leaf.keyPem, { mode: 0o600 });
    // Fixed ports, four different ones: the broker cannot say which it bound when it fails.
    const picked = new Set<number>();
    while (picked.size < 4) picked.add(await freePort());
    const ports = [...picked];
    const config = await testConfig(dir, {
      YULAN_MQTT_PORT: String(ports[0]),
      YULAN_WS_PORT: String(ports[1]),
      YULAN_TLS_CERT_FILE: certFile,
      YULAN_TLS_KEY_FILE: keyFile,
      YULAN_MQTTS_PORT: String(ports[2]),
      YULAN_WSS_PORT: String(ports[3]),
    });

    await expect(startBroker(config, logger, { deviceAuth: new FakeDeviceAuth() })).rejects.toThrow('cannot watch the TLS files');

    expect(await Promise.all(ports.map(bindable))).toEqual(['free', 'free', 'free', 'free']);
  });
});
