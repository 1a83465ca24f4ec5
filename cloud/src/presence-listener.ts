import type { Logger } from 'pino';
import { Channel, Presence, ProtoError, parseDeviceTopic } from '@yulan/protos';
import type { DeviceRepository, PresenceUpdate } from './repositories/device-repository.js';

/** Why a presence message was not applied; each reason is counted. */
export const PresenceDrop = {
  BadTopic: 'badTopic',
  Decode: 'decode',
  IdMismatch: 'idMismatch',
  UnknownDevice: 'unknownDevice',
  WriteFailed: 'writeFailed',
} as const;
export type PresenceDrop = (typeof PresenceDrop)[keyof typeof PresenceDrop];

export interface PresenceStats {
  received: number;
  applied: number;
  dropped: Record<PresenceDrop, number>;
}

export interface PresenceListenerOptions {
  devices: DeviceRepository;
  logger: Logger;
  /** how long updates gather before one write; presence is not latency-critical */
  flushIntervalMs?: number;
  /** flush early once this many devices are pending */
  maxPending?: number;
  now?: () => number;
}

/**
 * Turns presence messages into registry updates. Messages are coalesced per device
 * (newest wins) and written in one transaction per flush, so a reconnect storm of
 * thousands of devices costs a handful of writes. Malformed input is counted and logged
 * at debug level, never thrown: one bad device must not stop presence for the rest.
 */
export class PresenceListener {
  private readonly devices: DeviceRepository;
  private readonly log: Logger;
  private readonly maxPending: number;
  private readonly now: () => number;
  private pending = new Map<string, PresenceUpdate>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  readonly stats: PresenceStats = {
    received: 0,
    applied: 0,
    dropped: { badTopic: 0, decode: 0, idMismatch: 0, unknownDevice: 0, writeFailed: 0 },
  };

  constructor(opts: PresenceListenerOptions) {
    this.devices = opts.devices;
    this.log = opts.logger;
    this.maxPending = opts.maxPending ?? 500;
    this.now = opts.now ?? Date.now;
    this.timer = setInterval(() => void this.flush(), opts.flushIntervalMs ?? 200);
    this.timer.unref();
  }

  /** Feed one MQTT message. Never throws. */
  handle(topic: string, payload: Uint8Array): void {
    this.stats.received++;
    const addr = parseDeviceTopic(topic);
    if (!addr || addr.channel !== Channel.Presence) return this.drop(PresenceDrop.BadTopic, topic);
    let msg: Presence;
    try {
      msg = Presence.decode(payload);
    } catch (err) {
      const detail = err instanceof ProtoError ? err.message : String(err);
      return this.drop(PresenceDrop.Decode, topic, detail);
    }
    // The topic is what the broker's ACL vouches for; a payload naming another device is forged or buggy.
    if (msg.deviceId !== '' && msg.deviceId !== addr.deviceId) return this.drop(PresenceDrop.IdMismatch, topic);
    const update: PresenceUpdate = {
      deviceId: addr.deviceId,
      online: msg.online,
      ts: msg.tsMs > 0 ? msg.tsMs : this.now(),
      ...(msg.firmwareVersion !== '' ? { firmwareVersion: msg.firmwareVersion } : {}),
    };
    const prev = this.pending.get(update.deviceId);
    if (!prev || update.ts >= prev.ts) this.pending.set(update.deviceId, update);
    if (this.pending.size >= this.maxPending) void this.flush();
  }

  /** Writes everything pending. Serialised so batches are applied in arrival order. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.writeBatch());
    return this.flushing;
  }

  private async writeBatch(): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = [...this.pending.values()];
    this.pending = new Map();
    try {
      const matched = await this.devices.applyPresence(batch);
      this.stats.applied += matched;
      this.stats.dropped.unknownDevice += batch.length - matched;
    } catch (err) {
      this.stats.dropped.writeFailed += batch.length;
      this.log.error({ err, count: batch.length }, 'presence batch write failed');
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  private drop(reason: PresenceDrop, topic: string, detail?: string): void {
    this.stats.dropped[reason]++;
    this.log.debug({ topic, reason, detail }, 'presence message dropped');
  }
}
