import type { Client } from 'aedes';
import type { X509Certificate } from 'node:crypto';
import { gatewayTopics, isValidId, slugFromKind, type GatewayCertRefusal, type GatewayNotice } from '@yulan/protos';
import type { Logger } from 'pino';
import { devicePrincipal, type DevicePrincipal } from './acl.js';
import { DeviceAuthOutcome, type DeviceAuthResult, type DeviceAuthenticator } from './device-auth.js';
import type { CertRevocations, DeviceCertAuthenticator } from './device-cert.js';
import { checkBindCertificate } from './gateway-cert-bind.js';
import type { GatewayPrincipal } from './gateway-acl.js';
import { PresenceReason, presencePacket, type PresencePacket } from './presence.js';

export interface GatewayLinkOptions {
  deviceAuth: DeviceAuthenticator;
  /** aedes.publish, available once the broker is up (only called later). */
  publish(packet: PresencePacket | { cmd: 'publish'; topic: string; payload: Buffer; qos: 1; retain: false; dup: false }): Promise<void>;
  logger: Logger;
  /** True while devices must wait for the persistent subscribers after a restart
   * (startup-hold.ts): binds wait too, or their data would be routed to nobody. */
  holding?: () => boolean;
  /** Binding by client certificate (accounts with `certBind`): the broker's device CA, the
   * cloud's certificate check (device-cert-auth, not cached) and the pushed revocations —
   * what a device's own certificate login uses. Unset: the broker has no device CA. */
  certs?: { cas: readonly X509Certificate[]; auth: DeviceCertAuthenticator; revoked: CertRevocations };
}

/** Counters for /metrics-style reporting and tests. */
export interface GatewayLinkStats {
  binds: number;
  bindRefused: number;
  unbinds: number;
  replaced: number;
  revoked: number;
  sessionsLost: number;
  /** chargers marked offline because their gateway's session ended */
  offlineByGatewayLoss: number;
  /** binds by client certificate accepted, and refused by reason */
  certBinds: number;
  certBindRefused: Record<string, number>;
}

/**
 * Binding devices to gateway sessions (gateway-acl.ts, docs/ocpp.md §3), broker-side:
 * - `bind {id, key}`: the key is checked like a device's own CONNECT (device-auth, cached);
 *   accepted → the device is bound to this session only (a binding elsewhere is ended:
 *   `unbound replaced` to that gateway — the device moved), its online presence is
 *   published, then `bound` is sent to the gateway.
 * - `bind {id, cert}` (accounts with `certBind` only): the client certificate the device
 *   presented to the gateway, checked like a device's certificate login (device CA, CN,
 *   pushed revocations, device-cert-auth uncached); a `revoke-cert` of it unbinds.
 * - `unbind {id}`: the device's connection to the gateway closed → offline presence.
 * - the gateway's session ends (crash, SIGKILL, network): offline presence for every
 *   device bound to it — the broker is the one place that sees the session die.
 * - revoke (the cloud disabled a device): unbound, offline, and `unbound revoked` to its
 *   gateway, which cuts the device's own connection (as the broker cuts a device session).
 */
export class GatewayLink {
  readonly stats: GatewayLinkStats = { binds: 0, bindRefused: 0, unbinds: 0, replaced: 0, revoked: 0, sessionsLost: 0, offlineByGatewayLoss: 0, certBinds: 0, certBindRefused: {} };
  readonly #o: GatewayLinkOptions;
  /** device id → the gateway session it is bound to */
  readonly #owner = new Map<string, GatewayPrincipal>();
  readonly #ended = new WeakSet<GatewayPrincipal>();
  /** bumped per device on revoke, so a bind that was being checked meanwhile is refused */
  readonly #revokes = new Map<string, number>();

  constructor(o: GatewayLinkOptions) {
    this.#o = o;
  }

  isRequest(p: GatewayPrincipal, topic: string): boolean {
    return topic === p.bindTopic || topic === p.unbindTopic;
  }

  /** Bound devices across all gateway sessions of this broker process. */
  get boundCount(): number {
    return this.#owner.size;
  }

  handle(_client: Client, p: GatewayPrincipal, topic: string, payload: Buffer): void {
    let body: { id?: unknown; key?: unknown; cert?: unknown };
    try {
      body = JSON.parse(payload.toString('utf8')) as typeof body;
    } catch {
      body = {};
    }
    const id = typeof body?.id === 'string' ? body.id : '';
    if (!isValidId(id)) {
      this.stats.bindRefused++;
      this.#o.logger.warn({ gateway: p.username, topic }, 'gateway request without a valid device id ignored');
      if (topic === p.bindTopic) this.#notice(p, { type: 'refused', id: id.slice(0, 64), reason: 'invalid' });
      return;
    }
    if (topic === p.unbindTopic) return this.#unbind(p, id);
    const hasKey = typeof body.key === 'string' && body.key.length > 0;
    const hasCert = typeof body.cert === 'string' && body.cert.length > 0;
    // exactly one proof: a bind that could be read two ways is refused
    if (hasKey === hasCert) {
      this.stats.bindRefused++;
      return this.#notice(p, { type: 'refused', id, reason: 'invalid' });
    }
    if (hasCert) return void this.#bindByCert(p, id, body.cert as string);
    void this.#bind(p, id, (generation) => this.#o.deviceAuth.authenticate(id, body.key as string).then((res) => ({ res, generation })));
  }

  /** A bind by certificate: refused unless the account may (`certBind`), then checked as
   * a device's certificate login — CA, validity, CN, the pushed revocations, the cloud. */
  async #bindByCert(p: GatewayPrincipal, id: string, pem: string): Promise<void> {
    const refuse = (reason: GatewayCertRefusal | 'invalid', why: string): void => {
      this.stats.bindRefused++;
      this.stats.certBindRefused[reason] = (this.stats.certBindRefused[reason] ?? 0) + 1;
      this.#o.logger.info({ gateway: p.username, deviceId: id, reason, why }, 'gateway bind by certificate refused');
      this.#notice(p, { type: 'refused', id, reason });
    };
    if (!p.certBind) return refuse('cert-bind-not-allowed', 'the gateway account has no certBind (broker accounts file)');
    const certs = this.#o.certs;
    if (certs === undefined) return refuse('cert-unsupported', 'the broker has no device CA (YULAN_DEVICE_CA_FILE)');
    const c = checkBindCertificate(pem, id, certs.cas);
    if (!c.ok) return refuse(c.reason, c.why);
    if (certs.revoked.has(c.fingerprint)) return refuse('cert-revoked', 'certificate revoked');
    const cert = { fingerprint: c.fingerprint, serial: c.serial };
    await this.#bind(p, id, async (generation) => {
      const res = await certs.auth.authenticate(id, cert);
      // a revocation pushed while the cloud was answering wins, as at a certificate CONNECT
      if (certs.revoked.has(c.fingerprint)) return { refusal: 'cert-revoked' as const, why: 'certificate revoked' };
      if (res.outcome === DeviceAuthOutcome.Denied && res.reason === 'bad-credentials') {
        return { refusal: 'cert-revoked-or-unregistered' as const, why: 'not the device\'s registered, unrevoked certificate' };
      }
      const slug = res.outcome === DeviceAuthOutcome.Ok ? slugFromKind(res.device.kind) : undefined;
      if (res.outcome === DeviceAuthOutcome.Ok && p.certBindKinds !== undefined && (slug === undefined || !p.certBindKinds.has(slug))) {
        return { refusal: 'cert-bind-not-allowed' as const, why: `the account may bind by certificate only ${[...p.certBindKinds].join(', ')}, not ${slug ?? res.device.kind}` };
      }
      return { res, generation };
    }, c.fingerprint, refuse);
  }

  async #bind(
    p: GatewayPrincipal, id: string,
    check: (generation: number) => Promise<{ res: DeviceAuthResult; generation: number } | { refusal: GatewayCertRefusal; why: string }>,
    fingerprint?: string, refuseCert?: (reason: GatewayCertRefusal, why: string) => void,
  ): Promise<void> {
    if (this.#o.holding?.()) return this.#notice(p, { type: 'refused', id, reason: 'unavailable' });
    const generation = this.#revokes.get(id) ?? 0;
    const checked = await check(generation);
    if (this.#ended.has(p)) return;
    if ('refusal' in checked) return refuseCert?.(checked.refusal, checked.why);
    const { res } = checked;
    if (res.outcome !== DeviceAuthOutcome.Ok || (this.#revokes.get(id) ?? 0) !== generation) {
      this.stats.bindRefused++;
      const reason = res.outcome === DeviceAuthOutcome.Denied ? res.reason : res.outcome === DeviceAuthOutcome.Ok ? 'disabled' : 'unavailable';
      if (fingerprint !== undefined) this.stats.certBindRefused[reason] = (this.stats.certBindRefused[reason] ?? 0) + 1;
      this.#o.logger.info({ gateway: p.username, deviceId: id, reason, byCertificate: fingerprint !== undefined }, 'gateway bind refused');
      return this.#notice(p, { type: 'refused', id, reason });
    }
    let dp: DevicePrincipal;
    try {
      if (res.device.id !== id) throw new Error(`authenticator answered for ${res.device.id}`);
      dp = devicePrincipal(id, res.device.site, res.device.kind);
    } catch (err) {
      this.stats.bindRefused++;
      this.#o.logger.warn({ err, gateway: p.username, deviceId: id }, 'unusable device record for a gateway bind');
      return this.#notice(p, { type: 'refused', id, reason: 'invalid' });
    }
    const previous = this.#owner.get(id);
    if (previous !== undefined && previous !== p) {
      previous.bound.delete(id);
      previous.boundByCert.delete(id);
      this.stats.replaced++;
      this.#notice(previous, { type: 'unbound', id, reason: 'replaced' });
    }
    p.bound.set(id, dp);
    if (fingerprint === undefined) p.boundByCert.delete(id);
    else {
      p.boundByCert.set(id, fingerprint);
      this.stats.certBinds++;
    }
    this.#owner.set(id, p);
    this.stats.binds++;
    await this.#o.publish(presencePacket(dp, true, PresenceReason.Connect, Date.now()));
    this.#notice(p, { type: 'bound', id, site: dp.site, kind: res.device.kind === undefined ? '' : String(res.device.kind) });
  }

  #unbind(p: GatewayPrincipal, id: string): void {
    const dp = p.bound.get(id);
    if (dp === undefined) return;
    p.bound.delete(id);
    p.boundByCert.delete(id);
    if (this.#owner.get(id) === p) this.#owner.delete(id);
    this.stats.unbinds++;
    void this.#o.publish(presencePacket(dp, false, PresenceReason.Disconnect, Date.now()));
  }

  /** The gateway's session ended: every device still bound to it goes offline. */
  sessionEnded(p: GatewayPrincipal): void {
    if (this.#ended.has(p)) return;
    this.#ended.add(p);
    this.stats.sessionsLost++;
    const now = Date.now();
    for (const [id, dp] of p.bound) {
      if (this.#owner.get(id) !== p) continue; // moved to another gateway session meanwhile
      this.#owner.delete(id);
      this.stats.offlineByGatewayLoss++;
      void this.#o.publish(presencePacket(dp, false, PresenceReason.GatewayLost, now));
    }
    if (p.bound.size > 0) this.#o.logger.warn({ gateway: p.username, devices: p.bound.size }, 'gateway session ended: its devices marked offline');
    p.bound.clear();
    p.boundByCert.clear();
  }

  /** The cloud revoked a device (disabled, deleted, key rotated). True if it was bound. */
  revoke(id: string): boolean {
    this.#revokes.set(id, (this.#revokes.get(id) ?? 0) + 1);
    const p = this.#owner.get(id);
    const dp = p?.bound.get(id);
    if (p === undefined || dp === undefined) return false;
    this.#owner.delete(id);
    p.bound.delete(id);
    p.boundByCert.delete(id);
    this.stats.revoked++;
    void this.#o.publish(presencePacket(dp, false, PresenceReason.Revoked, Date.now()));
    this.#notice(p, { type: 'unbound', id, reason: 'revoked' });
    return true;
  }

  /** The cloud revoked a certificate (`revoke-cert`): a device bound by it is unbound as on
   * a device revoke (the gateway cuts it); one bound by its key keeps going (another
   * credential). True if one was bound by it. */
  revokeCert(fingerprint: string): boolean {
    for (const [id, p] of this.#owner) {
      if (p.boundByCert.get(id) === fingerprint) return this.revoke(id);
    }
    return false;
  }

  #notice(p: GatewayPrincipal, n: GatewayNotice): void {
    if (this.#ended.has(p)) return;
    void this.#o.publish({ cmd: 'publish', topic: gatewayTopics(p.username).notice, payload: Buffer.from(JSON.stringify(n)), qos: 1, retain: false, dup: false });
  }
}
