import type { Logger } from 'pino';
import {
  Channel, CommandResult, Event, Presence, Telemetry, TwinReported, channelFilter, parseDeviceTopic, slugFromKind, type KindSlug,
} from '@yulan/protos';
import type { DeviceRepository } from '../repositories/device-repository.js';
import type { MqttTransport } from '../mqtt-link.js';
import { CommandService } from './commands.js';
import { ControlStore } from './store.js';
import { TwinService } from './twins.js';

export { default as controlRoutes } from './routes.js';
export { CommandService } from './commands.js';
export { TwinService, StaleVersionError } from './twins.js';

export interface ControlOptions {
  /** SQLite file (`<dataDir>/control.sqlite`) or ':memory:' */
  file: string;
  devices: DeviceRepository;
  mqtt: MqttTransport;
  logger: Logger;
  now?: () => number;
  sweepMs?: number;
  resendMs?: number;
}

/** Messages that could not be used, by channel; each is also logged at debug level. */
export interface ControlStats {
  malformed: { cmdResult: number; twinReported: number; telemetry: number; event: number };
  commands: CommandService['stats'];
  watching: number;
}

export interface ControlModule {
  twins: TwinService;
  commands: CommandService;
  stats(): ControlStats;
  /** Feed one MQTT message (any channel). Never throws. */
  handle(topic: string, payload: Uint8Array): void;
  /** Subscribes and re-arms durable timers; call once the HTTP side is up. */
  start(): void;
  close(): void;
}

/**
 * Device twins and commands (docs/control.md §1). Owns `control.sqlite`; talks MQTT only
 * through the cloud's link: wide subscriptions to cmd-result and twin-reported, per-device
 * telemetry/event subscriptions while a command awaits confirmation, presence via the
 * link's existing subscription.
 */
export function openControl(o: ControlOptions): ControlModule {
  const log = o.logger.child({ part: 'control' });
  const store = new ControlStore(o.file);
  const now = o.now ?? Date.now;
  const twins = new TwinService({ store, devices: o.devices, mqtt: o.mqtt, logger: log, now });
  const commands = new CommandService({
    store, devices: o.devices, mqtt: o.mqtt, logger: log, now,
    ...(o.sweepMs !== undefined ? { sweepMs: o.sweepMs } : {}), ...(o.resendMs !== undefined ? { resendMs: o.resendMs } : {}),
  });
  const malformed = { cmdResult: 0, twinReported: 0, telemetry: 0, event: 0 };
  const bad = (what: keyof typeof malformed, topic: string, err: unknown): void => {
    malformed[what]++;
    log.debug({ topic, err: { message: (err as Error).message } }, `malformed ${what} dropped`);
  };

  function handle(topic: string, payload: Uint8Array): void {
    const addr = parseDeviceTopic(topic);
    if (!addr) return;
    const kindSlug = slugFromKind(addr.kind) as KindSlug;
    switch (addr.channel) {
      case Channel.CommandResult:
        try { commands.onResult(addr, CommandResult.decode(payload)); } catch (err) { bad('cmdResult', topic, err); }
        return;
      case Channel.TwinReported:
        try { twins.onReported({ ...addr, kindSlug }, TwinReported.decode(payload)); } catch (err) { bad('twinReported', topic, err); }
        return;
      case Channel.Telemetry:
        try { commands.onObservation(addr.deviceId, { type: 'telemetry', msg: Telemetry.decode(payload) }); } catch (err) { bad('telemetry', topic, err); }
        return;
      case Channel.Event:
        try { commands.onObservation(addr.deviceId, { type: 'event', msg: Event.decode(payload) }); } catch (err) { bad('event', topic, err); }
        return;
      case Channel.Presence: {
        // Malformed presence is counted by the presence listener already.
        let msg: Presence;
        try { msg = Presence.decode(payload); } catch { return; }
        if (msg.deviceId !== '' && msg.deviceId !== addr.deviceId) return;
        try { commands.onObservation(addr.deviceId, { type: 'presence', msg }); } catch (err) { log.error({ err, topic }, 'presence handling failed'); }
        return;
      }
    }
  }

  return {
    twins,
    commands,
    handle,
    stats: () => ({ malformed: { ...malformed }, commands: { ...commands.stats }, watching: commands.watching().length }),
    start() {
      o.mqtt.subscribe(channelFilter(Channel.CommandResult), 1);
      o.mqtt.subscribe(channelFilter(Channel.TwinReported), 1);
      commands.start();
    },
    close() {
      commands.close();
      store.close();
    },
  };
}
