import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import {
  Channel, Command, CommandResult, CommandStatus, Event, Presence, Telemetry, deviceTopic,
  type DeviceAddress, type Envelope, type KnownKind,
} from '@yulan/protos';
import { createGate, type ConnectGate } from './gate.js';
import { SimError, SimErrorCode } from './errors.js';
import type { TelemetryReading } from './models/index.js';
import type { SimEvent } from './models/types.js';
import { CLOSE_STEP_MS, bounded } from './bounded.js';
import { RecentIds, planCommand } from './command-plan.js';

export interface SimDeviceOptions {
  mqttUrl: string;
  deviceId: string;
  site: string;
  kind: KnownKind;
  secret: string;
  firmwareVersion?: string;
  /** QoS of telemetry (events, presence and command results are always QoS 1). */
  qos?: 0 | 1;
  /** First envelope seq (default 1). */
  initialSeq?: number;
  connectTimeoutMs?: number;
  keepaliveS?: number;
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** Shared handshake limiter (the fleet's); a private one is used otherwise. */
  gate?: ConnectGate;
  /** Device clock for presence and command results (the fleet passes simulated time). */
  clock?: () => number;
  /** Delay between ACCEPTED and SUCCEEDED for `reboot`. */
  rebootDelayMs?: number;
  /** Events kept while offline and sent after reconnecting (events must not be lost). */
  offlineEventLimit?: number;
}

export interface SimDeviceStats {
  published: number;
  events: number;
  commands: number;
  errors: number;
  connects: number;
  droppedEvents: number;
}

/** MQTT refusal codes (3.1.1) that mean "your credentials are wrong". */
const AUTH_CODES = new Set([4, 5]);
const MAX_REMEMBERED_COMMANDS = 64;

/**
 * One simulated device on MQTT: client id = username = device id, password = secret;
 * retained birth/will presence; protobuf telemetry and events with one seq counter; a
 * minimal command handler. Reconnects itself (with jittered backoff through the gate)
 * rather than relying on mqtt.js's fixed-period reconnect, so a fleet does not stampede.
 */
export class SimDevice {
  readonly stats: SimDeviceStats = { published: 0, events: 0, commands: 0, errors: 0, connects: 0, droppedEvents: 0 };
  private readonly addr: DeviceAddress;
  private readonly log: Logger;
  private readonly qos: 0 | 1;
  private readonly fw: string;
  private readonly clock: () => number;
  private readonly gate: ConnectGate;
  private nextSeq: number;
  private client: MqttClient | undefined;
  private live = false;
  private closing = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private cancelAttempt: (() => void) | undefined;
  private readonly seenCommands = new RecentIds(MAX_REMEMBERED_COMMANDS);
  private readonly offline: { ev: SimEvent; tsMs: number }[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly opts: SimDeviceOptions, logger: Logger) {
    this.addr = { site: opts.site, kind: opts.kind, deviceId: opts.deviceId };
    deviceTopic(this.addr, Channel.Telemetry); // validates ids and kind up front (throws ProtoError)
    this.log = logger.child({ deviceId: opts.deviceId });
    this.qos = opts.qos ?? 0;
    this.fw = opts.firmwareVersion ?? '0.1.0-sim';
    this.clock = opts.clock ?? Date.now;
    this.gate = opts.gate ?? createGate(1);
    this.nextSeq = opts.initialSeq ?? 1;
  }

  get id(): string {
    return this.opts.deviceId;
  }
  get connected(): boolean {
    return this.live;
  }
  /** The seq the next message will carry. */
  get seq(): number {
    return this.nextSeq;
  }
  topic(channel: Channel): string {
    return deviceTopic(this.addr, channel);
  }

  /** Starts connecting (and keeps reconnecting until close()). Resolves on the first
   * successful CONNACK, rejects with the first attempt's SimError; retries continue either way. */
  start(): Promise<void> {
    if (this.loop) throw new SimError(SimErrorCode.BadOptions, `device ${this.id} already started`);
    let settle!: (err?: SimError) => void;
    const first = new Promise<void>((resolve, reject) => {
      let done = false;
      settle = (err) => {
        if (done) return;
        done = true;
        if (err) reject(err);
        else resolve();
      };
    });
    this.loop = this.run(settle);
    return first;
  }

  private async run(settle: (err?: SimError) => void): Promise<void> {
    let failures = 0;
    while (!this.closing) {
      const release = await this.gate.acquire();
      let outcome: SimError | MqttClient;
      try {
        outcome = this.closing ? new SimError(SimErrorCode.Closed, 'closed') : await this.attempt();
      } finally {
        release();
      }
      if (outcome instanceof SimError) {
        settle(outcome);
        failures += 1;
        this.stats.errors += 1;
        if (!this.closing) this.log.warn({ err: outcome, failures }, 'mqtt connect failed');
      } else {
        failures = 0;
        settle();
        await this.online(outcome);
        if (!this.closing) this.log.warn('mqtt connection lost; reconnecting');
      }
      if (this.closing) break;
      // Full jitter exponential backoff.
      const min = this.opts.reconnectMinMs ?? 1000;
      const cap = Math.min(this.opts.reconnectMaxMs ?? 30_000, min * 2 ** Math.min(failures, 10));
      await this.sleep(min / 2 + Math.random() * cap);
    }
    settle(new SimError(SimErrorCode.Closed, `device ${this.id} closed before connecting`));
  }

  private attempt(): Promise<SimError | MqttClient> {
    const presence = (online: boolean, reason: string): Buffer =>
      Buffer.from(Presence.encode({
        deviceId: this.id, kind: this.opts.kind, online, tsMs: this.clock(), firmwareVersion: this.fw, reason,
      }));
    const options: IClientOptions = {
      clientId: this.id, username: this.id, password: this.opts.secret, protocolVersion: 4, clean: true,
      reconnectPeriod: 0, connectTimeout: this.opts.connectTimeoutMs ?? 10_000, keepalive: this.opts.keepaliveS ?? 60,
      queueQoSZero: false,
      will: { topic: this.topic(Channel.Presence), payload: presence(false, 'will'), qos: 1, retain: true },
    };
    return new Promise((resolve) => {
      let client: MqttClient;
      try {
        client = mqtt.connect(this.opts.mqttUrl, options);
      } catch (cause) {
        resolve(new SimError(SimErrorCode.MqttConnect, `cannot connect to ${this.opts.mqttUrl}: ${(cause as Error).message}`, { cause }));
        return;
      }
      this.client = client;
      const fail = (cause: unknown): void => {
        cleanup();
        client.end(true);
        const rc = (cause as { code?: unknown }).code;
        const auth = typeof rc === 'number' && AUTH_CODES.has(rc);
        resolve(new SimError(auth ? SimErrorCode.MqttAuth : SimErrorCode.MqttConnect,
          auth ? `broker refused credentials of device ${this.id}` : `mqtt connect of ${this.id} failed: ${(cause as Error).message}`,
          { cause }));
      };
      const onError = (err: Error): void => fail(err);
      const onClose = (): void => fail(new Error('connection closed before CONNACK'));
      const onConnect = (): void => {
        cleanup();
        resolve(client);
      };
      const cleanup = (): void => {
        this.cancelAttempt = undefined;
        client.off('error', onError).off('close', onClose).off('connect', onConnect);
      };
      // close() during an attempt: MQTT.js may never emit 'close' for a connection that
      // has not been established, so the attempt is settled from here.
      this.cancelAttempt = () => {
        cleanup();
        client.end(true);
        resolve(new SimError(SimErrorCode.Closed, `device ${this.id} closed while connecting`));
      };
      client.on('error', onError).on('close', onClose).on('connect', onConnect);
    });
  }

  /** Runs while a session is up; resolves when it closes. */
  private async online(client: MqttClient): Promise<void> {
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.on('error', (err) => {
      this.stats.errors += 1;
      this.log.warn({ err }, 'mqtt error');
    });
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
    this.live = true;
    this.stats.connects += 1;
    // MQTT.js leaves a subscribe or publish pending forever when the client is ended under
    // it, so each set-up step also ends when the connection closes.
    const untilClosed = <T>(p: Promise<T>): Promise<T | void> => Promise.race([p, closed]);
    try {
      await untilClosed(client.subscribeAsync(this.topic(Channel.Command), { qos: 1 }));
      await untilClosed(client.publishAsync(this.topic(Channel.Presence), Buffer.from(Presence.encode({
        deviceId: this.id, kind: this.opts.kind, online: true, tsMs: this.clock(), firmwareVersion: this.fw, reason: 'birth',
      })), { qos: 1, retain: true }));
      this.log.debug('online');
      for (const { ev, tsMs } of this.offline.splice(0)) void this.publishEvent(ev, tsMs);
    } catch (err) {
      if (!this.closing) {
        this.stats.errors += 1;
        this.log.warn({ err }, 'session set-up failed');
        client.end(true);
      }
    }
    await closed;
    this.live = false;
  }

  private envelope(tsMs: number): Envelope {
    return { deviceId: this.id, kind: this.opts.kind, seq: this.nextSeq++, tsMs: Math.round(tsMs), firmwareVersion: this.fw };
  }

  private send(channel: Channel, payload: Uint8Array, qos: 0 | 1, retain = false): Promise<boolean> {
    const client = this.client;
    if (!client || !this.live) return Promise.resolve(false);
    return new Promise((resolve) => {
      client.publish(this.topic(channel), Buffer.from(payload), { qos, retain }, (err) => {
        if (err) {
          this.stats.errors += 1;
          this.log.debug({ err, channel }, 'publish failed');
        }
        resolve(!err);
      });
    });
  }

  /** Publishes one reading. Resolves false (never rejects) when offline or on failure; an
   * offline reading is not queued: a sampled value is worthless later, and seq is not spent. */
  async publishTelemetry(reading: TelemetryReading, tsMs: number = this.clock()): Promise<boolean> {
    if (!this.live) return false;
    const ok = await this.send(Channel.Telemetry, Telemetry.encode({ header: this.envelope(tsMs), ...reading }), this.qos);
    if (ok) this.stats.published += 1;
    return ok;
  }

  /** Publishes an event at QoS 1; while offline it is kept (bounded) and sent after reconnect. */
  async publishEvent(ev: SimEvent, tsMs: number = this.clock()): Promise<boolean> {
    if (!this.live) {
      if (this.offline.length >= (this.opts.offlineEventLimit ?? 100)) {
        this.offline.shift();
        this.stats.droppedEvents += 1;
      }
      this.offline.push({ ev, tsMs });
      return false;
    }
    const ok = await this.send(Channel.Event, Event.encode({ header: this.envelope(tsMs), ...ev }), 1);
    if (ok) this.stats.events += 1;
    return ok;
  }

  private async result(commandId: string, status: CommandStatus, message: string): Promise<void> {
    await this.send(Channel.CommandResult, CommandResult.encode({
      header: this.envelope(this.clock()), commandId, status, message, output: {},
    }), 1);
  }

  private onMessage(topic: string, payload: Buffer): void {
    if (topic !== this.topic(Channel.Command)) return;
    let cmd: Command;
    try {
      cmd = Command.decode(payload);
    } catch (err) {
      this.stats.errors += 1;
      this.log.warn({ err }, 'undecodable command dropped');
      return;
    }
    // Delivery is at-least-once; command_id makes execution at-most-once.
    if (!this.seenCommands.firstTime(cmd.commandId)) return;
    this.stats.commands += 1;
    this.log.info({ command: cmd.name, commandId: cmd.commandId }, 'command received');
    for (const r of planCommand(cmd, this.clock(), this.opts.rebootDelayMs ?? 200)) {
      if (r.delayMs === 0) {
        void this.result(cmd.commandId, r.status, r.message);
        continue;
      }
      const t = setTimeout(() => {
        this.timers.delete(t);
        void this.result(cmd.commandId, r.status, r.message);
      }, r.delayMs);
      this.timers.add(t);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        this.wake = undefined;
        resolve();
      }, ms);
      this.timers.add(t);
      this.wake = () => {
        clearTimeout(t);
        this.timers.delete(t);
        resolve();
      };
    });
  }

  /** Kills the socket without DISCONNECT (a crash or network cut): the broker fires the will.
   * The device then reconnects on its own. */
  dropConnection(): void {
    this.client?.stream.destroy();
  }

  /** Clean shutdown: retained offline presence (reason "shutdown"), DISCONNECT, no will. */
  async close(): Promise<void> {
    if (this.closing) return this.loop;
    this.closing = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.wake?.();
    this.cancelAttempt?.();
    const client = this.client;
    // Every step is bounded: a close that races a half-open connection (CONNACK not yet
    // in, or a broker that stopped answering) must still finish.
    if (client && this.live) {
      const said = await bounded(this.send(Channel.Presence, Presence.encode({
        deviceId: this.id, kind: this.opts.kind, online: false, tsMs: this.clock(), firmwareVersion: this.fw, reason: 'shutdown',
      }), 1, true), CLOSE_STEP_MS);
      if (said === undefined) this.log.debug('shutdown presence not acknowledged in time');
    }
    if (client) {
      const ended = await bounded(client.endAsync().then(() => true, () => true), CLOSE_STEP_MS);
      if (ended === undefined) {
        this.log.debug('graceful MQTT end timed out; forcing');
        client.end(true);
      }
    }
    if ((await bounded(this.loop?.then(() => true), CLOSE_STEP_MS)) === undefined) this.log.debug('connection loop did not stop in time');
  }
}
