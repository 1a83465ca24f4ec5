import { X509Certificate } from 'node:crypto';
import type { GatewayCertRefusal } from '@yulan/protos';
import { normalizeFingerprint } from './device-cert.js';

/** Extended key usage "TLS client authentication": what a device certificate is for. */
const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
/** A PEM certificate is ~1-2 KB; a bind carrying more is not one certificate. */
const MAX_PEM_CHARS = 16_000;

export type BindCertCheck =
  | { ok: true; fingerprint: string; serial: string }
  | { ok: false; reason: GatewayCertRefusal | 'invalid'; why: string };

/** The device CA file's certificates (a bundle may hold more than one, e.g. during a CA change). */
export function parseCaBundle(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => new X509Certificate(b));
}

function commonNameOf(subject: string): string | undefined {
  const cns = subject.split('\n').filter((l) => l.startsWith('CN='));
  return cns.length === 1 ? cns[0]!.slice(3) : undefined;
}

/**
 * The certificate a gateway presents to bind a device by certificate (gateway-link.ts):
 * the checks the TLS handshake and the CONNECT make for a device logging in by certificate
 * itself (device-cert.ts), done on the PEM because here no handshake saw it — issued by
 * the device CA (signature and issuer; a certificate in the CA file signed it directly),
 * a client certificate and not a CA, valid now, CN = the id. The registry check
 * (registered, unrevoked, device enabled) follows at the cloud.
 */
export function checkBindCertificate(pem: string, id: string, cas: readonly X509Certificate[], now = Date.now()): BindCertCheck {
  if (pem.length > MAX_PEM_CHARS) return { ok: false, reason: 'invalid', why: 'certificate too large' };
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch {
    return { ok: false, reason: 'invalid', why: 'not a PEM certificate' };
  }
  const issuer = cas.find((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey));
  if (issuer === undefined) return { ok: false, reason: 'cert-untrusted', why: 'certificate not issued by the device CA' };
  // A CA certificate, or one made for something else (a server certificate from the same
  // CA, as `yulan up`'s development CA issues both), is not a device's.
  if (cert.ca) return { ok: false, reason: 'cert-untrusted', why: 'a CA certificate is not a device certificate' };
  if (cert.keyUsage !== undefined && !cert.keyUsage.includes(EKU_CLIENT_AUTH)) {
    return { ok: false, reason: 'cert-untrusted', why: 'certificate is not for TLS client authentication' };
  }
  if (now < Date.parse(cert.validFrom)) return { ok: false, reason: 'cert-not-yet-valid', why: `certificate not valid before ${cert.validFrom}` };
  if (now > Date.parse(cert.validTo)) return { ok: false, reason: 'cert-expired', why: `certificate expired (${cert.validTo})` };
  const cn = commonNameOf(cert.subject);
  if (cn !== id) return { ok: false, reason: 'cert-wrong-subject', why: `certificate is for "${cn ?? '(no single CN)'}", the bind names "${id}"` };
  return { ok: true, fingerprint: normalizeFingerprint(cert.fingerprint256), serial: cert.serialNumber.toLowerCase() };
}
