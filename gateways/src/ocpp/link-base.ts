import {
  Channel, Command, CommandResult, CommandStatus, DeviceKind, Event, Presence, Severity, Telemetry, TwinDesired, TwinReported,
  deviceTopic, type DeviceAddress, type DeviceSettings, type Envelope, type EvChargerTelemetry,
} from '@yulan/protos';
import type { Logger } from 'pino';
import type { Outbox } from './outbox.js';

export interface LinkCallbacks {
  deviceId: string;
  site: string;
  outbox: Outbox;
  logger: Logger;
  onCommand(cmd: Command): void;
  onTwin(desired: TwinDesired): void;
  /** The broker refused or revoked the charger (disabled, wrong key, moved): cut it off. */
  onRefused(reason: string): void;
}

/**
 * How the gateway speaks for one charger on the broker, whatever carries it: its own MQTT
 * session (charger-link.ts, per-charger mode) or the gateway account's shared session
 * (mux-link.ts, the broker's `gateway` role). Envelopes, seqs and the durable outbox are
 * the same in both, so the edge cannot tell them apart (docs/ocpp.md §3).
 */
export abstract class BrokerLink {
  readonly addr: DeviceAddress;
  firmwareVersion = '';
  protected readonly o: LinkCallbacks;
  protected closed = false;
  #draining = false;
  readonly #seenCommands = new Set<string>();

  constructor(o: LinkCallbacks) {
    this.o = o;
    this.addr = { site: o.site, kind: DeviceKind.EV_CHARGER, deviceId: o.deviceId };
  }

  /** True while the broker lets this link publish for the charger. */
  abstract get connected(): boolean;
  /** Resolves true once publishing is possible, false after `timeoutMs` or on close. */
  abstract ready(timeoutMs: number): Promise<boolean>;
  protected abstract send(topic: string, payload: Buffer, retain: boolean): void;
  protected abstract sendAcked(topic: string, payload: Buffer): Promise<void>;
  abstract close(): Promise<void>;

  /** A message on the charger's cmd or twin-desired topic. */
  protected message(topic: string, payload: Buffer): void {
    try {
      if (topic.endsWith(`/${Channel.Command}`)) {
        const cmd = Command.decode(payload);
        // The cloud re-sends until acknowledged; a command id is executed at most once.
        if (this.#seenCommands.has(cmd.commandId)) return;
        this.#seenCommands.add(cmd.commandId);
        if (this.#seenCommands.size > 1000) this.#seenCommands.delete(this.#seenCommands.values().next().value!);
        this.o.onCommand(cmd);
      } else if (topic.endsWith(`/${Channel.TwinDesired}`)) {
        this.o.onTwin(TwinDesired.decode(payload));
      }
    } catch (err) {
      this.o.logger.warn({ err, topic }, 'undecodable platform message for a charger');
    }
  }

  header(): Envelope {
    return {
      deviceId: this.o.deviceId, kind: DeviceKind.EV_CHARGER, seq: this.o.outbox.nextSeq(this.o.deviceId),
      tsMs: Date.now(), firmwareVersion: this.firmwareVersion,
    };
  }

  telemetryBytes(reading: EvChargerTelemetry, tsMs?: number): Uint8Array {
    const header = this.header();
    if (tsMs !== undefined && Number.isFinite(tsMs)) header.tsMs = tsMs;
    return Telemetry.encode({ header, evCharger: reading });
  }

  eventBytes(type: string, severity: Severity, message: string, attributes: Record<string, string>): Uint8Array {
    return Event.encode({ header: this.header(), type, severity, message, attributes });
  }

  topic(channel: Channel): string {
    return deviceTopic(this.addr, channel);
  }

  /** Queues a message durably (call inside Outbox.atomically with what it belongs to). */
  enqueue(channel: Channel, bytes: Uint8Array): void {
    this.o.outbox.enqueue(this.o.deviceId, this.topic(channel), bytes);
  }

  /** Best effort (status, heartbeat-era data): QoS 1 while the link is up. */
  publish(channel: Channel, bytes: Uint8Array, retain = false): void {
    if (this.closed) return;
    this.send(this.topic(channel), Buffer.from(bytes), retain);
  }

  birth(): void {
    this.publish(Channel.Presence, Presence.encode({
      deviceId: this.o.deviceId, kind: DeviceKind.EV_CHARGER, online: true, tsMs: Date.now(),
      firmwareVersion: this.firmwareVersion, reason: 'birth',
    }), true);
  }

  commandResult(commandId: string, status: CommandStatus, message: string, output: Record<string, string> = {}): void {
    this.publish(Channel.CommandResult, CommandResult.encode({ header: this.header(), commandId, status, message, output }));
  }

  twinReported(appliedVersion: number, settings: DeviceSettings, error = ''): void {
    // Like the simulators: carries the last seq but does not spend one (no gap at the edge).
    const header: Envelope = { deviceId: this.o.deviceId, kind: DeviceKind.EV_CHARGER, seq: 0, tsMs: Date.now(), firmwareVersion: this.firmwareVersion };
    this.publish(Channel.TwinReported, TwinReported.encode({ header, appliedVersion, settings, error }));
  }

  /** Sends the charger's queued transaction messages, oldest first; a row is deleted only
   * after the broker's PUBACK, so a crash anywhere re-sends (the edge drops duplicates). */
  async drain(): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    try {
      for (;;) {
        if (this.closed || !this.connected) return;
        const rows = this.o.outbox.pending(this.o.deviceId, 100);
        if (rows.length === 0) return;
        await Promise.all(rows.map(async (row) => {
          await this.sendAcked(row.topic, row.payload);
          this.o.outbox.ack(row.id);
        }));
      }
    } catch (err) {
      this.o.logger.warn({ err, deviceId: this.o.deviceId }, 'outbox drain interrupted; retried on reconnect');
    } finally {
      this.#draining = false;
    }
  }
}

export { CommandStatus, Severity };
