import '@yulan/protos/reflect-shim';
import * as x509 from '@peculiar/x509';
import { randomBytes, webcrypto } from 'node:crypto';
type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

x509.cryptoProvider.set(webcrypto as never);

// ECDSA P-256: small keys and fast handshakes on constrained devices; every TLS 1.2+ stack has it.
const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

export interface PemPair {
  certPem: string;
  /** PKCS#8 PEM */
  keyPem: string;
}

export interface CertRequest {
  commonName: string;
  usage: 'server' | 'client';
  dnsNames?: string[];
  ips?: string[];
  notBefore?: Date;
  notAfter?: Date;
}

function serial(): string {
  const b = randomBytes(16);
  b[0] = (b[0] as number) & 0x7f; // positive INTEGER
  return b.toString('hex');
}

function pemKey(der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN PRIVATE KEY-----\n${b64}\n-----END PRIVATE KEY-----\n`;
}

async function newKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function importKey(pem: string): Promise<CryptoKey> {
  const der = Buffer.from(pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
  return (await webcrypto.subtle.importKey('pkcs8', der, ALG, false, ['sign'])) as CryptoKey;
}

/** Names must be plain (no `,`, `=`, `+`): they come from validated ids and host names. */
function plainName(s: string): string {
  if (!/^[A-Za-z0-9 ._:@-]{1,64}$/.test(s)) throw new Error(`certificate name "${s}" has characters a subject cannot carry plainly`);
  return s;
}

/** A self-signed certificate authority that may sign leaf certificates only (path length 0). */
export async function createCa(name = 'Yulan development CA', days = 3650, notBefore = new Date(Date.now() - 60_000)): Promise<PemPair> {
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${plainName(name)}, O=Yulan`,
    notBefore,
    notAfter: new Date(notBefore.getTime() + days * DAY_MS),
    signingAlgorithm: ALG,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: pemKey(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)) };
}

/** A leaf certificate signed by `ca`: a server's (names in subjectAltName) or a device's
 * client certificate (its id as the subject's CN). */
export async function issueCert(ca: PemPair, req: CertRequest): Promise<PemPair> {
  const caCert = new x509.X509Certificate(ca.certPem);
  const keys = await newKeys();
  const notBefore = req.notBefore ?? new Date(Date.now() - 60_000);
  const notAfter = req.notAfter ?? new Date(notBefore.getTime() + 397 * DAY_MS);
  const altNames = [
    ...(req.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(req.ips ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${plainName(req.commonName)}`,
    issuer: caCert.subject,
    notBefore,
    notAfter,
    signingAlgorithm: ALG,
    publicKey: keys.publicKey,
    signingKey: await importKey(ca.keyPem),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([req.usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
      ...(altNames.length > 0 ? [new x509.SubjectAlternativeNameExtension(altNames)] : []),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: pemKey(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)) };
}

export interface DevTls {
  dir: string;
  caFile: string;
  caKeyFile: string;
  certFile: string;
  keyFile: string;
  /** what this call wrote: nothing, the server certificate (renewed), or both */
  created: 'none' | 'server' | 'all';
}

/** Writes via a temp file and rename, so a watching server never reads half a file. */
function writePrivate(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

/** Renew the server certificate this long before it expires. */
const RENEW_BEFORE_MS = 30 * DAY_MS;

/**
 * `yulan up` without YULAN_TLS_CERT_FILE: a development CA and a server certificate for
 * this machine (localhost, 127.0.0.1, ::1 and the host name), made on the first start in
 * `<dataDir>/tls` (0700, files 0600). The CA key never leaves that folder; the server
 * certificate is renewed at start when it is within 30 days of expiry.
 */
export async function ensureDevTls(dataDir: string, extraNames: string[] = []): Promise<DevTls> {
  const dir = join(dataDir, 'tls');
  const files = { dir, caFile: join(dir, 'ca.pem'), caKeyFile: join(dir, 'ca-key.pem'), certFile: join(dir, 'server.pem'), keyFile: join(dir, 'server-key.pem') };
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  let created: DevTls['created'] = 'none';
  let ca: PemPair;
  if (existsSync(files.caFile) && existsSync(files.caKeyFile)) {
    ca = { certPem: readFileSync(files.caFile, 'utf8'), keyPem: readFileSync(files.caKeyFile, 'utf8') };
  } else {
    ca = await createCa();
    writePrivate(files.caKeyFile, ca.keyPem);
    writePrivate(files.caFile, ca.certPem);
    created = 'all';
  }
  const current = existsSync(files.certFile) && existsSync(files.keyFile) ? new x509.X509Certificate(readFileSync(files.certFile, 'utf8')) : undefined;
  const fresh = current !== undefined && created === 'none' && current.notAfter.getTime() - Date.now() > RENEW_BEFORE_MS;
  if (!fresh) {
    const host = hostname();
    const dnsNames = [...new Set(['localhost', ...(/^[A-Za-z0-9.-]+$/.test(host) ? [host] : []), ...extraNames])];
    const leaf = await issueCert(ca, { commonName: 'localhost', usage: 'server', dnsNames, ips: ['127.0.0.1', '::1'] });
    // Key first: a watcher that sees the new certificate with the old key refuses the
    // pair and waits for the next change (protos/src/tls.ts).
    writePrivate(files.keyFile, leaf.keyPem);
    writePrivate(files.certFile, `${leaf.certPem.trimEnd()}\n${ca.certPem.trimEnd()}\n`);
    if (created === 'none') created = 'server';
  }
  return { ...files, created };
}

/** What `yulan up` prints so a browser, mosquitto_sub or a device trusts the development CA. */
export function trustInstructions(caFile: string): string[] {
  return [
    `curl --cacert ${caFile} https://localhost:…   mosquitto_sub --cafile ${caFile} -p 8883 …`,
    `Node clients: NODE_EXTRA_CA_CERTS=${caFile}   Debian: cp ${caFile} /usr/local/share/ca-certificates/yulan-dev.crt && update-ca-certificates`,
    'Browsers: import it as a trusted authority (Firefox: Settings › Certificates; Chrome: chrome://certificate-manager).',
  ];
}
