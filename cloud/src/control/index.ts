import type { Logger } from 'pino';
import {
  Channel, CommandResult, Event, Presence, Telemetry, TwinReported, channelFilter, parseDeviceTopic, slugFromKind, type KindSlug,
} from '@yulan/protos';
import type { DeviceRepository } from '../repositories/device-repository.js';
import type { MqttTransport } from '../mqtt-link.js';
import { CommandService } from './commands.js';
import type { DbTarget } from '../db/target.js';
import { PgControlStore } from './pg-control-store.js';
import { SqliteControlStore, type ControlStore } from './store.js';
import { TwinService } from './twins.js';

export { default as controlRoutes } from './routes.js';
export { CommandService } from './commands.js';
export { TwinService, StaleVersionError } from './twins.js';

export interface ControlOptions {
  /** `<dataDir>/control.sqlite` (or ':memory:'), or the `control` schema in PostgreSQL */
  db: DbTarget;
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
  start(): Promise<void>;
  close(): Promise<void>;
}

/** The twin and command store on `target`. */
export function openControlStore(target: DbTarget): Promise<ControlStore> {
  return target.kind === 'sqlite' ? Promise.resolve(new SqliteControlStore(target.file)) : PgControlStore.open(target.db);
}

/**
 * Device twins and commands (docs/control.md §1). Owns `control.sqlite`; talks MQTT only
 * through the cloud's link: wide subscriptions to cmd-result and twin-reported, per-device
 * telemetry/event subscriptions while a command awaits confirmation, presence via the
 * link's existing subscription.
 */
export async function openControl(o: ControlOptions): Promise<ControlModule> {
  const log = o.logger.child({ part: 'control' });
  const store = await openControlStore(o.db);
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
        try { commands.onResult(addr, CommandResult.decode(payload)).catch((err: unknown) => bad('cmdResult', topic, err)); } catch (err) { bad('cmdResult', topic, err); }
        return;
      case Channel.TwinReported:
        try { twins.onReported({ ...addr, kindSlug }, TwinReported.decode(payload)).catch((err: unknown) => bad('twinReported', topic, err)); } catch (err) { bad('twinReported', topic, err); }
        return;
      case Channel.Telemetry:
        try { commands.onObservation(addr.deviceId, { type: 'telemetry', msg: Telemetry.decode(payload) }).catch((err: unknown) => log.error({ err, topic }, 'telemetry handling failed')); } catch (err) { bad('telemetry', topic, err); }
        return;
      case Channel.Event:
        try { commands.onObservation(addr.deviceId, { type: 'event', msg: Event.decode(payload) }).catch((err: unknown) => log.error({ err, topic }, 'event handling failed')); } catch (err) { bad('event', topic, err); }
        return;
      case Channel.Presence: {
        // Malformed presence is counted by the presence listener already.
        let msg: Presence;
        try { msg = Presence.decode(payload); } catch { return; }
        if (msg.deviceId !== '' && msg.deviceId !== addr.deviceId) return;
        commands.onObservation(addr.deviceId, { type: 'presence', msg }).catch((err: unknown) => log.error({ err, topic }, 'presence handling failed'));
        return;
      }
    }
  }

  return {
    twins,
    commands,
    handle,
    stats: () => ({ malformed: { ...malformed }, commands: { ...commands.stats }, watching: commands.watching().length }),
    async start() {
      o.mqtt.subscribe(channelFilter(Channel.CommandResult), 1);
      o.mqtt.subscribe(channelFilter(Channel.TwinReported), 1);
      await commands.start();
    },
    async close() {
      await commands.close();
      await store.close();
    },
  };
}
