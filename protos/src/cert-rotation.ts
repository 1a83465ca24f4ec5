import { CONTROL_ROOT } from './topics.js';

/**
 * Certificate rotation over a device's own mutual-TLS MQTT session (docs/certificates.md).
 * The device publishes a JSON {@link CertRotationRequest} to `request` and subscribes to
 * `reply`; both sit under `$yulan/`, so no wildcard subscriber ever sees them, and the
 * broker's ACL lets only the device itself subscribe to its reply topic. The broker never
 * forwards the request: it asks the cloud with the certificate the session presented.
 */
export function certRotationTopics(deviceId: string): { request: string; reply: string } {
  return { request: `${CONTROL_ROOT}/device/${deviceId}/cert/csr`, reply: `${CONTROL_ROOT}/device/${deviceId}/cert/issued` };
}

export interface CertRotationRequest {
  /** PEM PKCS#10 request for the device's new key pair (made on the device). */
  csr: string;
  /** Echoed in the reply, so a device can match a reply to its request. */
  requestId?: string;
}

export type CertRotationReply =
  | {
    ok: true; requestId?: string; certificate: string; caCertificate: string; fingerprint: string; notAfter: string;
    /** The certificate used to ask stays valid until the new one is first used, or this instant. */
    retireAt: string;
  }
  | { ok: false; requestId?: string; error: CertRotationError; message: string };

export const CertRotationError = {
  /** Not JSON, or no `csr`. */
  InvalidRequest: 'invalid-request',
  /** The session did not log in by certificate. */
  NotCertificateLogin: 'not-certificate-login',
  /** The certificate is not this device's valid one (revoked, retired, expired, another device's). */
  Refused: 'refused',
  Disabled: 'disabled',
  /** The cloud refused the CSR itself (bad PEM, bad signature). */
  InvalidCsr: 'invalid-csr',
  /** A rotation for this device is already under way. */
  Busy: 'busy',
  Unavailable: 'unavailable',
} as const;
export type CertRotationError = (typeof CertRotationError)[keyof typeof CertRotationError];
