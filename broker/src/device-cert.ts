import type { TLSSocket } from 'node:tls';
import { isValidId } from '@yulan/protos';
import type { Logger } from 'pino';
import { postCloudCheck } from './cloud-check.js';
import { DeviceAuthOutcome, parseAccepted, type DeviceAuthResult } from './device-auth.js';
import { BrokerError, BrokerErrorCode } from './errors.js';

/**
 * Device certificates (mutual TLS). The MQTT/TLS listener asks for a client certificate
 * but never refuses the handshake for it (a device may log in with a secret instead), so
 * the verdict of the handshake is read here, at CONNECT, where a refusal can say why.
 */

/** Why a certificate login was refused: one counter each in `/metrics` (`certRefused`). */
export const CertRefusal = {
  Expired: 'expired',
  NotYetValid: 'notYetValid',
  Untrusted: 'untrusted',
  Revoked: 'revoked',
  WrongSubject: 'wrongSubject',
  NotRegistered: 'notRegistered',
} as const;
export type CertRefusal = (typeof CertRefusal)[keyof typeof CertRefusal];

export function emptyCertRefusals(): Record<CertRefusal, number> {
  return { expired: 0, notYetValid: 0, untrusted: 0, revoked: 0, wrongSubject: 0, notRegistered: 0 };
}

export type PeerCertificate =
  | { ok: true; commonName: string; fingerprint: string; serial: string }
  | { ok: false; refusal: CertRefusal; why: string };

/** Lower-case hex SHA-256 of the DER certificate, no colons: the form the cloud stores. */
export function normalizeFingerprint(fp: string): string {
  return fp.replace(/:/g, '').toLowerCase();
}

const FINGERPRINT_RE = /^[0-9a-f]{64}$/;

export function isFingerprint(fp: string): boolean {
  return FINGERPRINT_RE.test(fp);
}

/** The TLS socket under a client: the connection itself for MQTT/TLS, the request's
 * socket under WSS. */
function tlsSocketOf(client: unknown): TLSSocket | undefined {
  const c = client as { conn?: unknown; req?: { socket?: unknown } };
  for (const s of [c.conn, c.req?.socket]) {
    if (s && typeof (s as TLSSocket).getPeerCertificate === 'function') return s as TLSSocket;
  }
  return undefined;
}

/** The client certificate a device presented, checked against the device CA by the
 * handshake; undefined when it presented none (or is not on a TLS listener). */
export function peerCertificateOf(client: unknown): PeerCertificate | undefined {
  const socket = tlsSocketOf(client);
  if (!socket) return undefined;
  const cert = socket.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return undefined;
  if (!socket.authorized) {
    const code = String(socket.authorizationError ?? 'unknown');
    if (code === 'CERT_HAS_EXPIRED') return { ok: false, refusal: CertRefusal.Expired, why: `certificate expired (${cert.valid_to})` };
    if (code === 'CERT_NOT_YET_VALID') return { ok: false, refusal: CertRefusal.NotYetValid, why: `certificate not valid before ${cert.valid_from}` };
    return { ok: false, refusal: CertRefusal.Untrusted, why: `certificate not issued by the device CA (${code})` };
  }
  const cn = Array.isArray(cert.subject?.CN) ? undefined : cert.subject?.CN;
  if (typeof cn !== 'string' || !isValidId(cn)) {
    return { ok: false, refusal: CertRefusal.WrongSubject, why: 'certificate subject CN is not a device id' };
  }
  return { ok: true, commonName: cn, fingerprint: normalizeFingerprint(cert.fingerprint256), serial: cert.serialNumber.toLowerCase() };
}

/** Revoked certificate fingerprints pushed by the cloud (`$yulan/v1/control/revoke-cert`).
 * Kept in memory: after a restart the cloud's check (only the registered, unrevoked
 * certificate passes) refuses them anyway; the set makes the refusal immediate. */
export class CertRevocations {
  readonly #revoked = new Set<string>();
  revoke(fingerprint: string): void {
    this.#revoked.add(fingerprint);
  }
  has(fingerprint: string): boolean {
    return this.#revoked.has(fingerprint);
  }
}

/** Is this device, named by this certificate, registered, enabled and set to log in by
 * certificate? Never throws: failures are results (as DeviceAuthenticator). */
export interface DeviceCertAuthenticator {
  authenticate(deviceId: string, cert: { fingerprint: string; serial: string }): Promise<DeviceAuthResult>;
}

/** `POST {cloud}/api/v1/internal/device-cert-auth {deviceId, fingerprint, serial}`, answered
 * like device-auth (200 with the device, 401 bad-credentials, 403 disabled). Not cached: a
 * certificate login costs the cloud a lookup, not a scrypt, and revocation must win. */
export class CloudDeviceCertAuthenticator implements DeviceCertAuthenticator {
  readonly #endpoint: string;
  constructor(private readonly opts: { cloudUrl: string; brokerToken: string; timeoutMs?: number; logger: Logger; fetch?: typeof fetch }) {
    this.#endpoint = `${opts.cloudUrl.replace(/\/+$/, '')}/api/v1/internal/device-cert-auth`;
  }

  async authenticate(deviceId: string, cert: { fingerprint: string; serial: string }): Promise<DeviceAuthResult> {
    const r = await postCloudCheck(this.#endpoint, this.opts.brokerToken, { deviceId, ...cert }, this.opts.timeoutMs ?? 5000, this.opts.logger, 'device-cert-auth', this.opts.fetch);
    if (r.kind === 'answer') return parseAccepted(deviceId, r.body);
    if (r.kind === 'denied') return { outcome: DeviceAuthOutcome.Denied, reason: r.reason };
    return { outcome: DeviceAuthOutcome.Unavailable, error: new BrokerError(BrokerErrorCode.DeviceAuth, r.message, { cause: r.cause }) };
  }
}

interface RevocationTarget {
  close(): void;
}

/**
 * Listens on `$yulan/v1/control/revoke-cert` (only the cloud account may publish under
 * `$yulan/`): the fingerprint is refused from now on and a live session holding that
 * certificate is cut, as a device revocation does.
 */
export function attachCertRevocation<C extends RevocationTarget>(o: {
  subscribe(topic: string, handler: (payload: Buffer, done: () => void) => void): void;
  topic: string;
  revoked: CertRevocations;
  /** Live device clients. */
  clients(): Iterable<C>;
  /** Marks the session ended by revocation (offline presence says why); false when not live. */
  markRevoked(client: C): boolean;
  onInvalid(): void;
  /** The fingerprint was revoked (gateway binds by it end too, gateway-link.ts). */
  onRevoked(fingerprint: string): void;
  logger: Logger;
}): void {
  o.subscribe(o.topic, (payload, done) => {
    const fp = normalizeFingerprint(payload.toString('utf8').trim());
    if (!isFingerprint(fp)) {
      o.onInvalid();
      o.logger.warn({ payloadBytes: payload.length }, 'revoke-cert with an invalid fingerprint ignored');
      return done();
    }
    o.revoked.revoke(fp);
    o.onRevoked(fp);
    let cut = 0;
    for (const client of o.clients()) {
      const cert = peerCertificateOf(client);
      if (cert?.ok === true && cert.fingerprint === fp && o.markRevoked(client)) {
        client.close();
        cut++;
      }
    }
    o.logger.info({ fingerprint: fp, cut }, 'device certificate revoked');
    done();
  });
}
