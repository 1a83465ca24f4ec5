import type { MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import {
  Channel, CommandResult, CommandStatus, Event, Presence, Telemetry, TwinReported, deviceTopic,
  type DeviceAddress, type Envelope,
} from '@yulan/protos';
import { createGate, type ConnectGate } from './gate.js';
import { SimError, SimErrorCode } from './errors.js';
import type { TelemetryReading } from './models/index.js';
import type { SimEvent } from './models/types.js';
import { CLOSE_STEP_MS, bounded } from './bounded.js';
import { CommandRunner } from './command-runner.js';
import { ControlInbox } from './control-inbox.js';
import { DeviceTimers } from './device-timers.js';
import { connectAttempt } from './mqtt-attempt.js';

export {
  rejectFirmwareUpdate, type FirmwareUpdateContext, type FirmwareUpdateHook, type SimDeviceOptions, type SimDeviceStats,
} from './sim-device-options.js';
import { rejectFirmwareUpdate, type FirmwareUpdateContext, type SimDeviceOptions, type SimDeviceStats } from './sim-device-options.js';

interface PendingResult { commandId: string; status: CommandStatus; message: string; output: Record<string, string> }

/**
 * One simulated device on MQTT: client id = username = device id, password = secret;
 * retained birth/will presence; protobuf telemetry and events with one seq counter; a
 * minimal command handler. Reconnects itself (with jittered backoff through the gate)
 * rather than relying on mqtt.js's fixed-period reconnect, so a fleet does not stampede.
 */
export class SimDevice {
  readonly stats: SimDeviceStats = {
    published: 0, events: 0, commands: 0, errors: 0, connects: 0, droppedEvents: 0, malformed: 0, twinUpdates: 0,
  };
  private readonly addr: DeviceAddress;
  private readonly log: Logger;
  private readonly qos: 0 | 1;
  private fw: string;
  private readonly clock: () => number;
  private readonly gate: ConnectGate;
  private nextSeq: number;
  private client: MqttClient | undefined;
  private live = false;
  private closing = false;
  private loop: Promise<void> | undefined;
  private cancelAttempt: (() => void) | undefined;
  private readonly runner: CommandRunner;
  private readonly inbox: ControlInbox;
  /** Wall-clock ms until which a simulated reboot keeps the device offline. */
  private rebootUntil = 0;
  private readonly offline: { ev: SimEvent; tsMs: number }[] = [];
  /** Command results are kept while offline too: a reboot's SUCCEEDED goes out after the birth. */
  private readonly offlineResults: PendingResult[] = [];
  private readonly timers = new DeviceTimers();

  constructor(private readonly opts: SimDeviceOptions, logger: Logger) {
    this.addr = { site: opts.site, kind: opts.kind, deviceId: opts.deviceId };
    deviceTopic(this.addr, Channel.Telemetry); // validates ids and kind up front (throws ProtoError)
    this.log = logger.child({ deviceId: opts.deviceId });
    this.qos = opts.qos ?? 0;
    this.fw = opts.firmwareVersion ?? '0.1.0-sim';
    this.clock = opts.clock ?? Date.now;
    this.gate = opts.gate ?? createGate(1);
    this.nextSeq = opts.initialSeq ?? 1;
    const firmware = opts.onFirmwareUpdate ?? rejectFirmwareUpdate;
    this.runner = new CommandRunner({
      clock: this.clock,
      schedule: (fn, delayMs) => this.timers.after(delayMs, fn),
      result: (id, status, message, output) => void this.result(id, status, message, output),
      reboot: (downMs) => this.reboot(downMs),
      firmwareUpdate: (cmd) => firmware(cmd, this.firmwareContext(cmd.commandId)),
      stateChanged: () => opts.onStateChange?.(),
    }, {
      ...(opts.model && { model: opts.model }),
      ...(opts.commandFailures && { failures: opts.commandFailures }),
      seed: opts.commandSeed ?? 0,
      timing: { ...opts.commandTiming, ...(opts.rebootDelayMs !== undefined && { rebootDownMs: opts.rebootDelayMs }) },
    });
    this.inbox = new ControlInbox({
      commandTopic: this.topic(Channel.Command), twinTopic: this.topic(Channel.TwinDesired), model: opts.model,
      runner: this.runner, stats: this.stats, log: this.log, report: (r) => void this.publishTwinReported(r),
    });
  }

  private firmwareContext(commandId: string): FirmwareUpdateContext {
    const self = this;
    return {
      result: (status, message, output) => void self.result(commandId, status, message, output),
      publishEvent: (ev) => self.publishEvent(ev),
      reboot: (downMs) => self.reboot(downMs),
      setFirmwareVersion: (v) => {
        self.fw = v;
      },
      get firmwareVersion() {
        return self.fw;
      },
    };
  }

  get firmwareVersion(): string {
    return this.fw;
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
        if (!this.closing && this.rebootUntil <= Date.now()) this.log.warn('mqtt connection lost; reconnecting');
      }
      if (this.closing) break;
      const down = this.rebootUntil - Date.now();
      if (down > 0) {
        // A simulated reboot: offline for its duration, then straight back (no backoff).
        await this.timers.sleep(down);
        continue;
      }
      // Full jitter exponential backoff.
      const min = this.opts.reconnectMinMs ?? 1000;
      const cap = Math.min(this.opts.reconnectMaxMs ?? 30_000, min * 2 ** Math.min(failures, 10));
      await this.timers.sleep(min / 2 + Math.random() * cap);
    }
    settle(new SimError(SimErrorCode.Closed, `device ${this.id} closed before connecting`));
  }

  private attempt(): Promise<SimError | MqttClient> {
    const will = Buffer.from(Presence.encode({
      deviceId: this.id, kind: this.opts.kind, online: false, tsMs: this.clock(), firmwareVersion: this.fw, reason: 'will',
    }));
    const a = connectAttempt({
      mqttUrl: this.opts.mqttUrl, deviceId: this.id, secret: this.opts.secret, will: { topic: this.topic(Channel.Presence), payload: will },
      ...(this.opts.connectTimeoutMs !== undefined && { connectTimeoutMs: this.opts.connectTimeoutMs }),
      ...(this.opts.keepaliveS !== undefined && { keepaliveS: this.opts.keepaliveS }),
      ...(this.opts.ca !== undefined && { ca: this.opts.ca }),
      ...(this.opts.clientCert !== undefined && { clientCert: this.opts.clientCert }),
    });
    if (a.client) this.client = a.client;
    this.cancelAttempt = a.cancel;
    return a.result.finally(() => { this.cancelAttempt = undefined; });
  }

  /** Runs while a session is up; resolves when it closes. */
  private async online(client: MqttClient): Promise<void> {
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.on('error', (err) => {
      this.stats.errors += 1;
      this.log.warn({ err }, 'mqtt error');
    });
    client.on('message', (topic, payload) => this.inbox.handle(topic, payload));
    this.live = true;
    this.stats.connects += 1;
    // MQTT.js leaves a subscribe or publish pending forever when the client is ended under
    // it, so each set-up step also ends when the connection closes.
    const untilClosed = <T>(p: Promise<T>): Promise<T | void> => Promise.race([p, closed]);
    try {
      // The broker allows a device exactly these two subscriptions (its own cmd and twin-desired).
      await untilClosed(client.subscribeAsync([this.topic(Channel.Command), this.topic(Channel.TwinDesired)], { qos: 1 }));
      await untilClosed(client.publishAsync(this.topic(Channel.Presence), Buffer.from(Presence.encode({
        deviceId: this.id, kind: this.opts.kind, online: true, tsMs: this.clock(), firmwareVersion: this.fw, reason: 'birth',
      })), { qos: 1, retain: true }));
      this.log.debug('online');
      this.inbox.reportCurrent();
      for (const r of this.offlineResults.splice(0)) void this.result(r.commandId, r.status, r.message, r.output);
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

  private async result(commandId: string, status: CommandStatus, message: string, output: Record<string, string> = {}): Promise<void> {
    if (!this.live) {
      if (this.offlineResults.length >= (this.opts.offlineEventLimit ?? 100)) this.offlineResults.shift();
      this.offlineResults.push({ commandId, status, message, output });
      return;
    }
    await this.send(Channel.CommandResult, CommandResult.encode({
      header: this.envelope(this.clock()), commandId, status, message, output,
    }), 1);
  }

  private async publishTwinReported(report: Omit<TwinReported, 'header'>): Promise<boolean> {
    // Twin reports carry the last seq used but do not spend one: the edge tracks gaps over
    // telemetry, events and command results only, and would count each report as a loss.
    const header: Envelope = { deviceId: this.id, kind: this.opts.kind, seq: Math.max(0, this.nextSeq - 1), tsMs: Math.round(this.clock()), firmwareVersion: this.fw };
    return this.send(Channel.TwinReported, TwinReported.encode({ header, ...report }), 1);
  }

  /** Simulated reboot: a retained offline presence (reason "reboot"), the session ends,
   * and the device comes back after `downMs` with a new birth. */
  reboot(downMs: number): void {
    const client = this.client;
    if (this.closing || !client || !this.live) return;
    this.rebootUntil = Date.now() + downMs;
    this.live = false; // from now on results and events wait for the new session
    void bounded(new Promise<void>((resolve) => {
      client.publish(this.topic(Channel.Presence), Buffer.from(Presence.encode({
        deviceId: this.id, kind: this.opts.kind, online: false, tsMs: this.clock(), firmwareVersion: this.fw, reason: 'reboot',
      })), { qos: 1, retain: true }, () => resolve());
    }), CLOSE_STEP_MS)
      // A clean DISCONNECT, so the broker drops the will: the retained presence says "reboot".
      .then(() => bounded(client.endAsync().then(() => true), CLOSE_STEP_MS))
      .then((ended) => {
        if (!ended) client.end(true);
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
    this.timers.cancelAll();
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
