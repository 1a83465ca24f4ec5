import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import {
  Channel, Command, CommandResult, CommandStatus, Event, Presence, Telemetry, TwinDesired, TwinReported, deviceTopic,
  type DeviceAddress, type DeviceSettings, type Envelope, type KnownKind, type Severity,
} from '@yulan/protos';

export type Reading = Omit<Telemetry, 'header'>;

export interface DeviceSessionOptions {
  mqttUrl: string;
  site: string;
  kind: KnownKind;
  deviceId: string;
  /** The device's own secret, issued by the cloud at registration. */
  secret: string;
  firmwareVersion: string;
  /** First connect after a random delay up to this (default 1 s), so a gateway's devices spread out. */
  startSpreadMs?: number;
  onCommand(cmd: Command): void;
  onTwin(desired: TwinDesired): void;
}

/**
 * The MQTT session of one serial device: client id = username = the device id, password =
 * that device's own secret. The gateway holds one of these per bound device and no other
 * credential, so the broker's per-device ACL is what stops it publishing as any device it
 * is not bound to (docs/architecture.md, "Topic ACL"); nothing new to trust.
 */
export class DeviceSession {
  private readonly client: MqttClient;
  private readonly addr: DeviceAddress;
  /** Restarts above any earlier run's counter, as the simulators do (architecture.md, "Sequence numbers"). */
  private seq = Date.now();
  private serialUp = false;
  private downReason = 'serial-lost';
  private failures = 0;
  private closing = false;
  private retry: NodeJS.Timeout | undefined;
  connected = false;

  constructor(private readonly o: DeviceSessionOptions, private readonly log: Logger) {
    this.addr = { site: o.site, kind: o.kind, deviceId: o.deviceId };
    const will = Presence.encode(this.presence(false, 'will'));
    this.client = mqtt.connect(o.mqttUrl, {
      clientId: o.deviceId, username: o.deviceId, password: o.secret, clean: false, keepalive: 30,
      reconnectPeriod: 1000, connectTimeout: 10_000, manualConnect: true,
      will: { topic: this.topic(Channel.Presence), payload: Buffer.from(will), qos: 1, retain: true },
    });
    // A gateway's devices must not reconnect in lock-step (a broker restart would see all of
    // them at once, each costing the cloud a scrypt check): jittered start, and a jittered
    // exponential reconnect period (1 s doubling to 30 s) that MQTT.js reads on each attempt.
    setTimeout(() => this.client.connect(), Math.random() * (o.startSpreadMs ?? 1000)).unref();
    // prepend: MQTT.js schedules the reconnect in its own 'close' listener, which must see the new period.
    this.client.prependListener('close', () => {
      this.connected = false;
      this.failures++;
      const cap = Math.min(30_000, 1000 * 2 ** Math.min(this.failures - 1, 5));
      this.client.options.reconnectPeriod = Math.round(cap / 2 + (Math.random() * cap) / 2);
    });
    this.client.on('connect', () => {
      this.failures = 0;
      this.connected = true;
      this.client.subscribe([this.topic(Channel.Command), this.topic(Channel.TwinDesired)], { qos: 1 });
      this.sendPresence();
    });
    this.client.on('error', (err) => {
      this.log.warn({ err, deviceId: o.deviceId }, 'mqtt error');
      // MQTT.js gives up for good after a refused CONNACK (server unavailable while the
      // cloud is slow, not authorized while the device is disabled). A gateway must keep
      // trying, like any device: the same jittered back-off, then a fresh connect.
      if ((err as { code?: unknown }).code !== undefined && typeof (err as { code?: unknown }).code === 'number' && !this.closing) {
        clearTimeout(this.retry);
        this.retry = setTimeout(() => { if (!this.closing) this.client.reconnect(); }, this.client.options.reconnectPeriod ?? 1000);
      }
    });
    this.client.on('message', (topic, payload) => this.message(topic, payload));
  }

  topic(channel: Channel): string {
    return deviceTopic(this.addr, channel);
  }

  /** The serial side came up or went away: the device is online only while its port is. */
  setSerialUp(up: boolean, reason = 'serial-lost'): void {
    if (up === this.serialUp) return;
    this.downReason = reason;
    this.serialUp = up;
    this.sendPresence();
  }

  telemetry(reading: Reading, tsMs = Date.now()): void {
    if (!this.serialUp) return;
    this.publish(Channel.Telemetry, Telemetry.encode({ header: this.envelope(tsMs), ...reading }));
  }

  event(type: string, severity: Severity, message: string, attributes: Record<string, string>, tsMs = Date.now()): void {
    this.publish(Channel.Event, Event.encode({ header: this.envelope(tsMs), type, severity, message, attributes }));
  }

  result(commandId: string, status: CommandStatus, message: string, output: Record<string, string> = {}): void {
    this.publish(Channel.CommandResult, CommandResult.encode({ header: this.envelope(Date.now()), commandId, status, message, output }));
  }

  twinReported(appliedVersion: number, settings: DeviceSettings, error: string): void {
    // A twin report carries the last seq used without spending one (as the simulators do).
    const header: Envelope = { deviceId: this.o.deviceId, kind: this.o.kind, seq: this.seq - 1, tsMs: Date.now(), firmwareVersion: this.o.firmwareVersion };
    this.publish(Channel.TwinReported, TwinReported.encode({ header, appliedVersion, settings, error }));
  }

  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.retry);
    if (this.client.connected) {
      await this.client.publishAsync(this.topic(Channel.Presence), Buffer.from(Presence.encode(this.presence(false, 'shutdown'))), { qos: 1, retain: true }).catch(() => undefined);
    }
    await this.client.endAsync().catch(() => undefined);
  }

  private presence(online: boolean, reason: string): Presence {
    return { deviceId: this.o.deviceId, kind: this.o.kind, online, tsMs: Date.now(), firmwareVersion: this.o.firmwareVersion, reason };
  }

  private sendPresence(): void {
    // "serial-lost": the gateway is fine, the sensor's port is gone (unplugged adapter);
    // "serial-silent": the port is there but the module stopped answering.
    const p = this.serialUp ? this.presence(true, 'birth') : this.presence(false, this.downReason);
    if (this.client.connected) this.client.publish(this.topic(Channel.Presence), Buffer.from(Presence.encode(p)), { qos: 1, retain: true });
  }

  private envelope(tsMs: number): Envelope {
    return { deviceId: this.o.deviceId, kind: this.o.kind, seq: this.seq++, tsMs: Math.round(tsMs), firmwareVersion: this.o.firmwareVersion };
  }

  /** QoS 1; while the broker is away MQTT.js keeps it in its offline queue and sends it on reconnect. */
  private publish(channel: Channel, payload: Uint8Array): void {
    this.client.publish(this.topic(channel), Buffer.from(payload), { qos: 1 }, (err) => {
      if (err) this.log.debug({ err, channel, deviceId: this.o.deviceId }, 'publish failed');
    });
  }

  private message(topic: string, payload: Buffer): void {
    try {
      if (topic === this.topic(Channel.Command)) this.o.onCommand(Command.decode(payload));
      else if (topic === this.topic(Channel.TwinDesired)) this.o.onTwin(TwinDesired.decode(payload));
    } catch (err) {
      this.log.warn({ err, topic }, 'undecodable control message ignored');
    }
  }
}
