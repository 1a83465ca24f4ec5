import { CertRotationError, certRotationTopics, type CertRotationReply } from '@yulan/protos';
import type { Logger } from 'pino';
import { peerCertificateOf } from './device-cert.js';

/** Counted in `/metrics` as `certRotations`. */
export interface CertRotationCounts {
  requests: number;
  issued: number;
  refused: number;
  invalid: number;
  unavailable: number;
}

export function emptyCertRotationCounts(): CertRotationCounts {
  return { requests: 0, issued: 0, refused: 0, invalid: 0, unavailable: 0 };
}

const REQUEST_PREFIX = '$yulan/v1/device/';
const MAX_REQUEST_BYTES = 16_384;

/**
 * Certificate rotation over the device's own MQTT/TLS session (docs/certificates.md): the
 * device publishes a CSR on its request topic; the broker — the only party that saw which
 * certificate the session's handshake proved — asks the cloud
 * (`POST /api/v1/internal/device-cert-rotate`) and publishes the answer on the device's
 * reply topic, which only that device may subscribe to. The session is never touched: the
 * old certificate stays valid until the new one is first used.
 */
export class CertRotation {
  readonly counts: CertRotationCounts;
  readonly #endpoint: string;
  /** One rotation in flight per device: a device cannot queue CSRs at the cloud. */
  readonly #inflight = new Set<string>();

  constructor(private readonly o: {
    cloudUrl: string; brokerToken: string; timeoutMs?: number; logger: Logger;
    publish(topic: string, payload: Buffer): Promise<void>;
    fetch?: typeof fetch;
    /** The broker's metrics object (counted in place); a fresh one when unset. */
    counts?: CertRotationCounts;
  }) {
    this.counts = o.counts ?? emptyCertRotationCounts();
    this.#endpoint = `${o.cloudUrl.replace(/\/+$/, '')}/api/v1/internal/device-cert-rotate`;
  }

  /** True when `topic` (published by `deviceId`) is its rotation request: the caller then
   * hands it to handle() and discards it instead of routing it. Cheap for every other topic. */
  isRequest(deviceId: string, topic: string): boolean {
    return topic.startsWith(REQUEST_PREFIX) && topic === certRotationTopics(deviceId).request;
  }

  handle(client: unknown, deviceId: string, payload: Buffer): void {
    this.counts.requests++;
    void this.#run(client, deviceId, payload).catch((err: unknown) => this.o.logger.error({ err, deviceId }, 'certificate rotation failed'));
  }

  async #run(client: unknown, deviceId: string, payload: Buffer): Promise<void> {
    let requestId: string | undefined;
    const reply = async (r: CertRotationReply): Promise<void> =>
      this.o.publish(certRotationTopics(deviceId).reply, Buffer.from(JSON.stringify(requestId !== undefined ? { ...r, requestId } : r)));
    const fail = async (error: CertRotationError, message: string, count: keyof CertRotationCounts): Promise<void> => {
      this.counts[count]++;
      this.o.logger.info({ deviceId, error, why: message }, 'certificate rotation refused');
      await reply({ ok: false, error, message });
    };
    let csr: unknown;
    try {
      if (payload.length > MAX_REQUEST_BYTES) throw new Error('request over 16 KiB');
      const body = JSON.parse(payload.toString('utf8')) as { csr?: unknown; requestId?: unknown };
      if (typeof body.requestId === 'string' && body.requestId.length <= 64) requestId = body.requestId;
      csr = body.csr;
    } catch (err) {
      return fail(CertRotationError.InvalidRequest, `not a JSON rotation request: ${(err as Error).message}`, 'invalid');
    }
    if (typeof csr !== 'string' || csr.length < 100) return fail(CertRotationError.InvalidRequest, 'no "csr" (a PEM certificate request)', 'invalid');
    const cert = peerCertificateOf(client);
    if (cert?.ok !== true || cert.commonName !== deviceId) {
      return fail(CertRotationError.NotCertificateLogin, 'only a session that presented the device\'s certificate can rotate it', 'refused');
    }
    if (this.#inflight.has(deviceId)) return fail(CertRotationError.Busy, 'a rotation for this device is under way', 'refused');
    this.#inflight.add(deviceId);
    try {
      let res: Response;
      let body: Record<string, unknown> | undefined;
      try {
        res = await (this.o.fetch ?? fetch)(this.#endpoint, {
          method: 'POST',
          headers: { authorization: `Bearer ${this.o.brokerToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ deviceId, fingerprint: cert.fingerprint, csr }),
          signal: AbortSignal.timeout(this.o.timeoutMs ?? 10_000),
        });
        body = (await res.json().catch(() => undefined)) as Record<string, unknown> | undefined;
      } catch (err) {
        this.o.logger.warn({ err, deviceId }, 'certificate rotation: the cloud is unreachable');
        return await fail(CertRotationError.Unavailable, 'the cloud is unreachable; try again later', 'unavailable');
      }
      if (res.status === 201 && typeof body?.certificate === 'string' && typeof body.caCertificate === 'string' &&
        typeof body.fingerprint === 'string' && typeof body.notAfter === 'string' && typeof body.retireAt === 'string') {
        this.counts.issued++;
        this.o.logger.info({ deviceId, from: cert.fingerprint, to: body.fingerprint }, 'device certificate rotated over MQTT');
        return await reply({ ok: true, certificate: body.certificate, caCertificate: body.caCertificate, fingerprint: body.fingerprint, notAfter: body.notAfter, retireAt: body.retireAt });
      }
      if (res.status === 401 && body?.reason === 'bad-credentials') return await fail(CertRotationError.Refused, 'this certificate is not the device\'s valid certificate', 'refused');
      if (res.status === 403 && body?.reason === 'disabled') return await fail(CertRotationError.Disabled, 'the device is disabled', 'refused');
      if (res.status === 400) return await fail(CertRotationError.InvalidCsr, typeof body?.message === 'string' ? body.message : 'the certificate request was refused', 'invalid');
      this.o.logger.error({ status: res.status, deviceId }, 'device-cert-rotate answered unexpectedly');
      return await fail(CertRotationError.Unavailable, `the cloud answered ${res.status}`, 'unavailable');
    } finally {
      this.#inflight.delete(deviceId);
    }
  }
}
