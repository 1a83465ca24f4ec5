import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { isValidId } from '@yulan/protos';
import type { Logger } from 'pino';
import type { AuthResult } from './device-auth.js';

/**
 * OCPP security profile 3: a charger proves its identity with a client certificate from
 * the Yulan device CA (`yulan device cert issue`), as devices do on the broker's MQTT/TLS
 * listener. The listener asks for a certificate but does not refuse the handshake over it
 * (profile 2 chargers on the same port present none), so the handshake's verdict is read
 * at the upgrade, where a refusal can say why — the broker's rules (broker/src/device-cert.ts).
 */

/** Why a certificate was refused: the key in `/metrics` `upgradesRefused`. */
export type CertRefusal = 'cert-expired' | 'cert-not-yet-valid' | 'cert-untrusted' | 'cert-wrong-subject' | 'cert-revoked-or-unregistered';

export type PeerCert =
  | { ok: true; commonName: string; fingerprint: string; serial: string; /** as presented, for a bind by certificate */ pem: string }
  | { ok: false; refusal: CertRefusal; why: string };

/** The certificate the charger presented on this TLS socket, checked against the device CA
 * by the handshake; undefined when it presented none (or the listener is plain). */
export function peerCertOf(socket: unknown): PeerCert | undefined {
  const s = socket as TLSSocket | undefined;
  if (!s || typeof s.getPeerCertificate !== 'function') return undefined;
  const cert = s.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return undefined;
  if (!s.authorized) {
    const code = String(s.authorizationError ?? 'unknown');
    if (code === 'CERT_HAS_EXPIRED') return { ok: false, refusal: 'cert-expired', why: `certificate expired (${cert.valid_to})` };
    if (code === 'CERT_NOT_YET_VALID') return { ok: false, refusal: 'cert-not-yet-valid', why: `certificate not valid before ${cert.valid_from}` };
    return { ok: false, refusal: 'cert-untrusted', why: `certificate not issued by the Yulan device CA (${code})` };
  }
  const cn = Array.isArray(cert.subject?.CN) ? undefined : cert.subject?.CN;
  if (typeof cn !== 'string' || !isValidId(cn)) return { ok: false, refusal: 'cert-wrong-subject', why: 'certificate subject CN is not a charge point id' };
  return {
    ok: true, commonName: cn, fingerprint: cert.fingerprint256.replace(/:/g, '').toLowerCase(), serial: cert.serialNumber.toLowerCase(),
    pem: new X509Certificate(cert.raw).toString(),
  };
}

/**
 * Is this certificate the charger's registered, unrevoked one, and the charger enabled?
 * `POST {cloud}/api/v1/internal/device-cert-auth` — the endpoint the broker asks, with the
 * gateway's bearer (the cloud accepts it there as at device-auth). Not cached, as at the
 * broker: a certificate check is a lookup, not a scrypt, and a revocation must win at once.
 */
export class CloudChargerCertAuth {
  readonly #endpoint: string;

  constructor(cloudUrl: string, private readonly token: string, private readonly logger: Logger, private readonly fetchImpl: typeof fetch = fetch) {
    this.#endpoint = `${cloudUrl}/api/v1/internal/device-cert-auth`;
  }

  async authenticate(id: string, cert: { fingerprint: string; serial: string }): Promise<AuthResult> {
    let status: number;
    let body: { ok?: unknown; reason?: unknown; device?: { id?: unknown; site?: unknown; kind?: unknown } } | undefined;
    try {
      const res = await this.fetchImpl(this.#endpoint, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ deviceId: id, fingerprint: cert.fingerprint, serial: cert.serial }),
        signal: AbortSignal.timeout(5_000),
      });
      status = res.status;
      body = (await res.json().catch(() => undefined)) as typeof body;
    } catch (err) {
      return { outcome: 'unavailable', why: `device-cert-auth request failed: ${(err as Error).message}` };
    }
    const d = body?.device;
    if (status === 200 && body?.ok === true && d?.id === id && typeof d.site === 'string' && isValidId(d.site) && typeof d.kind === 'string') {
      return { outcome: 'ok', device: { id, site: d.site, kind: d.kind }, source: 'cloud' };
    }
    if (status === 401 && body?.reason === 'bad-credentials') return { outcome: 'denied', reason: 'bad-credentials' };
    if (status === 403 && body?.reason === 'disabled') return { outcome: 'denied', reason: 'disabled' };
    // 404: the cloud runs without a device CA (YULAN_DEVICE_CA_FILE); 401 without a reason: our token.
    if (status < 500) this.logger.error({ status }, 'device-cert-auth answered unexpectedly (does the cloud have YULAN_DEVICE_CA_FILE and YULAN_GATEWAY_TOKEN?)');
    return { outcome: 'unavailable', why: `device-cert-auth answered ${status}` };
  }
}

/**
 * Re-checks the certificates of connected chargers every `everyMs`, so a certificate
 * revoked (or a charger disabled) while connected is cut within that time; the broker is
 * told at once over MQTT, but the gateway has no broker account to hear it (docs/ocpp.md §3).
 * A cloud that cannot be reached cuts nobody.
 */
export function watchCertificates(o: {
  auth: CloudChargerCertAuth;
  everyMs: number;
  connected: () => Iterable<{ id: string; cert: { fingerprint: string; serial: string } }>;
  cut: (id: string, why: string) => void;
  logger: Logger;
}): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    void (async () => {
      for (const c of [...o.connected()]) {
        const r = await o.auth.authenticate(c.id, c.cert);
        if (r.outcome !== 'denied') continue;
        o.logger.info({ chargePoint: c.id, fingerprint: c.cert.fingerprint, reason: r.reason }, 'charger certificate no longer valid: connection cut');
        o.cut(c.id, r.reason === 'disabled' ? 'device disabled' : 'certificate revoked');
      }
    })().finally(() => { running = false; });
  }, o.everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
