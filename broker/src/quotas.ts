import { KIND_SLUGS, type KindSlug } from '@yulan/protos';

/**
 * Limits that keep one device, or one address, from costing everyone else (docs/security.md).
 *
 * - Publish quotas, per device id: a token bucket for messages and one for bytes, sized per
 *   kind. A publish over either is refused (acknowledged and discarded, like an ACL denial:
 *   MQTT 3.1.1 has no negative PUBACK) and counted; a device that keeps going past
 *   `disconnectAfter` refusals in one window is disconnected. The state outlives the
 *   connection, so reconnecting does not refill the bucket.
 * - Failed authentications, per source address and per client id, in fixed windows: past
 *   the limit a CONNECT is refused before its secret is checked, so wrong secrets stop
 *   costing the cloud a scrypt each.
 * - CONNECTs per source address, in fixed windows.
 * All maps are bounded: the least recently touched entry goes first, which can only make a
 * limit more lenient, never lock anyone out by eviction.
 */

export interface PublishLimit {
  msgsPerSec: number;
  burstMsgs: number;
  bytesPerSec: number;
  burstBytes: number;
}

export interface QuotaConfig {
  /** undefined: no publish quotas */
  publish: { default: PublishLimit; perKind: Partial<Record<KindSlug, PublishLimit>> } | undefined;
  /** refusals within `strikeWindowMs` that disconnect the device; 0 = never */
  disconnectAfter: number;
  strikeWindowMs: number;
  /** after such a disconnect, the device's CONNECTs are refused this long; 0 = not at all */
  cooldownMs: number;
  authFailuresPerAddress: number;
  authFailuresPerClient: number;
  authWindowMs: number;
  connectsPerAddress: number;
  connectWindowMs: number;
  /** apply the per-address and per-client limits to 127.0.0.0/8 and ::1 too */
  limitLoopback: boolean;
}

export const QuotaVerdict = { Ok: 0, Refused: 1, Disconnect: 2 } as const;
export type QuotaVerdict = (typeof QuotaVerdict)[keyof typeof QuotaVerdict];

const MAX_ENTRIES = 100_000;

interface Bucket {
  msgs: number;
  bytes: number;
  at: number;
  strikes: number;
  strikeWindowEnds: number;
  /** refusals since the last warning, and when the last warning went out */
  unwarned: number;
  warnedAt: number;
  /** no CONNECT of this device before then (disconnected for its quota) */
  coolUntil: number;
}

function touch<K, V>(map: Map<K, V>, key: K, value: V): void {
  map.delete(key);
  if (map.size >= MAX_ENTRIES) {
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
  map.set(key, value);
}

export class PublishQuotas {
  readonly #buckets = new Map<string, Bucket>();
  readonly #c: QuotaConfig;
  readonly #warnEveryMs: number;
  constructor(config: QuotaConfig, warnEveryMs = 10_000) {
    this.#c = config;
    this.#warnEveryMs = warnEveryMs;
  }

  coolingDownMs(deviceId: string, now: number): number {
    const b = this.#buckets.get(deviceId);
    return b === undefined ? 0 : Math.max(0, b.coolUntil - now);
  }

  get enabled(): boolean {
    return this.#c.publish !== undefined;
  }

  limitFor(kind: KindSlug): PublishLimit | undefined {
    const p = this.#c.publish;
    return p && (p.perKind[kind] ?? p.default);
  }

  /** Charges one publish of `bytes`; `warn` is called at most once per warnEveryMs per device
   * with the refusals since the previous warning. */
  check(deviceId: string, kind: KindSlug, bytes: number, now: number, warn: (refused: number) => void): QuotaVerdict {
    const limit = this.limitFor(kind);
    if (!limit) return QuotaVerdict.Ok;
    let b = this.#buckets.get(deviceId);
    if (b === undefined) {
      b = { msgs: limit.burstMsgs, bytes: limit.burstBytes, at: now, strikes: 0, strikeWindowEnds: 0, unwarned: 0, warnedAt: 0, coolUntil: 0 };
      touch(this.#buckets, deviceId, b);
    }
    const dt = Math.max(0, now - b.at) / 1000;
    b.at = now;
    b.msgs = Math.min(limit.burstMsgs, b.msgs + dt * limit.msgsPerSec);
    b.bytes = Math.min(limit.burstBytes, b.bytes + dt * limit.bytesPerSec);
    if (b.msgs >= 1 && b.bytes >= bytes) {
      b.msgs -= 1;
      b.bytes -= bytes;
      return QuotaVerdict.Ok;
    }
    if (now >= b.strikeWindowEnds) {
      b.strikes = 0;
      b.strikeWindowEnds = now + this.#c.strikeWindowMs;
    }
    b.strikes++;
    b.unwarned++;
    if (now - b.warnedAt >= this.#warnEveryMs) {
      b.warnedAt = now;
      const n = b.unwarned;
      b.unwarned = 0;
      warn(n);
    }
    if (this.#c.disconnectAfter > 0 && b.strikes >= this.#c.disconnectAfter) {
      b.strikes = 0;
      b.coolUntil = now + this.#c.cooldownMs;
      return QuotaVerdict.Disconnect;
    }
    return QuotaVerdict.Refused;
  }
}

export interface CoolingDown {
  /** ms before this device may connect again after a quota disconnect; 0 when it may now */
  coolingDownMs(deviceId: string, now: number): number;
}

interface Window {
  count: number;
  ends: number;
}

class WindowCounter {
  readonly #hits = new Map<string, Window>();
  constructor(private readonly max: number, private readonly windowMs: number) {}
  over(key: string, now: number): boolean {
    const w = this.#hits.get(key);
    return w !== undefined && w.ends > now && w.count >= this.max;
  }
  add(key: string, now: number): number {
    const w = this.#hits.get(key);
    const next = w === undefined || w.ends <= now ? { count: 1, ends: now + this.windowMs } : { count: w.count + 1, ends: w.ends };
    touch(this.#hits, key, next);
    return next.count;
  }
}

export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  const a = address.startsWith('::ffff:') ? address.slice(7) : address;
  return a === '::1' || a.startsWith('127.');
}

export class ConnectionLimits {
  readonly #authByAddress: WindowCounter;
  readonly #authByClient: WindowCounter;
  readonly #connects: WindowCounter;
  readonly #limitLoopback: boolean;
  readonly #c: QuotaConfig;
  constructor(c: QuotaConfig) {
    this.#c = c;
    this.#authByAddress = new WindowCounter(c.authFailuresPerAddress, c.authWindowMs);
    this.#authByClient = new WindowCounter(c.authFailuresPerClient, c.authWindowMs);
    this.#connects = new WindowCounter(c.connectsPerAddress, c.connectWindowMs);
    this.#limitLoopback = c.limitLoopback;
  }

  #exempt(address: string | undefined): boolean {
    return address === undefined || (!this.#limitLoopback && isLoopbackAddress(address));
  }

  /** Counts a CONNECT; false when this address is over its rate. */
  connectAllowed(address: string | undefined, now: number): boolean {
    if (this.#exempt(address) || this.#c.connectsPerAddress === 0) return true;
    return this.#connects.add(address!, now) <= this.#c.connectsPerAddress;
  }

  /** Which limit, if any, refuses checking this attempt's secret. */
  authBlocked(address: string | undefined, clientId: string, now: number): 'address' | 'client' | undefined {
    if (this.#exempt(address)) return undefined;
    if (this.#c.authFailuresPerAddress > 0 && this.#authByAddress.over(address!, now)) return 'address';
    if (this.#c.authFailuresPerClient > 0 && this.#authByClient.over(clientId, now)) return 'client';
    return undefined;
  }

  authFailed(address: string | undefined, clientId: string, now: number): void {
    if (this.#exempt(address)) return;
    this.#authByAddress.add(address!, now);
    this.#authByClient.add(clientId, now);
  }
}

/** `kind:msgsPerSec:bytesPerSec[,…]` (YULAN_QUOTA_PER_KIND); bursts are 4 s of each rate. */
export function parsePerKind(spec: string | undefined): Partial<Record<KindSlug, PublishLimit>> | string {
  const out: Partial<Record<KindSlug, PublishLimit>> = {};
  if (spec === undefined || spec.trim() === '') return out;
  for (const item of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [kind, msgs, bytes, ...rest] = item.split(':');
    if (rest.length > 0 || !KIND_SLUGS.includes(kind as KindSlug) || !/^[0-9]+$/.test(msgs ?? '') || !/^[0-9]+$/.test(bytes ?? '') ||
      Number(msgs) < 1 || Number(bytes) < 64) {
      return `"${item}": expected kind:msgsPerSec:bytesPerSec with kind one of ${KIND_SLUGS.join(', ')}, msgs ≥ 1, bytes ≥ 64`;
    }
    out[kind as KindSlug] = burstOf(Number(msgs), Number(bytes));
  }
  return out;
}

export function burstOf(msgsPerSec: number, bytesPerSec: number): PublishLimit {
  return { msgsPerSec, bytesPerSec, burstMsgs: Math.max(10, 4 * msgsPerSec), burstBytes: Math.max(65_536, 4 * bytesPerSec) };
}
