import { createPublicKey, generateKeyPairSync, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { SimError, SimErrorCode } from './errors.js';
import { mapLimit } from './gate.js';
import type { CloudOptions } from './provisioning.js';

/** A client certificate and its key (PEM) a simulated device connects with. */
export interface ClientCert {
  cert: string;
  key: string;
}

/** A stored certificate this close to its end is replaced at start, not reused. */
const RENEW_BEFORE_MS = 7 * 86_400_000;

/**
 * Client certificates for simulated devices, as `yulan device cert issue` makes them: the
 * key pair is made here and only a certificate request goes to the cloud
 * (`POST /api/v1/devices/:id/certificates`). Kept in `<dataDir>/certs` (folder 0700, keys
 * 0600) and reused on restart, so a restarted simulator does not pile up certificates.
 * A development artefact like the credentials file (docs/certificates.md).
 */
export async function ensureClientCerts(ids: readonly string[], o: { cloud?: CloudOptions; dataDir: string; logger: Logger; requestTimeoutMs?: number }): Promise<Map<string, ClientCert>> {
  const dir = join(o.dataDir, 'certs');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const out = new Map<string, ClientCert>();
  await mapLimit(ids, 8, async (id) => {
    const files = { cert: join(dir, `${id}.pem`), key: join(dir, `${id}-key.pem`) };
    const stored = existsSync(files.cert) && existsSync(files.key);
    if (stored) {
      const cert = readFileSync(files.cert, 'utf8');
      if (Date.parse(new X509Certificate(cert).validTo) - Date.now() > RENEW_BEFORE_MS) {
        out.set(id, { cert, key: readFileSync(files.key, 'utf8') });
        return;
      }
    }
    const cloud = o.cloud;
    if (!cloud) throw new SimError(SimErrorCode.BadOptions, `no usable certificate for ${id} in ${dir} and no cloud to issue one (--cloud/--token)`);
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const post = async (path: string): Promise<Response> => {
      try {
        return await fetch(`${cloud.url.replace(/\/+$/, '')}/api/v1/devices/${encodeURIComponent(id)}/certificates${path}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${cloud.adminToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ csr: makeCsr(id, privateKey) }),
          signal: AbortSignal.timeout(o.requestTimeoutMs ?? 10_000),
        });
      } catch (cause) {
        throw new SimError(SimErrorCode.CloudUnreachable, `cloud at ${cloud.url} unreachable while issuing a certificate for ${id}`, { cause });
      }
    };
    // A stored certificate near its end is rotated (the cloud retires it once the new one is
    // used) rather than left valid beside a new one; with none usable (409), a fresh issue.
    let res = stored ? await post('/rotate') : await post('');
    if (res.status === 409) res = await post('');
    const body = await res.text();
    if (res.status !== 201) throw new SimError(SimErrorCode.CloudRegister, `issuing a certificate for ${id} failed: HTTP ${res.status} ${body.slice(0, 200)}`);
    const cert = (JSON.parse(body) as { certificate?: unknown }).certificate;
    if (typeof cert !== 'string') throw new SimError(SimErrorCode.CloudRegister, `the cloud issued no certificate for ${id}`);
    const key = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    // Key first: a certificate file is never there without its key.
    writeFileSync(files.key, key, { mode: 0o600 });
    chmodSync(files.key, 0o600);
    writeFileSync(files.cert, cert);
    o.logger.info({ deviceId: id }, 'device certificate issued');
    out.set(id, { cert, key });
  });
  return out;
}

// A PKCS#10 request (RFC 2986) in DER, by hand: the simulator has no X.509 library and
// needs one shape only — CN=<id>, an EC P-256 key, ecdsa-with-SHA256, no attributes.
function tlv(tag: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  let len: Buffer;
  if (body.length < 0x80) len = Buffer.from([body.length]);
  else {
    const bytes: number[] = [];
    for (let n = body.length; n > 0; n >>= 8) bytes.unshift(n & 0xff);
    len = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), len, body]);
}

const OID_CN = Buffer.from([0x06, 0x03, 0x55, 0x04, 0x03]); // 2.5.4.3
const ECDSA_SHA256 = tlv(0x30, Buffer.from([0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02])); // 1.2.840.10045.4.3.2

/** PEM certificate request for `commonName`, signed with `key` (EC P-256). */
export function makeCsr(commonName: string, key: KeyObject): string {
  const name = tlv(0x30, tlv(0x31, tlv(0x30, OID_CN, tlv(0x0c, Buffer.from(commonName, 'utf8')))));
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const info = tlv(0x30, Buffer.from([0x02, 0x01, 0x00]), name, spki, Buffer.from([0xa0, 0x00]));
  const signature = sign('sha256', info, { key, dsaEncoding: 'der' });
  const der = tlv(0x30, info, ECDSA_SHA256, tlv(0x03, Buffer.from([0x00]), signature));
  return `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '')}\n-----END CERTIFICATE REQUEST-----\n`;
}
