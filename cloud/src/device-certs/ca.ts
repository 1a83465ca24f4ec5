import '@yulan/protos/reflect-shim';
import * as x509 from '@peculiar/x509';
import { createHash, randomBytes, webcrypto } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CloudError, CloudErrorCode } from '../errors.js';

x509.cryptoProvider.set(webcrypto as never);

// The CA `yulan up` makes (cli/src/dev-ca.ts) and the one docs/security.md asks for: ECDSA P-256.
const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

export interface IssuedCert {
  certificatePem: string;
  fingerprint: string;
  serial: string;
  notBefore: string;
  notAfter: string;
}

/** The device CA: signs device certificates from a CSR. The key pair is made on the
 * device (or by `yulan device cert issue` beside it); only the CSR travels, so the
 * private key is never on the cloud, in its logs or in an HTTP response. */
export class DeviceCa {
  readonly certPem: string;
  readonly #cert: x509.X509Certificate;
  readonly #key: Promise<webcrypto.CryptoKey>;

  constructor(certFile: string, keyFile: string) {
    this.certPem = readFileSync(certFile, 'utf8');
    this.#cert = new x509.X509Certificate(this.certPem);
    const keyPem = readFileSync(keyFile, 'utf8');
    const der = Buffer.from(keyPem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
    this.#key = webcrypto.subtle.importKey('pkcs8', der, ALG, false, ['sign']);
  }

  /** Signs a client certificate for `deviceId` (its CN, whatever the CSR's subject says)
   * after checking the CSR's own signature: the requester holds the private key. */
  async issue(deviceId: string, csrPem: string, days: number, now = new Date()): Promise<IssuedCert> {
    let csr: x509.Pkcs10CertificateRequest;
    try {
      csr = new x509.Pkcs10CertificateRequest(csrPem);
    } catch (cause) {
      throw new CloudError(CloudErrorCode.Validation, 'csr is not a PEM PKCS#10 certificate request', { cause });
    }
    if (!(await csr.verify())) throw new CloudError(CloudErrorCode.Validation, 'csr signature does not verify');
    const serialBytes = randomBytes(16);
    serialBytes[0] = (serialBytes[0] as number) & 0x7f;
    const notBefore = new Date(now.getTime() - 60_000);
    const notAfter = new Date(now.getTime() + days * DAY_MS);
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serialBytes.toString('hex'),
      subject: `CN=${deviceId}`,
      issuer: this.#cert.subject,
      notBefore,
      notAfter,
      signingAlgorithm: ALG,
      publicKey: csr.publicKey,
      signingKey: await this.#key,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
        await x509.AuthorityKeyIdentifierExtension.create(this.#cert),
      ],
    });
    return {
      certificatePem: cert.toString('pem'),
      fingerprint: createHash('sha256').update(Buffer.from(cert.rawData)).digest('hex'),
      serial: serialBytes.toString('hex'),
      notBefore: notBefore.toISOString(),
      notAfter: notAfter.toISOString(),
    };
  }
}
