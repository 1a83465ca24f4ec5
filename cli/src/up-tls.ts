import { readFileSync } from 'node:fs';
import { ensureDevTls, trustInstructions, type DevTls } from './dev-ca.js';
import type { PortPlan } from './ports.js';

export interface TlsWiring {
  mqttsPort: number;
  wssPort: number;
  httpsPort: number;
  edgeHttpsPort: number;
  /** set when `yulan up` made (or reused) the development CA */
  devCa?: DevTls;
  trust: string[];
  /** the CA the services and the simulated fleet trust (PEM), when known */
  caPem?: string;
  /** the YULAN_* variables that switch TLS on in broker, cloud and edge */
  env: NodeJS.ProcessEnv;
}

function port(env: NodeJS.ProcessEnv, name: string, standard: number): number {
  const raw = env[name];
  if (raw !== undefined && raw !== '') {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${name} must be a port number 0..65535, got "${raw}"`);
    return n;
  }
  // A run on free ports (YULAN_MQTT_PORT=0: tests, several stacks on one machine) gets free
  // TLS ports too, instead of all fighting over 8883.
  return env.YULAN_MQTT_PORT === '0' ? 0 : standard;
}

/**
 * `yulan up`'s TLS: the operator's YULAN_TLS_CERT_FILE/KEY_FILE when set, else a development
 * CA and server certificate in `<dataDir>/tls` (YULAN_DEV_TLS=0: no TLS listeners at all).
 * The cloud's and the edge's MQTT links use MQTT/TLS, checked against the CA.
 */
export async function resolveTlsWiring(env: NodeJS.ProcessEnv, dataDir: string, plan: PortPlan): Promise<TlsWiring | undefined> {
  const own = env.YULAN_TLS_CERT_FILE !== undefined && env.YULAN_TLS_CERT_FILE !== '';
  if (!own && env.YULAN_DEV_TLS === '0') return undefined;
  const devCa = own ? undefined : await ensureDevTls(dataDir);
  const w = {
    mqttsPort: await plan.take(port(env, 'YULAN_MQTTS_PORT', 8883)),
    wssPort: await plan.take(port(env, 'YULAN_WSS_PORT', 8884)),
    httpsPort: await plan.take(port(env, 'YULAN_HTTPS_PORT', 8443)),
    edgeHttpsPort: await plan.take(port(env, 'YULAN_EDGE_HTTPS_PORT', 8444)),
  };
  const caFile = devCa?.caFile ?? env.YULAN_TLS_CA_FILE;
  return {
    ...w,
    ...(devCa ? { devCa } : {}),
    ...(caFile ? { caPem: readFileSync(caFile, 'utf8') } : {}),
    trust: devCa ? trustInstructions(devCa.caFile) : [],
    env: {
      ...(devCa ? { YULAN_TLS_CERT_FILE: devCa.certFile, YULAN_TLS_KEY_FILE: devCa.keyFile } : {}),
      ...(caFile ? { YULAN_TLS_CA_FILE: caFile } : {}),
      // Device certificates (mutual TLS) out of the box: the development CA signs them too
      // (`yulan device cert issue`); its EKUs keep device and server certificates apart.
      ...(devCa && env.YULAN_DEVICE_CA_FILE === undefined ? { YULAN_DEVICE_CA_FILE: devCa.caFile, YULAN_DEVICE_CA_KEY_FILE: devCa.caKeyFile } : {}),
      YULAN_MQTTS_PORT: String(w.mqttsPort),
      YULAN_WSS_PORT: String(w.wssPort),
      YULAN_HTTPS_PORT: String(w.httpsPort),
      YULAN_EDGE_HTTPS_PORT: String(w.edgeHttpsPort),
      // Service to service over TLS when the CA is known: MQTT/TLS, and HTTPS for the
      // broker→cloud checks, edge→cloud alerts, cloud→edge queries and the console's broker
      // view (each service's HTTP client trusts YULAN_TLS_CA_FILE: fetchTrustingCa). HTTPS
      // only with the development certificate, which names 127.0.0.1; an operator's own
      // certificate may not, so those services keep loopback HTTP unless URLs are set.
      ...(caFile ? { YULAN_MQTT_URL: `mqtts://127.0.0.1:${w.mqttsPort}` } : {}),
      ...(devCa ? {
        YULAN_CLOUD_URL: `https://127.0.0.1:${w.httpsPort}`,
        YULAN_EDGE_URL: `https://127.0.0.1:${w.edgeHttpsPort}`,
        YULAN_BROKER_ADMIN_URL: `https://127.0.0.1:${w.wssPort}`,
      } : {}),
    },
  };
}
