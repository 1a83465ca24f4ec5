import { CONTROL_ROOT, isReservedId, isValidId } from './topics.js';

/**
 * Provisioning by claim (docs/security.md, "Provisioning by claim"): a batch of devices
 * ships with one shared claim credential. A device logs in to the broker as
 * `claim:<claimId>` with the claim secret and client id `claim:<claimId>:<serial>`, and may
 * only publish its request and subscribe to its response on this topic pair, where it
 * exchanges the claim, once, for its own identity. The topics live under `$yulan`, so no
 * wildcard subscription (the edge's `yulan/v1/#`, an integration's rules) ever sees a
 * response, which carries the new device secret.
 */
export const CLAIM_USER_PREFIX = 'claim:';
/** Claim ids: what the operator names a batch (`lockers-2026-03`). */
export const CLAIM_ID_RE = /^[a-z0-9][a-z0-9_-]{0,47}$/;
export const PROVISION_ROOT = `${CONTROL_ROOT}/provision`;

/** cloud → broker: payload the UTF-8 id of a claim just revoked; the broker closes that
 * claim's open sessions at once (their next request would be refused anyway). */
export const REVOKE_CLAIM_TOPIC = `${CONTROL_ROOT}/control/revoke-claim`;

export function isClaimId(id: string): boolean {
  return CLAIM_ID_RE.test(id);
}

/** A serial number becomes the device id, so it follows the device-id rules. */
export function isValidSerial(serial: string): boolean {
  return isValidId(serial) && !isReservedId(serial);
}

export function provisionRequestTopic(claimId: string, serial: string): string {
  return `${PROVISION_ROOT}/${claimId}/${serial}/request`;
}

export function provisionResponseTopic(claimId: string, serial: string): string {
  return `${PROVISION_ROOT}/${claimId}/${serial}/response`;
}

/** Why an exchange (or a claim login) was refused: stable codes devices and alerts use. */
export const ClaimRefusal = {
  BadCredentials: 'bad-credentials',
  Revoked: 'revoked',
  Expired: 'expired',
  Exhausted: 'exhausted',
  SerialUsed: 'serial-used',
  DeviceExists: 'device-exists',
  BadSerial: 'bad-serial',
  BadCsr: 'bad-csr',
  NoCertificates: 'no-certificates',
  RateLimited: 'rate-limited',
  Unavailable: 'unavailable',
} as const;
export type ClaimRefusal = (typeof ClaimRefusal)[keyof typeof ClaimRefusal];

/** Device → broker, on the request topic (JSON). A CSR (PEM, CN = the serial) asks for a
 * certificate instead of a secret; the private key never leaves the device. */
export interface ProvisionRequest {
  csr?: string;
}

/** Broker → device, on the response topic (JSON), and the HTTP exchange's answer. */
export type ProvisionResponse =
  | {
      ok: true;
      device: { id: string; site: string; kind: string };
      /** The device's own secret, when no CSR was sent. Shown once. */
      secret?: string;
      /** PEM client certificate (CN = device id) and the device CA, when a CSR was sent. */
      certificate?: string;
      caCertificate?: string;
    }
  | { ok: false; reason: ClaimRefusal; message: string };

export function parseProvisionRequest(payload: Uint8Array): ProvisionRequest | undefined {
  if (payload.length === 0) return {};
  try {
    const v = JSON.parse(Buffer.from(payload).toString('utf8')) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
    const csr = (v as { csr?: unknown }).csr;
    if (csr !== undefined && (typeof csr !== 'string' || csr.length > 16_000)) return undefined;
    return csr === undefined ? {} : { csr };
  } catch {
    return undefined;
  }
}
