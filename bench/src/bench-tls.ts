import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, issueCert } from '@yulan/cli';
import { freePort } from '@yulan/testkit';

export interface BenchTls {
  caPem: string;
  mqttUrl: string;
  /** broker: TLS listeners on a free port */
  brokerEnv: NodeJS.ProcessEnv;
  /** edge: its MQTT link over TLS, trusting the CA */
  edgeEnv: NodeJS.ProcessEnv;
}

/** A throwaway CA and server certificate for benchmarks that run a stack over TLS. */
export async function benchTls(): Promise<BenchTls> {
  const ca = await createCa('Yulan bench CA');
  const leaf = await issueCert(ca, { commonName: 'localhost', usage: 'server', dnsNames: ['localhost'], ips: ['127.0.0.1'] });
  const dir = mkdtempSync(join(tmpdir(), 'yulan-bench-tls-'));
  const files = { cert: join(dir, 'server.pem'), key: join(dir, 'server-key.pem'), ca: join(dir, 'ca.pem') };
  writeFileSync(files.cert, leaf.certPem);
  writeFileSync(files.key, leaf.keyPem, { mode: 0o600 });
  writeFileSync(files.ca, ca.certPem);
  const port = await freePort();
  const mqttUrl = `mqtts://127.0.0.1:${port}`;
  return {
    caPem: ca.certPem,
    mqttUrl,
    brokerEnv: { YULAN_TLS_CERT_FILE: files.cert, YULAN_TLS_KEY_FILE: files.key, YULAN_MQTTS_PORT: String(port), YULAN_WSS_PORT: '0' },
    edgeEnv: { YULAN_MQTT_URL: mqttUrl, YULAN_TLS_CA_FILE: files.ca },
  };
}
