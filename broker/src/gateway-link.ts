import type { Client } from 'aedes';
import { gatewayTopics, isValidId, type GatewayNotice } from '@yulan/protos';
import type { Logger } from 'pino';
import { devicePrincipal, type DevicePrincipal } from './acl.js';
import { DeviceAuthOutcome, type DeviceAuthenticator } from './device-auth.js';
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
}

/**
 * Binding devices to gateway sessions (gateway-acl.ts, docs/ocpp.md §3), broker-side:
 * - `bind {id, key}`: the key is checked like a device's own CONNECT (device-auth, cached);
 *   accepted → the device is bound to this session only (a binding elsewhere is ended:
 *   `unbound replaced` to that gateway — the device moved), its online presence is
 *   published, then `bound` is sent to the gateway.
 * - `unbind {id}`: the device's connection to the gateway closed → offline presence.
 * - the gateway's session ends (crash, SIGKILL, network): offline presence for every
 *   device bound to it — the broker is the one place that sees the session die.
 * - revoke (the cloud disabled a device): unbound, offline, and `unbound revoked` to its
 *   gateway, which cuts the device's own connection (as the broker cuts a device session).
 */
export class GatewayLink {
  readonly stats: GatewayLinkStats = { binds: 0, bindRefused: 0, unbinds: 0, replaced: 0, revoked: 0, sessionsLost: 0, offlineByGatewayLoss: 0 };
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
    let body: { id?: unknown; key?: unknown };
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
    if (typeof body.key !== 'string' || body.key.length === 0) {
      this.stats.bindRefused++;
      return this.#notice(p, { type: 'refused', id, reason: 'invalid' });
    }
    void this.#bind(p, id, body.key);
  }

  async #bind(p: GatewayPrincipal, id: string, key: string): Promise<void> {
    if (this.#o.holding?.()) return this.#notice(p, { type: 'refused', id, reason: 'unavailable' });
    const generation = this.#revokes.get(id) ?? 0;
    const res = await this.#o.deviceAuth.authenticate(id, key);
    if (this.#ended.has(p)) return;
    if (res.outcome !== DeviceAuthOutcome.Ok || (this.#revokes.get(id) ?? 0) !== generation) {
      this.stats.bindRefused++;
      const reason = res.outcome === DeviceAuthOutcome.Denied ? res.reason : res.outcome === DeviceAuthOutcome.Ok ? 'disabled' : 'unavailable';
      this.#o.logger.info({ gateway: p.username, deviceId: id, reason }, 'gateway bind refused');
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
      this.stats.replaced++;
      this.#notice(previous, { type: 'unbound', id, reason: 'replaced' });
    }
    p.bound.set(id, dp);
    this.#owner.set(id, p);
    this.stats.binds++;
    await this.#o.publish(presencePacket(dp, true, PresenceReason.Connect, Date.now()));
    this.#notice(p, { type: 'bound', id, site: dp.site, kind: res.device.kind === undefined ? '' : String(res.device.kind) });
  }

  #unbind(p: GatewayPrincipal, id: string): void {
    const dp = p.bound.get(id);
    if (dp === undefined) return;
    p.bound.delete(id);
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
  }

  /** The cloud revoked a device (disabled, deleted, key rotated). True if it was bound. */
  revoke(id: string): boolean {
    this.#revokes.set(id, (this.#revokes.get(id) ?? 0) + 1);
    const p = this.#owner.get(id);
    const dp = p?.bound.get(id);
    if (p === undefined || dp === undefined) return false;
    this.#owner.delete(id);
    p.bound.delete(id);
    this.stats.revoked++;
    void this.#o.publish(presencePacket(dp, false, PresenceReason.Revoked, Date.now()));
    this.#notice(p, { type: 'unbound', id, reason: 'revoked' });
    return true;
  }

  #notice(p: GatewayPrincipal, n: GatewayNotice): void {
    if (this.#ended.has(p)) return;
    void this.#o.publish({ cmd: 'publish', topic: gatewayTopics(p.username).notice, payload: Buffer.from(JSON.stringify(n)), qos: 1, retain: false, dup: false });
  }
}
